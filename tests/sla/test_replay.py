"""`manage.py sla_replay`: recomputing from stored messages gives what a fresh computation gives."""

from __future__ import annotations

import dataclasses
from datetime import date
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from inbox.models import Conversation, Membership
from sla import services
from sla.models import ResponseRecord, SlaClock, SlaDailyRollup
from sla.selectors import GROUPS, sla_metrics
from tests.factories import ChannelAccountFactory, MembershipFactory, OrganizationFactory

from .helpers import agent_replies, buyer_writes, seller_writes_elsewhere, waw

NOW = waw(2026, 3, 11, 12)  # Wednesday


def build_scenario(org):
    """The same history in any organization: messages, replies, a "no reply needed", then a beat."""
    account = ChannelAccountFactory(organization=org, name="Sklep")
    agent = MembershipFactory(organization=org, user__username=f"agent-{org.slug}", role="agent").user
    lead = MembershipFactory(organization=org, user__username=f"lead-{org.slug}", role="lead").user
    t1 = buyer_writes(account, waw(2026, 3, 2, 10), thread="t1").conversation
    agent_replies(t1, agent, waw(2026, 3, 2, 11, 30))
    t2 = buyer_writes(account, waw(2026, 3, 2, 12), thread="t2").conversation
    buyer_writes(account, waw(2026, 3, 2, 13), thread="t2")
    agent_replies(t2, lead, waw(2026, 3, 3, 14))
    t3 = buyer_writes(account, waw(2026, 3, 6, 15), thread="t3", kind="discussion").conversation
    agent_replies(t3, agent, waw(2026, 3, 9, 9))
    buyer_writes(account, waw(2026, 3, 10, 8), thread="t4", kind="email")
    buyer_writes(account, waw(2026, 3, 11, 11), thread="t5", kind="claim")
    t6 = buyer_writes(account, waw(2026, 3, 10, 10), thread="t6").conversation
    with time_machine.travel(waw(2026, 3, 10, 12), tick=False):
        services.sla_no_reply_needed(t6, reason="Podziękowanie", acting_user=lead)
    t7 = buyer_writes(account, waw(2026, 3, 10, 9), thread="t7").conversation
    seller_writes_elsewhere(account, waw(2026, 3, 10, 9, 45), thread="t7")
    buyer_writes(account, waw(2026, 3, 10, 16), thread="t7")
    agent_replies(t7, agent, waw(2026, 3, 11, 8))
    with time_machine.travel(NOW, tick=False):
        services.sla_clocks_check()


def new_policies(org):
    lead = Membership.objects.filter(organization=org, role="lead").first().user
    services.sla_policy_update(
        org,
        conversation_kind="message",
        acting_user=lead,
        marketplace_limit_minutes=4 * 60,
        marketplace_calendar="calendar_hours",
        team_target_minutes=30,
        team_calendar="business_hours",
        business_hours="mon-fri 09:00-17:00",
        warning_minutes=[120, 30],
    )
    services.sla_policy_update(
        org,
        conversation_kind="discussion",
        acting_user=lead,
        marketplace_limit_minutes=48 * 60,
        marketplace_calendar="working_days",
        team_target_minutes=None,
        team_calendar="business_hours",
        business_hours="mon-fri 08:00-18:00",
        warning_minutes=[240],
    )
    services.sla_day_off_add(org, day=date(2026, 3, 9), note="Remanent", acting_user=lead)


def snapshot(org):
    def thread(conversation_id):
        return Conversation.objects.get(pk=conversation_id).external_id

    records = sorted(
        (
            thread(r.conversation_id),
            r.received_at,
            r.replied_at,
            r.wall_seconds,
            r.marketplace_due_at,
            r.marketplace_seconds,
            r.marketplace_met,
            r.team_due_at,
            r.team_seconds,
            r.team_met,
            r.no_reply_needed,
            r.no_reply_reason,
            r.agent.username.split("-")[0] if r.agent else None,
            r.decided_at,
            r.day,
            r.conversation_kind,
            r.channel,
        )
        for r in ResponseRecord.objects.filter(organization=org)
    )
    clocks = sorted(
        (
            thread(c.conversation_id),
            c.kind,
            c.started_at,
            c.due_at,
            c.satisfied_at,
            c.cancelled_at,
            c.breached_at,
            c.warned_levels,
            c.next_warn_at,
        )
        for c in SlaClock.objects.filter(organization=org)
    )
    rollups = sorted(
        (
            *(
                v
                for k, v in r.__dict__.items()
                if k not in ("_state", "id", "organization_id", "account_id", "agent_key")
            ),
            bool(r.agent_key),
        )
        for r in SlaDailyRollup.objects.filter(organization=org)
    )
    metrics = {}
    for group in (None, *GROUPS):
        rows = sla_metrics(organization=org, group_by=group, now=NOW)
        metrics[group] = sorted(
            (
                r.label.split("-")[0] if group == "agent" else r.label,
                *(v for k, v in dataclasses.asdict(r).items() if k not in ("key", "label", "extra")),
            )
            for r in rows
        )
    awaiting = sorted(
        (c.external_id, c.awaiting_reply_since) for c in Conversation.objects.filter(organization=org)
    )
    return {
        "records": records,
        "clocks": clocks,
        "rollups": rollups,
        "metrics": metrics,
        "awaiting": awaiting,
    }


def test_replay_with_changed_policies_equals_a_fresh_computation(db):
    replayed = OrganizationFactory(slug="a")
    build_scenario(replayed)
    before = snapshot(replayed)
    new_policies(replayed)
    services.sla_replay(since=date(2026, 3, 1), organization=replayed, now=NOW)
    after = snapshot(replayed)

    fresh = OrganizationFactory(slug="b")
    MembershipFactory(organization=fresh, user__username="lead-setup", role="lead")
    new_policies(fresh)
    build_scenario(fresh)
    expected = snapshot(fresh)

    assert after["records"] == expected["records"]
    assert after["clocks"] == expected["clocks"]
    assert after["rollups"] == expected["rollups"]
    assert after["awaiting"] == expected["awaiting"]
    assert after["metrics"] == expected["metrics"]
    assert after["records"] != before["records"]  # the policies did change the numbers
    assert after["metrics"][None] != before["metrics"][None]


def test_replay_with_unchanged_policies_changes_nothing(db):
    org = OrganizationFactory(slug="a")
    build_scenario(org)
    before = snapshot(org)
    clock_ids = sorted(SlaClock.objects.values_list("id", flat=True))
    record_ids = sorted(ResponseRecord.objects.values_list("id", flat=True))
    services.sla_replay(since=date(2026, 3, 1), organization=org, now=NOW)
    assert snapshot(org) == before
    # Same rows, untouched (their live event logs and alerts stay attached).
    assert sorted(SlaClock.objects.values_list("id", flat=True)) == clock_ids
    assert sorted(ResponseRecord.objects.values_list("id", flat=True)) == record_ids


def test_replay_rebuilds_lost_rollups_and_records(db):
    org = OrganizationFactory(slug="a")
    build_scenario(org)
    before = snapshot(org)
    ResponseRecord.objects.filter(organization=org).delete()
    SlaDailyRollup.objects.filter(organization=org).update(replied=999)
    services.sla_replay(since=date(2026, 3, 1), organization=org, now=NOW)
    assert snapshot(org) == before


def test_the_command(db):
    org = OrganizationFactory(slug="sklep-a")
    build_scenario(org)
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("sla_replay", "--since", "2026-03-01", "--org", "sklep-a", stdout=out)
    assert "Replayed 7 conversations" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("sla_replay", "--since", "yesterday")
    with pytest.raises(CommandError):
        call_command("sla_replay", "--since", "2026-03-01", "--org", "nope")
