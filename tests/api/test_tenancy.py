"""An outsider's token (and session) gets 404 on every object URL of the API.

The URLs come from enumerating inbox/api_urls.py, so a new endpoint cannot be forgotten: a route
whose object this test does not know fails it until the test is told which object to use.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver

from inbox import services
from tests.sla.helpers import agent_replies, buyer_writes, waw

METHODS = ("get", "post", "put", "patch", "delete")


def _api_routes() -> list[tuple[str, URLPattern]]:
    api = next(r for r in get_resolver().url_patterns if getattr(r, "namespace", None) == "api")
    prefix = str(api.pattern)
    return [(prefix + str(p.pattern), p) for p in api.url_patterns if isinstance(p, URLPattern)]


@pytest.fixture
def objects(account, bob):
    start = buyer_writes(account, waw(2026, 3, 4, 10), thread="t-1")
    conversation = start.conversation
    agent_replies(conversation, bob, waw(2026, 3, 4, 11))
    from sla.models import ResponseRecord

    record = ResponseRecord.objects.get(conversation=conversation)
    failed, _ = services.message_reply_create(conversation, text="Druga odpowiedź", acting_user=bob)
    services.message_mark_failed(failed.pk, reason="x")
    return {
        "api/v1/conversations/": {"pk": conversation.pk, "message_pk": failed.pk},
        "api/v1/contacts/": {"pk": conversation.contact_id},
        "api/v1/sla/response-records/": {"pk": record.pk},
    }


def _object_urls(objects) -> list[str]:
    urls = []
    for route, pattern in _api_routes():
        if not pattern.pattern.converters:
            continue
        prefix = next((p for p in objects if route.startswith(p)), None)
        assert prefix is not None, f"{route}: tell this test which object the new endpoint serves"
        path = route
        for name in pattern.pattern.converters:
            assert name in objects[prefix], f"{route}: unknown parameter {name}"
            path = path.replace(f"<int:{name}>", str(objects[prefix][name]))
        urls.append("/" + path)
    return urls


def test_an_outsiders_token_gets_404_on_every_object_url(api, outsider_api, objects):
    urls = _object_urls(objects)
    assert len(urls) >= 11, urls
    for url in urls:
        allowed = [
            m
            for m in METHODS
            if api.options(url).status_code == 200 and m.upper() in api.options(url)["Allow"]
        ]
        assert allowed, url
        for method in allowed:
            # The organization's own token reaches the object (so the 404 below is tenancy)…
            own = getattr(api, method)(url, {}, content_type="application/json")
            assert own.status_code != 404, (method, url, own.content)
            # …and the outsider's does not.
            response = getattr(outsider_api, method)(url, {}, content_type="application/json")
            assert response.status_code == 404, (method, url, response.status_code)
            assert response.json()["code"] == "not_found"


def test_an_outsiders_session_gets_404_too(charlie, objects):
    client = Client()
    client.force_login(charlie)
    for url in _object_urls(objects):
        for method in ("get", "post"):
            response = getattr(client, method)(url, {}, content_type="application/json")
            assert response.status_code in (404, 405), (method, url, response.status_code)


def test_an_outsiders_lists_hold_nothing_of_the_organization(outsider_api, objects):
    for url in ("/api/v1/conversations/", "/api/v1/contacts/", "/api/v1/sla/response-records/"):
        assert outsider_api.get(url).json()["results"] == [], url
    assert [m["username"] for m in outsider_api.get("/api/v1/members/").json()] == ["charlie"]
    metrics = outsider_api.get("/api/v1/sla/metrics/").json()
    assert metrics["rows"][0]["replied"] == 0 and metrics["rows"][0]["waiting_now"] == 0
