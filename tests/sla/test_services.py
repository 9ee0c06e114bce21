"""Clock start/stop semantics (rules.md §2.1), records, "no reply needed", out-of-order messages."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone

from inbox.models import Conversation, ConversationEvent, Message
from sla import services
from sla.models import ResponseRecord, SlaClock, SlaDailyRollup, SlaEvent
from sla.policy import warn_instants
from sla.selectors import sla_policy_effective
from tests.factories import OrganizationFactory

from .helpers import agent_replies, buyer_writes, seller_writes_elsewhere, waw

H = timedelta(hours=1)


def clocks(conversation, **filters):
    return {c.kind: c for c in SlaClock.objects.filter(conversation=conversation, **filters)}


def test_the_effective_policy_of_an_organization_without_rows_is_the_default(db):
    org = OrganizationFactory()
    policy = sla_policy_effective(organization_id=org.pk, kind="discussion")
    assert policy.policy_id is None
    assert (policy.marketplace_limit_minutes, policy.marketplace_calendar) == (24 * 60, "working_days")
    assert (policy.team_target_minutes, policy.team_calendar) == (120, "business_hours")
    assert policy.business_hours == "mon-fri 08:00-18:00"
    assert policy.warning_minutes == (240, 60)


def test_a_buyer_message_starts_both_clocks_with_due_and_warning_instants(account):
    msg = buyer_writes(account, waw(2026, 3, 4, 10))  # Wednesday
    c = clocks(msg.conversation)
    market, team = c["marketplace"], c["team"]
    assert market.start_message == msg
    assert market.started_at == waw(2026, 3, 4, 10)
    assert market.due_at == waw(2026, 3, 5, 10)  # 24 h of a working day
    assert warn_instants(market.policy_snapshot) == [waw(2026, 3, 5, 6), waw(2026, 3, 5, 9)]  # 4 h, 1 h left
    assert market.next_warn_at == waw(2026, 3, 5, 6)
    # Team target: 2 h of business hours; the 4 h level is longer than the target and does not apply.
    assert team.due_at == waw(2026, 3, 4, 12)
    assert team.policy_snapshot["warn_minutes"] == [60]
    assert team.next_warn_at == waw(2026, 3, 4, 11)
    assert list(SlaEvent.objects.filter(conversation=msg.conversation).values_list("kind", flat=True)) == [
        "started",
        "started",
    ]


def test_a_friday_afternoon_message_is_due_on_monday_and_an_extra_day_off_moves_it(account, bob):
    friday = buyer_writes(account, waw(2026, 3, 6, 15), thread="t-fri")
    assert clocks(friday.conversation)["marketplace"].due_at == waw(2026, 3, 9, 15)
    services.sla_day_off_add(
        account.organization, day=date(2026, 3, 9), note="Inwentaryzacja", acting_user=bob
    )
    friday2 = buyer_writes(account, waw(2026, 3, 6, 15), thread="t-fri-2")
    assert clocks(friday2.conversation)["marketplace"].due_at == waw(2026, 3, 10, 15)
    # The clock started earlier keeps the policy it was started with (its snapshot).
    assert clocks(friday.conversation)["marketplace"].due_at == waw(2026, 3, 9, 15)


def test_the_earliest_unanswered_message_counts_and_a_delivered_reply_stops_the_clocks(account, alice):
    first = buyer_writes(account, waw(2026, 3, 4, 10))
    buyer_writes(account, waw(2026, 3, 4, 10, 30))
    assert SlaClock.objects.count() == 2  # the second message starts nothing
    conversation = first.conversation
    reply = agent_replies(conversation, alice, waw(2026, 3, 4, 11, 30))
    c = clocks(conversation)
    assert c["marketplace"].satisfied_at == waw(2026, 3, 4, 11, 30)
    assert c["marketplace"].satisfied_by == reply
    assert c["team"].satisfied_at == waw(2026, 3, 4, 11, 30)
    assert c["marketplace"].next_warn_at is None and c["marketplace"].breached_at is None
    record = ResponseRecord.objects.get()
    assert (record.received_at, record.replied_at) == (waw(2026, 3, 4, 10), waw(2026, 3, 4, 11, 30))
    assert (record.wall_seconds, record.marketplace_seconds, record.team_seconds) == (5400, 5400, 5400)
    assert record.marketplace_met and record.team_met
    assert (record.agent, record.start_message, record.reply_message) == (alice, first, reply)
    assert (record.channel, record.conversation_kind, record.account) == ("allegro", "message", account)
    assert record.day == date(2026, 3, 4)
    rollup = SlaDailyRollup.objects.get()
    assert (rollup.replied, rollup.on_time, rollup.marketplace_seconds, rollup.agent_key) == (
        1,
        1,
        5400,
        alice.pk,
    )
    conversation.refresh_from_db()
    assert conversation.awaiting_reply_since is None


def test_a_pending_or_failed_reply_does_not_stop_the_clock(account, alice):
    msg = buyer_writes(account, waw(2026, 3, 4, 10))
    agent_replies(msg.conversation, alice, waw(2026, 3, 4, 10, 5), delivered=False)
    assert len(clocks(msg.conversation, satisfied_at__isnull=True)) == 2


def test_automatic_messages_never_start_or_stop_a_clock(account, alice):
    for i, (classification, author) in enumerate(
        [
            ("auto_reply", "buyer"),
            ("bounce", "buyer"),
            ("system", "marketplace"),
            ("bulk", "buyer"),
            ("human", "marketplace"),
        ]
    ):
        buyer_writes(
            account, waw(2026, 3, 4, 9, i), thread="t-auto", classification=classification, author_type=author
        )
    assert not SlaClock.objects.exists()
    msg = buyer_writes(account, waw(2026, 3, 4, 10), thread="t-auto")
    # Our autoresponder (delivered) and an automatic message found by a sync: neither stops it.
    agent_replies(msg.conversation, None, waw(2026, 3, 4, 10, 1), author_type=Message.AuthorType.AUTOMATION)
    seller_writes_elsewhere(account, waw(2026, 3, 4, 10, 2), thread="t-auto", author_type="automation")
    assert len(clocks(msg.conversation, satisfied_at__isnull=True)) == 2
    assert not ResponseRecord.objects.exists()
    # A reply written by the seller in Allegro's own panel (found by a sync) does.
    seller_writes_elsewhere(account, waw(2026, 3, 4, 10, 3), thread="t-auto")
    assert not clocks(msg.conversation, satisfied_at__isnull=True)
    assert ResponseRecord.objects.get().agent is None


def test_the_next_buyer_message_after_a_reply_starts_a_new_clock(account, alice):
    first = buyer_writes(account, waw(2026, 3, 4, 10))
    agent_replies(first.conversation, alice, waw(2026, 3, 4, 10, 20))
    second = buyer_writes(account, waw(2026, 3, 4, 11))
    open_ = clocks(first.conversation, satisfied_at__isnull=True)
    assert open_["marketplace"].started_at == waw(2026, 3, 4, 11)
    assert open_["marketplace"].start_message == second
    assert SlaClock.objects.count() == 4


def test_a_late_reply_marks_the_breach_itself_without_alerting(account, alice):
    msg = buyer_writes(account, waw(2026, 3, 4, 10))
    agent_replies(msg.conversation, alice, waw(2026, 3, 5, 11))  # due Thursday 10:00
    c = clocks(msg.conversation)
    assert c["marketplace"].breached_at == waw(2026, 3, 5, 10)
    record = ResponseRecord.objects.get()
    assert not record.marketplace_met and not record.team_met
    assert record.decided_at == waw(2026, 3, 5, 10)  # late: decided at the deadline
    assert SlaEvent.objects.filter(kind="breached").count() == 2
    assert not c["marketplace"].alerts.exists()


def test_no_reply_needed_stops_the_clocks_with_an_audited_reason(account, alice):
    msg = buyer_writes(account, waw(2026, 3, 4, 10), text="Dziękuję, wszystko doszło!")
    with time_machine.travel(waw(2026, 3, 4, 10, 15), tick=False):
        record = services.sla_no_reply_needed(
            msg.conversation, reason="  Podziękowanie,  nie wymaga odpowiedzi ", acting_user=alice
        )
    assert record.no_reply_needed and record.no_reply_reason == "Podziękowanie, nie wymaga odpowiedzi"
    assert record.agent == alice and record.reply_message is None
    c = clocks(msg.conversation)
    assert c["marketplace"].cancelled_at == waw(2026, 3, 4, 10, 15) and c["marketplace"].satisfied_at is None
    event = ConversationEvent.objects.get(conversation=msg.conversation, kind="no_reply_needed")
    assert event.actor == alice and event.data["reason"] == "Podziękowanie, nie wymaga odpowiedzi"
    cancelled = SlaEvent.objects.filter(kind="cancelled")
    assert cancelled.count() == 2 and {e.actor for e in cancelled} == {alice}
    conversation = Conversation.objects.get()
    assert conversation.awaiting_reply_since is None
    rollup = SlaDailyRollup.objects.get()
    assert (rollup.no_reply, rollup.replied, rollup.breached) == (1, 0, 0)
    # Nothing is waiting any more: a second decision writes nothing.
    assert services.sla_no_reply_needed(conversation, reason="x", acting_user=alice) is None


def test_no_reply_needed_needs_a_reason_and_a_member(account, alice, charlie):
    msg = buyer_writes(account, waw(2026, 3, 4, 10))
    with pytest.raises(ValueError):
        services.sla_no_reply_needed(msg.conversation, reason="  ", acting_user=alice)
    with pytest.raises(PermissionError):
        services.sla_no_reply_needed(msg.conversation, reason="spam", acting_user=charlie)
    assert len(clocks(msg.conversation, cancelled_at__isnull=True)) == 2


def test_an_earlier_buyer_message_synced_late_restarts_the_clock_at_its_instant(account):
    later = buyer_writes(account, waw(2026, 3, 4, 12))
    earlier = buyer_writes(account, waw(2026, 3, 4, 9))
    c = clocks(later.conversation)
    assert c["marketplace"].started_at == waw(2026, 3, 4, 9)
    assert c["marketplace"].start_message == earlier
    assert c["marketplace"].due_at == waw(2026, 3, 5, 9)
    assert SlaClock.objects.count() == 2
    conversation = Conversation.objects.get()
    assert conversation.awaiting_reply_since == waw(2026, 3, 4, 9)


def test_a_reply_synced_late_closes_the_episode_it_answered(account, alice):
    first = buyer_writes(account, waw(2026, 3, 4, 9))
    buyer_writes(account, waw(2026, 3, 4, 12))
    # The seller answered at 10:00 in Allegro's panel; the sync brings it after the 12:00 message.
    seller_writes_elsewhere(account, waw(2026, 3, 4, 10))
    records = list(ResponseRecord.objects.all())
    assert [(r.received_at, r.replied_at) for r in records] == [(waw(2026, 3, 4, 9), waw(2026, 3, 4, 10))]
    open_ = clocks(first.conversation, satisfied_at__isnull=True)
    assert open_["marketplace"].started_at == waw(2026, 3, 4, 12)
    conversation = Conversation.objects.get()
    assert conversation.awaiting_reply_since == waw(2026, 3, 4, 12)


def test_a_synced_copy_folded_into_our_reply_leaves_the_record_to_our_agent(account, alice):
    msg = buyer_writes(account, waw(2026, 3, 4, 9))
    with time_machine.travel(waw(2026, 3, 4, 9, 30), tick=False):
        from inbox import services as inbox_services

        reply, _ = inbox_services.message_reply_create(
            msg.conversation, text="Już wysłane.", acting_user=alice
        )
    # A sync stores Allegro's copy of our reply before the delivery task records its id.
    seller_writes_elsewhere(account, waw(2026, 3, 4, 9, 31), external_id="allegro-9")
    assert ResponseRecord.objects.get().agent is None
    with time_machine.travel(waw(2026, 3, 4, 9, 32), tick=False):
        inbox_services.message_mark_delivered(
            reply.pk, external_id="allegro-9", delivered_at=waw(2026, 3, 4, 9, 32)
        )
    record = ResponseRecord.objects.get()
    assert (record.agent, record.reply_message_id, record.replied_at) == (
        alice,
        reply.pk,
        waw(2026, 3, 4, 9, 32),
    )
    rollup = SlaDailyRollup.objects.get()  # the copy's contribution moved to alice
    assert (rollup.agent_key, rollup.replied) == (alice.pk, 1)
    assert not SlaDailyRollup.objects.filter(agent_key=0, replied__gt=0).exists()


def test_policy_update_validates_and_applies_to_new_clocks(account, bob, alice):
    org = account.organization
    with pytest.raises(PermissionError):
        services.sla_policy_update(
            org,
            conversation_kind="message",
            acting_user=alice,
            marketplace_limit_minutes=60,
            marketplace_calendar="calendar_hours",
            team_target_minutes=None,
            team_calendar="business_hours",
            business_hours="mon-fri 08:00-18:00",
            warning_minutes=[30],
        )
    with pytest.raises(ValueError):
        services.sla_policy_update(
            org,
            conversation_kind="message",
            acting_user=bob,
            marketplace_limit_minutes=60,
            marketplace_calendar="calendar_hours",
            team_target_minutes=None,
            team_calendar="business_hours",
            business_hours="mon-fri 18:00-08:00",
            warning_minutes=[30],
        )
    services.sla_policy_update(
        org,
        conversation_kind="message",
        acting_user=bob,
        marketplace_limit_minutes=60,
        marketplace_calendar="calendar_hours",
        team_target_minutes=None,
        team_calendar="business_hours",
        business_hours="mon-fri 09:00-17:00",
        warning_minutes=[30, 90, 30],
    )
    policy = sla_policy_effective(organization_id=org.pk, kind="message")
    assert policy.warning_minutes == (90, 30) and policy.team_target_minutes is None
    msg = buyer_writes(account, waw(2026, 3, 7, 10))  # a Saturday: calendar hours run anyway
    c = clocks(msg.conversation)
    assert set(c) == {"marketplace"}
    assert c["marketplace"].due_at == waw(2026, 3, 7, 11)
    assert c["marketplace"].policy_snapshot["warn_minutes"] == [30]  # 90 min ≥ the 60 min limit


def test_every_clock_transition_is_an_event(account, alice):
    msg = buyer_writes(account, waw(2026, 3, 4, 10))
    agent_replies(msg.conversation, alice, waw(2026, 3, 4, 10, 30))
    events = SlaEvent.objects.filter(clock__kind="marketplace").order_by("at", "id")
    assert [(e.kind, e.at, e.actor) for e in events] == [
        ("started", waw(2026, 3, 4, 10), None),
        ("satisfied", waw(2026, 3, 4, 10, 30), alice),
    ]
    assert timezone.is_aware(events[0].at)


def test_a_rebuild_reopens_the_clock_of_a_reply_that_never_reached_the_buyer(account, alice):
    msg = buyer_writes(account, waw(2026, 3, 4, 10))
    reply = agent_replies(msg.conversation, alice, waw(2026, 3, 4, 10, 30))
    assert ResponseRecord.objects.count() == 1
    # The mail bounced: the reply is FAILED after all (the e-mail channel's bounce handling does this).
    Message.objects.filter(pk=reply.pk).update(delivery_status=Message.DeliveryStatus.FAILED)
    with time_machine.travel(waw(2026, 3, 4, 11), tick=False):
        services.sla_conversation_rebuild(msg.conversation)
    assert not ResponseRecord.objects.exists()
    assert not SlaDailyRollup.objects.exists()
    open_ = clocks(msg.conversation, satisfied_at__isnull=True)
    assert open_["marketplace"].started_at == waw(2026, 3, 4, 10)
    assert Conversation.objects.get().awaiting_reply_since == waw(2026, 3, 4, 10)
    # Unchanged history is kept as it is: a second rebuild touches nothing.
    ids = sorted(SlaClock.objects.values_list("id", flat=True))
    services.sla_conversation_rebuild(msg.conversation)
    assert sorted(SlaClock.objects.values_list("id", flat=True)) == ids
