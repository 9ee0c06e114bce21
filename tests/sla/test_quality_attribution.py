"""Attribution of the customer-service area's lost points to agents, accounts, hours and kinds, by hand."""

from __future__ import annotations

import csv
import io

import pytest
import time_machine
from django.urls import reverse

from sla.quality_selectors import quality_attribution

from .helpers import agent_replies, buyer_writes, waw

NOW = waw(2026, 3, 4, 12)  # Wednesday


@pytest.fixture
def month(account, alice, bob):
    """Mon 2 Mar: 20 messages (08:00–08:19) answered by bob in 1 h — on time, no slower than the 1 h of
    full points; one (09:30) answered by alice on Tue 12:30 — late, 27 h of working-day time; one
    (15:00, unassigned) never answered — overdue since Tue 15:00."""
    for i in range(20):
        m = buyer_writes(account, waw(2026, 3, 2, 8, i), thread=f"ok{i}")
        agent_replies(m.conversation, bob, waw(2026, 3, 2, 9, i))
    late = buyer_writes(account, waw(2026, 3, 2, 9, 30), thread="late").conversation
    agent_replies(late, alice, waw(2026, 3, 3, 12, 30))
    overdue = buyer_writes(account, waw(2026, 3, 2, 15), thread="overdue").conversation
    return {"late": late, "overdue": overdue}


def _rows(data, dim):
    return {
        r.key: (r.late_replies, r.overdue_unanswered, r.points_on_time, r.points_avg_time, r.points)
        for r in data["dimensions"][dim]
    }


@pytest.mark.django_db
def test_lost_points_by_hand(org, account, alice, bob, month):
    # Messages: 20 on time of 22 due (21 replies + 1 overdue) = 90.9 % < 95 %: −30 instead of +30 → 60
    # lost, 30 for each of the two late items. Average: (20 × 1 h + 27 h) / 21 = 2.238 h → 18.9 of 20:
    # 1.1 lost, all alice's (the only reply slower than 1 h, by 26 h). Discussions: none, nothing lost.
    data = quality_attribution(organization=org, now=NOW)
    assert data["lost"] == 61.1
    assert _rows(data, "agent") == {alice.pk: (1, 0, 30.0, 1.1, 31.1), None: (0, 1, 30.0, 0.0, 30.0)}
    assert _rows(data, "account") == {account.pk: (1, 1, 60.0, 1.1, 61.1)}
    assert _rows(data, "hour") == {9: (1, 0, 30.0, 1.1, 31.1), 15: (0, 1, 30.0, 0.0, 30.0)}
    assert _rows(data, "kind") == {"message": (1, 1, 60.0, 1.1, 61.1)}
    [alice_row] = [r for r in data["dimensions"]["agent"] if r.key == alice.pk]
    assert alice_row.slow_seconds == 26 * 3600 and alice_row.label == alice.get_full_name()
    assert [r.key for r in data["dimensions"]["agent"]] == [alice.pk, None]  # most points first


@pytest.mark.django_db
def test_nothing_lost_when_on_time(org, account, bob):
    m = buyer_writes(account, waw(2026, 3, 2, 8), thread="ok")
    agent_replies(m.conversation, bob, waw(2026, 3, 2, 8, 30))
    data = quality_attribution(organization=org, now=NOW)
    assert data["lost"] == 0 and all(not rows for rows in data["dimensions"].values())


@pytest.mark.django_db
def test_board_csv_and_the_conversations_behind_a_row(client, bob, alice, charlie, month):
    client.force_login(bob)
    with time_machine.travel(NOW, tick=False):
        body = client.get(reverse("inbox:sla-quality")).content.decode()
        csv_body = client.get(reverse("inbox:sla-quality"), {"export": "lost"}).content.decode()
        behind_alice = client.get(
            reverse("inbox:sla-quality-lost", args=["agent", alice.pk])
        ).content.decode()
        behind_none = client.get(reverse("inbox:sla-quality-lost", args=["agent", "none"])).content.decode()
        behind_8 = client.get(reverse("inbox:sla-quality-lost", args=["hour", 8])).content.decode()
        bad = client.get(reverse("inbox:sla-quality-lost", args=["hour", "x"]))
        unknown = client.get(reverse("inbox:sla-quality-lost", args=["weekday", 1]))
    assert 'data-table="lost-agent"' in body and 'data-points="31.1"' in body
    assert reverse("inbox:sla-quality-lost", args=["agent", alice.pk]) in body
    rows = list(csv.DictReader(io.StringIO(csv_body)))
    for dim in ("agent", "account", "hour", "kind"):
        assert round(sum(float(r["points_lost"]) for r in rows if r["dimension"] == dim), 1) == 61.1
    assert f'data-conversation="{month["late"].pk}"' in behind_alice
    assert f'data-conversation="{month["overdue"].pk}"' not in behind_alice
    assert f'data-conversation="{month["overdue"].pk}"' in behind_none
    assert "data-conversation=" not in behind_8  # on time, not slow
    assert bad.status_code == 404 and unknown.status_code == 404
    # Agents and outsiders see nothing.
    client.force_login(alice)
    assert client.get(reverse("inbox:sla-quality-lost", args=["agent", alice.pk])).status_code == 404
    client.force_login(charlie)
    with time_machine.travel(NOW, tick=False):
        other = client.get(reverse("inbox:sla-quality-lost", args=["agent", alice.pk])).content.decode()
    assert "data-conversation=" not in other
