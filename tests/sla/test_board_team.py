"""The reply-times board in one pass (issue #6): the same figures as `sla_metrics` per group and window,
a small query budget, and the team-target columns (over the target now, breached today) with the
conversations behind them.

Default policies (team target: 2 h of business hours, Mon–Fri 08:00–18:00 Europe/Warsaw).
Now: Wednesday 11 March 2026 15:00.

t1 account A, unassigned: buyer Wed 09:00, team due 11:00, no reply     → over now, breached today
t2 account A, alice:      buyer Wed 08:30, team due 10:30, reply 12:00  → breached today (answered)
t3 account B, alice:      buyer Tue 14:00, team due Tue 16:00, no reply → over now (marked by the beat)
t4 account B, unassigned: buyer Wed 14:00, team due 16:00               → neither
t5 account A, unassigned: buyer Wed 09:30, team due 11:30, reply 10:00  → neither (met)
plus t6 (account A, bob: buyer Mon 2 Mar, replied late on Tue) for the 7-day and 30-day columns.
"""

from __future__ import annotations

import dataclasses

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from inbox import services as inbox_services
from sla import services
from sla.board_selectors import sla_board_cached, sla_board_extra, sla_team_now
from sla.models import SlaClock
from sla.selectors import GROUPS, Window, _percentiles_all, sla_metrics, sla_metrics_board
from tests.factories import ChannelAccountFactory

from .helpers import agent_replies, buyer_writes, waw

NOW = waw(2026, 3, 11, 15)
METRICS = reverse("inbox:sla-metrics")


def _team_url(figure: str, dimension: str, key) -> str:
    return reverse("inbox:sla-metrics-team", args=[figure, dimension, key])


@pytest.fixture
def team_day(org, alice, bob):
    a = ChannelAccountFactory(organization=org, name="Konto A")
    b = ChannelAccountFactory(organization=org, name="Konto B")
    t6 = buyer_writes(a, waw(2026, 3, 2, 12), thread="t6").conversation
    inbox_services.conversation_assign(t6, assignee=bob, acting_user=bob)
    agent_replies(t6, bob, waw(2026, 3, 3, 14))
    t3 = buyer_writes(b, waw(2026, 3, 10, 14), thread="t3").conversation
    inbox_services.conversation_assign(t3, assignee=alice, acting_user=bob)
    services.sla_clocks_check(now=waw(2026, 3, 11, 8))  # the beat marks t3's team clock
    t2 = buyer_writes(a, waw(2026, 3, 11, 8, 30), thread="t2").conversation
    inbox_services.conversation_assign(t2, assignee=alice, acting_user=bob)
    t1 = buyer_writes(a, waw(2026, 3, 11, 9), thread="t1").conversation
    t5 = buyer_writes(a, waw(2026, 3, 11, 9, 30), thread="t5").conversation
    agent_replies(t5, bob, waw(2026, 3, 11, 10))
    inbox_services.conversation_assign(t5, assignee=None, acting_user=bob)
    agent_replies(t2, alice, waw(2026, 3, 11, 12))
    t4 = buyer_writes(b, waw(2026, 3, 11, 14), thread="t4").conversation
    return {"a": a, "b": b, "t1": t1, "t2": t2, "t3": t3, "t4": t4, "t5": t5}


def _comparable(row) -> dict:
    values = dataclasses.asdict(row)
    values["label"] = str(values["label"])
    return values


@pytest.mark.django_db
@pytest.mark.parametrize("days", [1, 7, 30])
def test_the_one_pass_board_equals_sla_metrics_per_group(team_day, days):
    org = team_day["a"].organization
    board = sla_metrics_board(organization=org, days=days, now=NOW)
    assert _comparable(board["total"]) == _comparable(sla_metrics(organization=org, days=days, now=NOW)[0])
    for group in GROUPS:
        expected = sla_metrics(organization=org, days=days, group_by=group, now=NOW)
        assert [_comparable(r) for r in board[f"by_{group}"]] == [_comparable(r) for r in expected], group
    # The today and 7-day columns, from the same read.
    sla_board_extra(organization=org, board=board, now=NOW)
    for group in ("account", "agent"):
        today = {r.key: r for r in sla_metrics(organization=org, days=1, group_by=group, now=NOW)}
        week = {r.key: r for r in sla_metrics(organization=org, days=7, group_by=group, now=NOW)}
        for row in board[f"by_{group}"]:
            assert row.extra["replies_today"] == (today[row.key].replied if row.key in today else 0)
            assert row.extra["breached_today"] == (today[row.key].breaches if row.key in today else 0)
            assert row.extra["on_time_7"] == (week[row.key].on_time_rate if row.key in week else None)


@pytest.mark.django_db
def test_the_sqlite_percentiles_equal_the_grouping_sets_query(team_day, monkeypatch):
    org = team_day["a"].organization
    window = Window.rolling(30, NOW)
    on_postgresql = _percentiles_all(organization=org, window=window)
    monkeypatch.setattr(connection, "vendor", "sqlite")
    in_python = _percentiles_all(organization=org, window=window)
    assert on_postgresql.keys() == in_python.keys() and len(on_postgresql) > len(GROUPS)
    for key, values in on_postgresql.items():
        assert in_python[key] == pytest.approx(values), key


@pytest.mark.django_db
def test_the_whole_board_in_ten_queries(team_day, django_assert_max_num_queries, monkeypatch):
    monkeypatch.setattr("sla.board_selectors.HEATMAP_CACHE_SECONDS", 0)
    org = team_day["a"].organization
    # Rollups, open clocks, percentiles (+ savepoint, SET LOCAL, release), account and user labels; the team
    # clocks; the heat map.
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(10):
        board, extra = sla_board_cached(organization=org, days=30)
    assert "data" not in board and extra["team"] == {"over_team_now": 2, "team_breached_today": 2}


@pytest.mark.django_db
def test_team_figures_per_account_and_assignee(team_day, alice):
    a, b = team_day["a"], team_day["b"]
    assert SlaClock.objects.get(conversation=team_day["t3"], kind="team").breached_at is not None
    assert (
        SlaClock.objects.get(conversation=team_day["t1"], kind="team").breached_at is None
    )  # not yet marked
    team = sla_team_now(organization=a.organization, now=NOW)
    assert team[(a.pk, None)] == {"over_team_now": 1, "team_breached_today": 1}  # t1
    assert team[(a.pk, alice.pk)] == {"over_team_now": 0, "team_breached_today": 1}  # t2, answered late
    assert team[(b.pk, alice.pk)] == {"over_team_now": 1, "team_breached_today": 0}  # t3, since yesterday
    assert (b.pk, None) not in team or not any(team[(b.pk, None)].values())  # t4: not due yet
    board = sla_metrics_board(organization=a.organization, now=NOW)
    sla_board_extra(organization=a.organization, board=board, now=NOW)
    accounts = {r.key: r.extra for r in board["by_account"]}
    agents = {r.key: r.extra for r in board["by_agent"]}
    assert (accounts[a.pk]["over_team_now"], accounts[a.pk]["team_breached_today"]) == (1, 2)
    assert (accounts[b.pk]["over_team_now"], accounts[b.pk]["team_breached_today"]) == (1, 0)
    assert (agents[alice.pk]["over_team_now"], agents[alice.pk]["team_breached_today"]) == (1, 1)
    assert (agents[None]["over_team_now"], agents[None]["team_breached_today"]) == (1, 1)


@pytest.mark.django_db
def test_the_board_links_each_team_figure_to_its_conversations(client, bob, alice, charlie, team_day):
    a = team_day["a"]
    client.force_login(bob)
    with time_machine.travel(NOW, tick=False):
        body = client.get(METRICS).content.decode()
        account_csv = client.get(METRICS, {"export": "account"}).content.decode().splitlines()
        over_all = client.get(_team_url("over", "all", "all")).content.decode()
        over_unassigned = client.get(_team_url("over", "agent", "none")).content.decode()
        today_a = client.get(_team_url("today", "account", a.pk)).content.decode()
        assert client.get(_team_url("late", "all", "all")).status_code == 404
        assert client.get(_team_url("over", "account", "x")).status_code == 404
    kpi = body.split('data-kpi="over_team_now"')[1].split("</div>")[0]
    assert f'href="{_team_url("over", "all", "all")}">2</a>' in kpi
    assert f'href="{_team_url("today", "account", a.pk)}">2</a>' in body
    assert f'href="{_team_url("over", "agent", "none")}">1</a>' in body
    header = account_csv[0].split(",")
    row_a = next(line.split(",") for line in account_csv[1:] if line.startswith(f"{a.pk},"))
    assert (row_a[header.index("over_team_now")], row_a[header.index("team_breached_today")]) == ("1", "2")

    def listed(page: str) -> set[int]:
        return {int(x.split('"')[0]) for x in page.split('data-conversation="')[1:]}

    assert listed(over_all) == {team_day["t1"].pk, team_day["t3"].pk}
    assert listed(over_unassigned) == {team_day["t1"].pk}
    assert listed(today_a) == {team_day["t1"].pk, team_day["t2"].pk}
    # Agents do not see the board's pages; another organization's lead sees none of these conversations.
    client.force_login(alice)
    assert client.get(_team_url("over", "all", "all")).status_code == 404
    client.force_login(charlie)
    with time_machine.travel(NOW, tick=False):
        assert listed(client.get(_team_url("over", "all", "all")).content.decode()) == set()
        assert client.get(_team_url("today", "account", a.pk)).status_code == 404
        assert client.get(_team_url("over", "agent", alice.pk)).status_code == 404
