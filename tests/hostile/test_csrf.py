"""Issue #9, hostile input: CSRF on every state-changing URL, found by enumerating the URLconf.

A signed-in session without a CSRF token gets 403 on POST/PUT/PATCH/DELETE of every route — UI and
API alike (DRF's SessionAuthentication enforces it). A new route is covered without editing this
test; only deliberate exemptions are listed. API tokens (Authorization header, no cookie) need no
CSRF token: a browser cannot be tricked into sending that header.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import ConversationFactory

METHODS = ("post", "put", "patch", "delete")
# Routes that never change state for any method (a JSON 404), or must stay reachable without a
# session and do their own authentication. Each needs a reason.
EXEMPT = {
    "inbox.api.api_not_found",  # catch-all 404 under /api/v1/
}


def _routes(patterns=None, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            out += _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            out.append((prefix + str(entry.pattern), entry.callback))
    return out


def _path(route: str, pk: int) -> str:
    path = route.lstrip("^").rstrip("$")
    path = re.sub(r"<(?:int:)?\w+>", str(pk), path)
    path = re.sub(r"<(?:str|slug|uuid|path):\w+>", "x", path)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "x", path)
    path = path.replace("\\", "").replace("^", "")
    return "/" + path


def _name(callback) -> str:
    view = getattr(callback, "cls", None) or getattr(callback, "view_class", None) or callback
    return f"{view.__module__}.{view.__qualname__}"


def test_every_state_changing_url_refuses_a_session_without_csrf_token(account, bob):
    conversation = ConversationFactory(account=account)
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    checked, leaks = 0, []
    for route, callback in _routes():
        if _name(callback) in EXEMPT or route.startswith(("admin/", "static/", "media/")):
            continue
        path = _path(route, conversation.pk)
        for method in METHODS:
            response = getattr(client, method)(path)
            if response.status_code == 405:
                continue  # the method does not exist on this route: nothing to forge
            checked += 1
            if response.status_code != 403:
                leaks.append(f"{method.upper()} {path} ({_name(callback)}) -> {response.status_code}")
    assert not leaks, "state-changing without a CSRF token:\n" + "\n".join(leaks)
    assert checked >= 30, checked


def test_login_form_needs_a_csrf_token(db):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/login/", {"username": "x", "password": "y"}).status_code == 403


@pytest.mark.parametrize("method", ["post", "patch"])
def test_api_session_needs_csrf_token_api_token_does_not(account, bob, api, method):
    conversation = ConversationFactory(account=account)
    url = f"/api/v1/conversations/{conversation.pk}/"
    session = Client(enforce_csrf_checks=True)
    session.force_login(bob)
    assert getattr(session, method)(url, {}, content_type="application/json").status_code == 403
    # The token client sends no cookie, so CSRF does not apply: whatever the answer, not a CSRF 403.
    response = getattr(api, method)(url, {}, content_type="application/json")
    assert response.status_code != 403 or "CSRF" not in response.content.decode()
