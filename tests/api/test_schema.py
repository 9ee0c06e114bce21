"""The OpenAPI schema, the docs pages (no CDN), and schemathesis against the app over WSGI.

schemathesis generates requests for every operation from /api/schema/ (valid and invalid input,
random and real object ids) and checks each response: no 5xx, a documented status code, a body
that matches the documented schema, the documented content type and headers.
"""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from inbox import services
from inbox.authentication import api_token_create
from tests.sla.helpers import agent_replies, buyer_writes, waw


def test_the_schema_is_valid_openapi_3_and_documents_auth_and_errors(db):
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "rdk_…",
        "description": "An organization's API token (Settings → API tokens), scoped read or write.",
    }
    reply = schema["paths"]["/api/v1/conversations/{id}/reply/"]["post"]
    assert {"200", "201", "400", "401", "403", "404", "409", "415", "422", "429"} <= set(reply["responses"])
    assert reply["responses"]["429"]["headers"]["Retry-After"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in reply["parameters"])
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"status", "code", "detail"}


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_load_their_assets_from_this_server(db, url):
    response = Client().get(url)
    assert response.status_code == 200
    body = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', body)
    assert sources, body
    for source in sources:
        assert source.startswith("/"), source  # no CDN
        if source.startswith("/static/"):  # vendored by drf-spectacular-sidecar, found by collectstatic
            assert finders.find(source.removeprefix("/static/")), source


# --- schemathesis ------------------------------------------------------------------------------

# Loaded through the app itself at collection time (the schema view needs no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
SEMANTIC_INPUT = {("POST", "/api/v1/conversations/{id}/assign/"), ("POST", "/api/v1/sla/policies/")}
# Real objects of the organization, filled by the fixture of each generated test.
REAL: dict = {}


@schema.hook("map_path_parameters")
def _real_ids_half_of_the_time(context, path_parameters):
    """Even generated ids become real objects of the organization; odd ones stay random (404)."""
    ids = REAL.get("ids", {})
    if not path_parameters:
        return path_parameters
    prefix = next((p for p in ids if context.operation.path.startswith(p)), None)
    if prefix and isinstance(path_parameters.get("id"), int) and path_parameters["id"] % 2 == 0:
        path_parameters["id"] = ids[prefix]
        if isinstance(path_parameters.get("message_pk"), int):
            path_parameters["message_pk"] = REAL["message_pk"]
    return path_parameters


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """What Django's test client does: the WSGI handler must not close the test's DB connection
    (it lives inside the test's transaction) at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_token(db, wsgi_keeps_the_test_connection, settings, org, bob, alice, account) -> str:
    settings.API_THROTTLE_RATE = ""  # thousands of requests from one token
    _token, raw = api_token_create(organization=org, name="schemathesis", scope="write", acting_user=bob)
    start = buyer_writes(account, waw(2026, 3, 4, 10), thread="st-1")
    agent_replies(start.conversation, bob, waw(2026, 3, 4, 11))
    waiting = buyer_writes(account, waw(2026, 3, 5, 10), thread="st-2").conversation
    failed, _ = services.message_reply_create(waiting, text="Odpowiedź", acting_user=bob)
    services.message_mark_failed(failed.pk, reason="x")
    from sla.models import ResponseRecord

    REAL["ids"] = {
        "/api/v1/contacts/": waiting.contact_id,
        "/api/v1/sla/response-records/": ResponseRecord.objects.get(conversation=start.conversation).pk,
        "/api/v1/conversations/": waiting.pk,
    }
    REAL["message_pk"] = failed.pk
    return raw


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", 30)),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_schemathesis_finds_no_server_errors_or_schema_violations(case, api_token):
    excluded = []
    query = case.query or {}
    if (
        (case.method, case.path) in SEMANTIC_INPUT
        or "cursor" in query
        or "Idempotency-Key" in (case.headers or {})
        or (query.get("sort") == "risk" and query.get("filter") != "awaiting" and "due_within" not in query)
        or str(query.get("q") or "").strip()
    ):
        # Input that is valid by the schema but not by meaning (a non-member, a malformed opening
        # hours grammar, a cursor not issued by us, an Idempotency-Key reused for another text, the
        # score-at-risk sort of a list that is not waiting, a search without a single word) is
        # refused with 400 or 422, as it should be.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers={"Authorization": f"Bearer {api_token}"}, excluded_checks=excluded)
