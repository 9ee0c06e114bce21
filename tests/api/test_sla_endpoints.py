"""SLA over the API: policies, response records, metrics (sla/ is read through its own selectors)."""

from __future__ import annotations

import time_machine
from django.test import Client

from tests.sla.helpers import agent_replies, buyer_writes, waw

POLICY = {
    "conversation_kind": "email",
    "marketplace_limit_minutes": 120,
    "marketplace_calendar": "calendar_hours",
    "team_target_minutes": None,
    "team_calendar": "business_hours",
    "business_hours": "mon-fri 08:00-18:00",
    "warning_minutes": [60],
}


def test_policies_are_listed_per_kind_with_the_defaults(api):
    rows = api.get("/api/v1/sla/policies/").json()
    assert [r["conversation_kind"] for r in rows] == ["message", "discussion", "claim", "email"]
    assert all(r["is_default"] for r in rows)
    assert rows[0]["marketplace_limit_minutes"] == 24 * 60


def test_a_leads_token_saves_a_policy(api):
    response = api.post("/api/v1/sla/policies/", POLICY, content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["is_default"] is False and body["marketplace_limit_minutes"] == 120
    assert body["team_target_minutes"] is None and body["warning_minutes"] == [60]
    rows = {r["conversation_kind"]: r for r in api.get("/api/v1/sla/policies/").json()}
    assert rows["email"]["is_default"] is False


def test_an_agent_cannot_change_policies_and_bad_input_is_400(api, alice):
    client = Client()
    client.force_login(alice)
    response = client.post("/api/v1/sla/policies/", POLICY, content_type="application/json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    bad = api.post(
        "/api/v1/sla/policies/", {**POLICY, "business_hours": "someday"}, content_type="application/json"
    )
    assert bad.status_code == 400 and bad.json()["fields"]["non_field_errors"]


def test_response_records_and_metrics(api, account, bob):
    early = buyer_writes(account, waw(2026, 3, 4, 9), thread="a")
    late = buyer_writes(account, waw(2026, 3, 4, 10), thread="b")
    agent_replies(early.conversation, bob, waw(2026, 3, 4, 9, 30))
    agent_replies(late.conversation, bob, waw(2026, 3, 6, 12))  # after the 24 h working-day limit
    with time_machine.travel(waw(2026, 3, 6, 13), tick=False):
        records = api.get("/api/v1/sla/response-records/?limit=1").json()
        assert len(records["results"]) == 1 and records["next_cursor"]
        second = api.get(f"/api/v1/sla/response-records/?limit=1&cursor={records['next_cursor']}").json()
        both = records["results"] + second["results"]
        assert [r["conversation_id"] for r in both] == [late.conversation_id, early.conversation_id]
        assert [r["marketplace_met"] for r in both] == [False, True]
        one = api.get(f"/api/v1/sla/response-records/{both[1]['id']}/").json()
        assert one["wall_seconds"] == 30 * 60 and one["agent_id"] == bob.pk
        only = api.get(f"/api/v1/sla/response-records/?conversation={early.conversation_id}").json()[
            "results"
        ]
        assert [r["id"] for r in only] == [both[1]["id"]]
        since = api.get("/api/v1/sla/response-records/?since=2026-03-05T00:00:00%2B01:00").json()["results"]
        assert [r["conversation_id"] for r in since] == [late.conversation_id]

        metrics = api.get("/api/v1/sla/metrics/?days=30").json()
        total = metrics["rows"][0]
        assert metrics["group_by"] is None and total["key"] is None
        assert total["replied"] == 2 and total["on_time"] == 1 and total["on_time_rate"] == 0.5
        by_account = api.get("/api/v1/sla/metrics/?group_by=account").json()["rows"]
        assert [(r["key"], r["label"]) for r in by_account] == [(str(account.pk), account.name)]
        assert api.get("/api/v1/sla/metrics/?group_by=planet").status_code == 400
