"""The inbox's "score at risk" sort: the points answering a conversation now saves at the daily cut-off,
computed by the database (a CASE over the open clocks), equal to the quality forecast's per-item saving."""

from __future__ import annotations

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inbox import selectors
from sla import quality
from sla.quality_selectors import quality_board, quality_risk_terms

from .helpers import agent_replies, buyer_writes, waw

NOW = waw(2026, 11, 17, 20)  # Tuesday 20:00; the cut-off is Wednesday 00:00


@pytest.fixture
def queue(account, bob):
    """19 messages answered in 1 h on Monday 16 Nov (on-time 100 %, average 1 h: full points), then:
    A waits since Mon 21:00 (due Tue 21:00), B since Mon 22:00 (due Tue 22:00), D a discussion since
    Mon 20:30 (due Tue 20:30) — all three breach before the cut-off —, C since Tue 18:00 (due Wed 18:00,
    after the cut-off)."""
    for i in range(19):
        m = buyer_writes(account, waw(2026, 11, 16, 8, i), thread=f"ok{i}")
        agent_replies(m.conversation, bob, waw(2026, 11, 16, 9, i))
    return {
        "A": buyer_writes(account, waw(2026, 11, 16, 21), thread="A").conversation,
        "B": buyer_writes(account, waw(2026, 11, 16, 22), thread="B").conversation,
        "D": buyer_writes(account, waw(2026, 11, 16, 20, 30), thread="D", kind="discussion").conversation,
        "C": buyer_writes(account, waw(2026, 11, 17, 18), thread="C").conversation,
    }


def _risk_list(org, user, **kwargs):
    return list(
        selectors.conversation_list(organization=org, user=user, sort="risk", now=NOW, limit=None, **kwargs)
    )


@pytest.mark.django_db
def test_points_at_risk_by_hand_and_equal_to_the_forecast(org, bob, queue):
    # At the cut-off messages are 19 on time of 21 due (90.5 % < 95 %: −30). Answering A or B makes it
    # 20/21 (95.2 %: +30): 60 points. The average then takes in the wait so far (wall time):
    #   A: (19 × 1 h + 23 h) / 20 = 2.1 h → 20 × (24 − 2.1) / 23 = 19.04 → 19.0, was 20: 59.0
    #   B: (19 × 1 h + 22 h) / 20 = 2.05 h → 20 × (24 − 2.05) / 23 = 19.09 → 19.1: 59.1
    # The discussion D: 0 of 1 on time (−20) → 1 of 1 (+20): 40; its average 23.5 h → 30 × 0.5 / 23
    # = 0.65 → 0.7 (nothing replied before: 0): 40.7. C does not breach before the cut-off: 0.
    rows = _risk_list(org, bob)
    assert [c.pk for c in rows] == [queue[k].pk for k in ("B", "A", "D", "C")]
    assert [c.risk_points for c in rows] == [59.1, 59.0, 40.7, 0.0]
    # The same as the quality board's forecast (its per-conversation savings).
    with time_machine.travel(NOW, tick=False):
        board = quality_board(organization=org, now=NOW)
    savings = {s["conversation"].pk: s["points"] for s in board["accounts"][0].savings}
    assert savings == {c.pk: c.risk_points for c in rows if c.risk_points}
    # And the terms evaluated in Python.
    terms = quality_risk_terms(organization=org, now=NOW)
    for c in rows:
        [clock] = [k for k in c.sla_open_clocks if k.kind == "marketplace"]
        assert terms.points(account_id=c.account_id, conversation_kind=c.kind, clock=clock) == c.risk_points


@pytest.mark.django_db
def test_answer_gain_matches_the_forecast_for_many_waits():
    inputs = quality.AreaInputs(
        messages_due=40, messages_on_time=38, messages_replied=38, messages_reply_seconds=38 * 5 * 3600
    )
    items = [
        quality.OpenItem(key=i, kind="messages", due_in_seconds=60, waited_seconds=i * 977.0)
        for i in range(90)
    ]
    fc = quality.forecast(inputs, items, seconds_to_cutoff=3600)
    at_cutoff = inputs.with_breached("messages", len(items))
    gain = quality.answer_gain(at_cutoff, "messages")
    for key, points in fc.savings:
        assert gain.points(key * 977.0) == points


@pytest.mark.django_db
def test_constant_queries_and_other_filters(org, bob, alice, queue, account, django_assert_max_num_queries):
    with CaptureQueriesContext(connection) as few:
        _risk_list(org, bob)
    for i in range(5):
        buyer_writes(account, waw(2026, 11, 17, 9, i), thread=f"more{i}")
    with CaptureQueriesContext(connection) as more:
        rows = _risk_list(org, bob)
    assert len(rows) == 9
    assert len(more) == len(few) <= 9
    # "Breaching within 1 h" (until 21:00 inclusive) keeps D and A; the risk sort applies there too.
    assert [c.pk for c in _risk_list(org, bob, filter_name="all", due_within=1)] == [
        queue["A"].pk,
        queue["D"].pk,
    ]


@pytest.mark.django_db
def test_inbox_sort_control_and_points_in_the_row(client, alice, queue):
    client.force_login(alice)
    with time_machine.travel(NOW, tick=False):
        body = client.get(reverse("inbox:conversation-list"), {"sort": "risk"}).content.decode()
        default = client.get(reverse("inbox:conversation-list")).content.decode()
        closed = client.get(
            reverse("inbox:conversation-list"), {"filter": "closed", "sort": "risk"}
        ).content.decode()
    assert 'data-sort="risk"' in body
    assert body.index(f'data-conversation="{queue["B"].pk}"') < body.index(
        f'data-conversation="{queue["A"].pk}"'
    )
    assert 'data-risk="59.1"' in body and 'data-risk="40.7"' in body
    assert "data-risk" not in default
    assert 'data-sort="risk"' not in closed  # no clock to sort by: no control


@pytest.mark.django_db
def test_api_sort_risk_pages_and_validation(client, bob, queue):
    client.force_login(bob)
    url = reverse("api:conversation-list")
    ids, points, cursor = [], [], None
    with time_machine.travel(NOW, tick=False):
        while True:
            params = {"filter": "awaiting", "sort": "risk", "limit": 1}
            if cursor:
                params["cursor"] = cursor
            body = client.get(url, params).json()
            ids += [r["id"] for r in body["results"]]
            points += [r["risk_points"] for r in body["results"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        plain = client.get(url, {"filter": "awaiting"}).json()
        bad = client.get(url, {"sort": "risk"})
        bad_cursor = client.get(url, {"filter": "awaiting", "sort": "risk", "cursor": "eyJ4Ijox"})
    assert ids == [queue[k].pk for k in ("B", "A", "D", "C")]
    assert points == [59.1, 59.0, 40.7, 0.0]
    assert plain["results"][0]["risk_points"] is None
    assert bad.status_code == 400 and bad_cursor.status_code == 400
