"""rules.md §3 figures against a hand-computed fixture (default policies, Europe/Warsaw).

c1 message, account A: buyer Mon 2 Mar 10:00, alice replies 11:00
   wall 1 h, policy 1 h, on time; team 1 h (met)
c2 message, account A: buyer Mon 2 Mar 12:00, bob replies Tue 3 Mar 14:00
   wall 26 h, policy 26 h, due Tue 12:00: late; team Mon 12–18 + Tue 8–14 = 12 h (breached)
c3 discussion, account B: buyer Fri 6 Mar 15:00, alice replies Mon 9 Mar 09:00
   wall 66 h, policy Fri 9 h + Mon 9 h = 18 h, due Mon 15:00: on time; team Fri 15–18 + Mon 8–9 = 4 h
c4 e-mail, account B, assigned to alice: buyer Mon 9 Mar 08:00, no reply (due Tue 10 08:00: overdue)
c5 claim, account A: buyer Wed 11 Mar 11:00, no reply (not yet due)
c6 message, account A: buyer Tue 10 Mar 10:00, bob: "no reply needed" at 10:30
now: Wed 11 Mar 12:00

on time 2 of (3 replies + 1 unanswered overdue) = 50 %; breaches 2 (c2, c4)
average policy time (1 + 26 + 18) h / 3 = 15 h; wall (1 + 26 + 66) h / 3 = 31 h
policy p50 18 h, p90 18 + 0.8 × 8 = 24.4 h; wall p50 26 h, p90 26 + 0.8 × 40 = 58 h
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection

from inbox import services as inbox_services
from sla import services
from sla.models import ResponseRecord
from sla.selectors import _percentile, sla_metrics, sla_metrics_board
from tests.factories import ChannelAccountFactory

from .helpers import agent_replies, buyer_writes, waw

H = 3600
NOW = waw(2026, 3, 11, 12)


@pytest.fixture
def fixture(org, alice, bob):
    a = ChannelAccountFactory(organization=org, name="Konto A")
    b = ChannelAccountFactory(organization=org, name="Konto B")
    c1 = buyer_writes(a, waw(2026, 3, 2, 10), thread="c1").conversation
    agent_replies(c1, alice, waw(2026, 3, 2, 11))
    c2 = buyer_writes(a, waw(2026, 3, 2, 12), thread="c2").conversation
    agent_replies(c2, bob, waw(2026, 3, 3, 14))
    c3 = buyer_writes(b, waw(2026, 3, 6, 15), thread="c3", kind="discussion").conversation
    agent_replies(c3, alice, waw(2026, 3, 9, 9))
    c4 = buyer_writes(b, waw(2026, 3, 9, 8), thread="c4", kind="email").conversation
    inbox_services.conversation_assign(c4, assignee=alice, acting_user=bob)
    buyer_writes(a, waw(2026, 3, 11, 11), thread="c5", kind="claim")
    c6 = buyer_writes(a, waw(2026, 3, 10, 10), thread="c6").conversation
    with time_machine.travel(waw(2026, 3, 10, 10, 30), tick=False):
        services.sla_no_reply_needed(c6, reason="Podziękowanie", acting_user=bob)
    return {"a": a, "b": b}


def test_the_organization_figures(fixture, django_assert_max_num_queries):
    # Rollup sums, unanswered overdue, waiting now, percentiles (+ savepoint, SET LOCAL work_mem, release).
    with django_assert_max_num_queries(7):
        (total,) = sla_metrics(organization=fixture["a"].organization, now=NOW)
    assert (total.replied, total.on_time, total.late_replied, total.overdue_unanswered) == (3, 2, 1, 1)
    assert total.due == 4 and total.on_time_rate == pytest.approx(0.5)
    assert (total.breaches, total.no_reply) == (2, 1)
    assert total.avg_policy_seconds == pytest.approx(15 * H)
    assert total.avg_wall_seconds == pytest.approx(31 * H)
    assert total.p50_policy_seconds == pytest.approx(18 * H)
    assert total.p90_policy_seconds == pytest.approx(24.4 * H)
    assert total.p50_wall_seconds == pytest.approx(26 * H)
    assert total.p90_wall_seconds == pytest.approx(58 * H)
    assert (total.team_measured, total.team_met, total.team_breaches) == (3, 1, 2)
    assert total.team_met_rate == pytest.approx(1 / 3)
    assert total.waiting_now == 2
    assert total.oldest_waiting_since == waw(2026, 3, 9, 8)


def test_per_agent_unanswered_count_for_the_assignee(fixture, alice, bob):
    rows = sla_metrics(organization=fixture["a"].organization, group_by="agent", now=NOW)
    rows_by_key = {r.key: r for r in rows}
    alice_row = rows_by_key[alice.pk]
    assert (alice_row.replied, alice_row.on_time, alice_row.overdue_unanswered) == (2, 2, 1)
    assert alice_row.on_time_rate == pytest.approx(2 / 3)
    assert alice_row.waiting_now == 1  # c4
    assert alice_row.avg_policy_seconds == pytest.approx((1 + 18) / 2 * H)
    bob_row = rows_by_key[bob.pk]
    assert (bob_row.replied, bob_row.late_replied, bob_row.no_reply, bob_row.on_time_rate) == (1, 1, 1, 0)
    nobody = rows_by_key[None]
    assert (nobody.waiting_now, nobody.replied) == (1, 0)  # c5, unassigned
    assert rows_by_key[alice.pk].label == alice.get_full_name()


def test_per_kind_account_channel_and_day(fixture):
    org = fixture["a"].organization
    kinds = {r.key: r for r in sla_metrics(organization=org, group_by="kind", now=NOW)}
    assert (kinds["message"].replied, kinds["message"].on_time, kinds["message"].no_reply) == (2, 1, 1)
    assert kinds["discussion"].p50_policy_seconds == pytest.approx(18 * H)
    assert (kinds["email"].overdue_unanswered, kinds["email"].on_time_rate) == (1, 0)
    assert (kinds["claim"].waiting_now, kinds["claim"].due) == (1, 0)
    assert kinds["message"].label == "Wiadomość"  # Polish labels

    accounts = {r.label: r for r in sla_metrics(organization=org, group_by="account", now=NOW)}
    assert (accounts["Konto A"].replied, accounts["Konto A"].waiting_now) == (2, 1)
    assert (accounts["Konto B"].replied, accounts["Konto B"].overdue_unanswered) == (1, 1)

    channels = {r.key: r for r in sla_metrics(organization=org, group_by="channel", now=NOW)}
    assert set(channels) == {"allegro"} and channels["allegro"].due == 4

    days = {r.key: r for r in sla_metrics(organization=org, group_by="day", now=NOW)}
    assert days[date(2026, 3, 2)].on_time == 1
    assert days[date(2026, 3, 3)].late_replied == 1  # late: decided at the deadline, Tue 12:00
    assert days[date(2026, 3, 9)].on_time == 1
    assert (days[date(2026, 3, 10)].overdue_unanswered, days[date(2026, 3, 10)].no_reply) == (1, 1)
    assert sum(d.due for d in days.values()) == 4


def test_the_window_rolls(fixture):
    org = fixture["a"].organization
    # On 2 April the window starts on 4 March: c3 is in, c1 and c2 are out; c4 and c5 are overdue.
    (later,) = sla_metrics(organization=org, now=waw(2026, 4, 2, 12))
    assert (later.replied, later.on_time, later.overdue_unanswered, later.no_reply) == (1, 1, 2, 1)
    (week,) = sla_metrics(organization=org, days=1, now=NOW)
    assert (week.replied, week.overdue_unanswered, week.waiting_now) == (0, 0, 2)


def test_the_board_and_its_query_budget(fixture, django_assert_max_num_queries):
    with django_assert_max_num_queries(8 * 6):  # the same per grouping, + labels
        board = sla_metrics_board(organization=fixture["a"].organization, now=NOW)
    assert board["total"].on_time_rate == pytest.approx(0.5)
    assert {"by_account", "by_kind", "by_channel", "by_agent", "by_day"} <= set(board)


def test_metrics_are_scoped_to_the_organization(fixture, charlie):
    other = charlie.memberships.get().organization
    (total,) = sla_metrics(organization=other, now=NOW)
    assert (total.replied, total.waiting_now, total.on_time_rate) == (0, 0, None)


def test_the_sqlite_percentile_fallback_matches_postgresql(db):
    values = [3600.0, 64800.0, 93600.0, 5.0, 7.0]
    with connection.cursor() as cursor:
        for fraction in (0.5, 0.9, 0.0, 1.0, 0.33):
            cursor.execute(
                "SELECT percentile_cont(%s) WITHIN GROUP (ORDER BY x) FROM unnest(%s::float8[]) AS x",
                [fraction, values],
            )
            assert _percentile(sorted(values), fraction) == pytest.approx(cursor.fetchone()[0])
    assert _percentile([], 0.5) is None


def test_records_carry_the_decision_day_in_warsaw(fixture):
    record = ResponseRecord.objects.get(conversation__external_id="c2")
    assert record.decided_at == record.marketplace_due_at == waw(2026, 3, 3, 12)
    assert record.day == date(2026, 3, 3)
    assert record.decided_at - record.received_at == timedelta(hours=24)
