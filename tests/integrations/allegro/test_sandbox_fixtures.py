"""The `allegro_sandbox` fixture plugin (tests/fixtures_sandbox.py): settings, reset, helpers."""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings as django_settings

from integrations.allegro.sandbox.client import SandboxControlError

PUBLIC = "application/vnd.allegro.public.v1+json"


def test_fixture_points_settings_at_the_sandbox(allegro_sandbox, allegro_sandbox_server):
    assert django_settings.ALLEGRO_API_URL == allegro_sandbox.url == allegro_sandbox_server.url
    assert allegro_sandbox.url == django_settings.ALLEGRO_AUTH_URL
    assert (django_settings.ALLEGRO_CLIENT_ID, django_settings.ALLEGRO_CLIENT_SECRET) == (
        "sandbox-client",
        "sandbox-secret",
    )
    assert allegro_sandbox.health()["status"] == "ok"
    assert allegro_sandbox.state is allegro_sandbox_server.state


@pytest.mark.parametrize("round", [1, 2])
def test_each_test_starts_from_an_empty_sandbox(allegro_sandbox, round):
    assert allegro_sandbox.summary()["threads"] == 0
    assert allegro_sandbox.request_counts()["total"] == 0
    allegro_sandbox.configure(requestsPerMinute=3)  # undone by the next reset
    allegro_sandbox.buyer_writes("kasia_zakupy88", f"Wiadomość {round}")
    assert allegro_sandbox.summary()["threads"] == 1


def test_helpers_cover_a_sync_and_reply_round_trip(allegro_sandbox):
    sb = allegro_sandbox
    assert sb.config()["requestsPerMinute"] == 9000
    written = sb.buyer_writes(
        "tomek.wrobel", "Gdzie paczka?", order_id="9a1f2b3c-0000-4000-8000-000000000001"
    )
    token = sb.mint_token()["access_token"]
    threads = sb.api("GET", "/messaging/threads", token).json()["threads"]
    assert [t["id"] for t in threads] == [written["threadId"]]
    reply = sb.api(
        "POST", f"/messaging/threads/{written['threadId']}/messages", token, json={"text": "Jutro."}
    )
    assert reply.status_code == 201
    assert [s["text"] for s in sb.sent()] == ["Jutro."]
    assert sb.count("GET", "/messaging/threads") == 1
    assert sb.count("POST", "/messaging/threads/{threadId}/messages") == 1

    sb.inject_fault(503, path="/me")
    assert sb.api("GET", "/me", token).status_code == 503
    issue = sb.issue_open("tomek.wrobel", "CLAIM", order_id="9a1f2b3c-0000-4000-8000-000000000001")
    assert sb.api("GET", f"/sale/issues/{issue['id']}", token, beta=True).json()["type"] == "CLAIM"
    assert sb.issue_chat(issue["id"], "Halo?")["author"]["role"] == "BUYER"
    assert sb.issue_state(issue["id"], chatActive=False)["currentState"]["chatActive"] is False
    assert len(sb.bulk(10, 2)["threadIds"]) == 10

    device = httpx.post(f"{sb.url}/auth/oauth/device", auth=(sb.client_id, sb.client_secret)).json()
    assert sb.approve(device["user_code"], seller="SklepDrugi")["status"] == "approved"
    with pytest.raises(SandboxControlError):
        sb.approve("nieznany")
