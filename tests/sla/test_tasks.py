"""Breach detection: the beat marks due warnings and breaches exactly once and alerts (rules.md §2.3)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inbox import services as inbox_services
from sla import services, signals
from sla.models import Alert, SlaClock, SlaEvent
from sla.tasks import sla_clocks_check
from tests.factories import ChannelAccountFactory, MembershipFactory, OrganizationFactory

from .helpers import agent_replies, buyer_writes, waw

S = timedelta(seconds=1)


IMPLEMENTATION = {"portable": False}


@pytest.fixture(params=["sql", "portable"], autouse=True)
def implementation(request):
    """Every beat test runs both ways on PostgreSQL: the single-statement marks used on PostgreSQL, and
    the portable ORM path used on SQLite (`make run`)."""
    IMPLEMENTATION["portable"] = request.param == "portable"
    yield request.param
    IMPLEMENTATION["portable"] = False


def tick(at, **kwargs):
    with time_machine.travel(at, tick=False):
        return services.sla_clocks_check(portable=IMPLEMENTATION["portable"], **kwargs)


@pytest.fixture
def received(django_capture_on_commit_callbacks):
    """Signals received, by name."""
    got: dict[str, list[dict]] = {"warning": [], "breached": []}

    def on_warning(sender, **kwargs):
        got["warning"].append(kwargs)

    def on_breached(sender, **kwargs):
        got["breached"].append(kwargs)

    signals.sla_warning.connect(on_warning)
    signals.sla_breached.connect(on_breached)
    yield got
    signals.sla_warning.disconnect(on_warning)
    signals.sla_breached.disconnect(on_breached)


def test_the_beat_runs_every_30_seconds_on_the_sla_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["sla-clocks-check"]
    assert entry["task"] == "sla.tasks.sla_clocks_check"
    assert entry["schedule"] <= 30
    assert sla_clocks_check.name == "sla.tasks.sla_clocks_check"


def test_warnings_at_4_h_and_1_h_left_then_the_breach_each_once(
    account, alice, bob, received, django_capture_on_commit_callbacks
):
    msg = buyer_writes(account, waw(2026, 3, 4, 10))  # marketplace due Thursday 10:00
    inbox_services.conversation_assign(msg.conversation, assignee=alice, acting_user=bob)
    team = SlaClock.objects.get(kind="team")
    market = SlaClock.objects.get(kind="marketplace")

    assert tick(waw(2026, 3, 4, 10, 59)).warned == 0  # nothing due yet
    # Team target: 1 h left at 11:00, breached at 12:00.
    with django_capture_on_commit_callbacks(execute=True):
        assert tick(waw(2026, 3, 4, 11, 0, 20)).warned == 1
    with django_capture_on_commit_callbacks(execute=True):
        result = tick(waw(2026, 3, 4, 12, 0, 20))
    assert (result.breached, result.warned) == (1, 0)
    team.refresh_from_db()
    assert team.breached_at == waw(2026, 3, 4, 12)

    with django_capture_on_commit_callbacks(execute=True):
        result = tick(waw(2026, 3, 5, 6, 0, 10))  # 4 h of running time left
    assert (result.warned, result.alerts) == (1, 2)  # the assignee and the lead
    market.refresh_from_db()
    assert (market.warned_levels, market.next_warn_at) == (1, waw(2026, 3, 5, 9))
    assert tick(waw(2026, 3, 5, 6, 0, 40)).warned == 0  # the next beat finds nothing
    with django_capture_on_commit_callbacks(execute=True):
        assert tick(waw(2026, 3, 5, 9, 0, 30)).warned == 1  # 1 h left
    # The breach is marked by the first beat after the due instant: within 30 s (< 60 s).
    with django_capture_on_commit_callbacks(execute=True):
        result = tick(waw(2026, 3, 5, 10, 0, 30))
    assert result.breached == 1
    market.refresh_from_db()
    assert market.breached_at == waw(2026, 3, 5, 10) and market.next_warn_at is None
    assert tick(waw(2026, 3, 5, 10, 1)).breached == 0

    alerts = Alert.objects.filter(clock=market).order_by("created_at", "user__username")
    assert [(a.kind, a.level_minutes, a.user.username) for a in alerts] == [
        ("warning", 240, "alice"),
        ("warning", 240, "bob"),
        ("warning", 60, "alice"),
        ("warning", 60, "bob"),
        ("breached", 0, "alice"),
        ("breached", 0, "bob"),
    ]
    events = SlaEvent.objects.filter(clock=market).order_by("at", "id")
    assert [(e.kind, e.at) for e in events] == [
        ("started", waw(2026, 3, 4, 10)),
        ("warned", waw(2026, 3, 5, 6)),
        ("warned", waw(2026, 3, 5, 9)),
        ("breached", waw(2026, 3, 5, 10)),
    ]
    breach_event = events.get(kind="breached")
    assert breach_event.created_at - breach_event.at < timedelta(seconds=60)
    assert [(s["clock_kind"], s["level_minutes"]) for s in received["warning"]] == [
        ("team", 60),
        ("marketplace", 240),
        ("marketplace", 60),
    ]
    assert [s["clock_kind"] for s in received["breached"]] == ["team", "marketplace"]
    assert received["breached"][1]["recipient_ids"] == [alice.pk, bob.pk]
    assert received["breached"][1]["due_at"] == waw(2026, 3, 5, 10)


def test_a_clock_found_due_and_warning_due_at_once_gets_only_the_breach(account, bob):
    buyer_writes(account, waw(2026, 3, 4, 10))
    result = tick(waw(2026, 3, 5, 12))  # the beat was down all night
    assert (result.breached, result.warned) == (2, 0)
    assert set(Alert.objects.values_list("kind", flat=True)) == {"breached"}
    assert Alert.objects.count() == 2  # two clocks, one lead, no assignee


def test_a_warning_missed_by_several_levels_alerts_once_for_the_most_urgent(account, bob):
    buyer_writes(account, waw(2026, 3, 4, 10))
    tick(waw(2026, 3, 4, 12, 1))  # team clock breached; marketplace not yet warned
    result = tick(waw(2026, 3, 5, 9, 30))  # both marketplace levels passed since the last beat
    assert result.warned == 1
    alert = Alert.objects.get(kind="warning", clock_kind="marketplace")
    assert alert.level_minutes == 60
    assert SlaEvent.objects.filter(kind="warned", clock__kind="marketplace").count() == 2


def test_answered_and_cancelled_clocks_never_alert(account, alice, bob):
    a = buyer_writes(account, waw(2026, 3, 4, 10), thread="a")
    b = buyer_writes(account, waw(2026, 3, 4, 10), thread="b")
    agent_replies(a.conversation, alice, waw(2026, 3, 4, 10, 30))
    with time_machine.travel(waw(2026, 3, 4, 10, 40), tick=False):
        services.sla_no_reply_needed(b.conversation, reason="Spam", acting_user=alice)
    assert tick(waw(2026, 3, 9, 12)).breached == 0
    assert not Alert.objects.exists()


def test_the_task_calls_the_service(account, bob, implementation):
    if implementation == "portable":
        pytest.skip("the task picks the implementation by database vendor")
    buyer_writes(account, waw(2026, 3, 4, 10))
    with time_machine.travel(waw(2026, 3, 5, 11), tick=False):
        assert sla_clocks_check() == {"breached": 2, "warned": 0, "alerts": 2}


def _due_clocks(n: int):
    account = ChannelAccountFactory()
    MembershipFactory(organization=account.organization, role="lead")
    for i in range(n):
        buyer_writes(account, waw(2026, 3, 4, 10, i % 60), thread=f"c-{i}")
    return account


def test_a_beat_uses_a_fixed_number_of_queries_whatever_the_number_due(db, implementation):
    if implementation == "portable":
        pytest.skip("the portable path (SQLite) marks row by row")
    _due_clocks(3)
    with CaptureQueriesContext(connection) as few:
        assert tick(waw(2026, 3, 6, 12)).breached == 6
    _due_clocks(40)
    with CaptureQueriesContext(connection) as many:
        assert tick(waw(2026, 3, 6, 12)).breached == 80
    # (savepoint,) SET LOCAL jit, mark breaches (+ events, alerts), claim warnings, (release)
    assert len(few) == len(many) <= 5
    with CaptureQueriesContext(connection) as idle:
        tick(waw(2026, 3, 6, 12))
    assert len(idle) <= 5
    # With warnings due as well: one more statement.
    for i in range(5):
        buyer_writes(_due_clocks(0), waw(2026, 3, 4, 10, i), thread=f"w-{i}")
    with CaptureQueriesContext(connection) as warned:
        assert tick(waw(2026, 3, 5, 6, 30)).warned == 5
    assert len(warned) <= 6


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_mark_and_alert_each_breach_once():
    """Real concurrency on PostgreSQL: two threads (two connections) run the beat together."""
    org = OrganizationFactory()
    account = ChannelAccountFactory(organization=org)
    MembershipFactory(organization=org, role="lead")
    MembershipFactory(organization=org, role="owner")
    for i in range(120):
        buyer_writes(account, waw(2026, 3, 4, 9, i % 60), thread=f"c-{i}")
    signalled: list[int] = []
    lock = threading.Lock()

    def on_breached(sender, clock_id, **kwargs):
        with lock:
            signalled.append(clock_id)

    signals.sla_breached.connect(on_breached)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    results = []

    def beat():
        try:
            barrier.wait()
            results.append(services.sla_clocks_check(batch_size=50, portable=IMPLEMENTATION["portable"]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    # One clock travel for both threads: time_machine patches the process, so two threads entering
    # and leaving their own travels could let one of them run on the real clock.
    try:
        with time_machine.travel(waw(2026, 3, 6, 12), tick=False):
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        signals.sla_breached.disconnect(on_breached)
    assert not errors
    assert sum(r.breached for r in results) == 240  # 120 marketplace + 120 team clocks
    assert SlaClock.objects.filter(breached_at__isnull=True).count() == 0
    assert Alert.objects.filter(kind="breached").count() == 240 * 2  # two leads, each once
    assert SlaEvent.objects.filter(kind="breached").count() == 240
    assert sorted(signalled) == sorted(SlaClock.objects.values_list("id", flat=True))
