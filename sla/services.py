"""Write paths of the SLA engine: clocks, breach detection, "no reply needed", policies, replay.

rules.md §2 and §3. How it fits together (see sla/README.md):

* `sla_on_message` is called by `inbox.services` inside its transaction, with the conversation row
  locked, for every stored inbound message and every outbound reply that became DELIVERED. In the
  usual case (messages arrive in time order) it starts clocks or stops them one step at a time.
  A message older than what the clocks already reflect (a late sync, a copy folded into our reply)
  takes the slow path: the conversation's clocks and records are rebuilt from its whole timeline
  with `sla.engine`, exactly as `manage.py sla_replay` does.
* `sla_clocks_check` (beat, every 30 s) marks due warnings and breaches with compare-and-set
  updates over partial indexes, writes the in-app alerts in the same transaction, and sends the
  `sla.signals` after commit.
* Every closed episode becomes one `ResponseRecord`; the daily rollups are kept by additive upserts
  in the same transaction, so metrics never need the raw history.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Case, IntegerField, Max, Min, Q, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from inbox.models import ChannelAccount, Conversation, ConversationEvent, Membership, Message, Organization

from . import signals
from .calculations import CalendarError, business_hours_calendar
from .engine import NO_REPLY, REPLY, START, Episode, Step, episodes_from_steps
from .models import (
    OPEN_Q,
    Alert,
    CalendarKind,
    ResponseRecord,
    SlaClock,
    SlaDailyRollup,
    SlaDayOff,
    SlaEvent,
    SlaPolicy,
)
from .policy import MARKETPLACE, TEAM, ClockPlan, ClockSpec, EffectivePolicy, warn_instants
from .rules import CLOCK_START_Q, HUMAN_REPLY_Q, NO_REPLY_NEEDED_EVENT, is_clock_start, is_human_reply
from .selectors import LOCAL_TZ, sla_policies_effective, sla_policy_effective

logger = logging.getLogger(__name__)

# ==================================================================================================
# Clocks from messages (rules.md §2.1)
# ==================================================================================================


def sla_on_message(message: Message, *, memo: dict | None = None) -> bool:
    """Start, or stop, the reply clocks a stored message affects. # rules.md §2.1

    Inbound buyer messages written by a person start a clock (unless one is already running: the
    earliest unanswered message counts); a delivered reply written by a person stops the running
    clocks. Automatic messages either way, bounces and marketplace system messages do nothing.

    For a caller storing many messages in one transaction with the conversations locked
    (`inbox.services.ReceiveBatch`), `memo` is a dict kept across its calls: the policies read and
    each conversation's clock state as this function left it (a conversation created in that
    transaction is entered as `SLA_NO_CLOCKS`), so neither is read again. Returns True when the
    conversation was rebuilt from its timeline (which may change `awaiting_reply_since`).
    """
    if is_clock_start(message):
        return _on_buyer_message(message, memo=memo)
    if is_human_reply(message):
        if memo is not None:
            memo.pop(("clocks", message.conversation_id), None)
        return _on_human_reply(message)
    return False


@dataclass(frozen=True)
class _ClockState:
    open_started_at: datetime | None
    latest_start: datetime | None
    latest_stop: datetime | None


SLA_NO_CLOCKS = _ClockState(None, None, None)


def _clock_state(conversation_id: int) -> _ClockState:
    agg = SlaClock.objects.filter(conversation_id=conversation_id).aggregate(
        open_started_at=Min("started_at", filter=OPEN_Q),
        latest_start=Max("started_at"),
        latest_stop=Max(Coalesce("satisfied_at", "cancelled_at")),
    )
    return _ClockState(**agg)


def _on_buyer_message(message: Message, *, memo: dict | None = None) -> bool:
    conversation = message.conversation
    at = message.source_created_at
    memo = memo if memo is not None else {}
    state = memo.pop(("clocks", conversation.pk), None) or _clock_state(conversation.pk)
    if state.open_started_at is not None:
        if at >= state.open_started_at:
            memo[("clocks", conversation.pk)] = state
            return False  # already waiting since an earlier message
        _conversation_rebuild(conversation.pk)  # an earlier unanswered message arrived late
        return True
    answered_later = (conversation.last_reply_at is not None and at <= conversation.last_reply_at) or (
        state.latest_stop is not None and at <= state.latest_stop
    )
    if answered_later:
        _conversation_rebuild(conversation.pk)  # it belongs to an episode that is already closed
        return True
    key = ("policy", conversation.organization_id, conversation.kind)
    policy = memo.get(key)
    if policy is None:
        policy = memo[key] = sla_policy_effective(organization_id=key[1], kind=key[2])
    clocks = _clocks_start(conversation, policy=policy, start_message=message, at=at)
    if clocks:
        starts = [c.started_at for c in clocks]
        latest = max([*starts, *([state.latest_start] if state.latest_start else [])])
        memo[("clocks", conversation.pk)] = _ClockState(min(starts), latest, state.latest_stop)
    else:
        memo[("clocks", conversation.pk)] = state
    return False


def _on_human_reply(message: Message) -> bool:
    conversation = message.conversation
    at = message.source_created_at
    open_clocks = list(
        SlaClock.objects.filter(conversation_id=conversation.pk).filter(OPEN_Q).order_by("kind")
    )
    state = _clock_state(conversation.pk)
    out_of_order = (
        (state.latest_stop is not None and at < state.latest_stop)
        or (state.latest_start is not None and at < state.latest_start)
        or any(c.started_at > at for c in open_clocks)
    )
    if out_of_order:
        _conversation_rebuild(conversation.pk)
        return True
    if not open_clocks:
        # A reply whose record lost its message (a synced copy folded into ours) is re-attributed.
        orphans = ResponseRecord.objects.filter(
            conversation_id=conversation.pk, reply_message__isnull=True, no_reply_needed=False
        )
        if orphans.exists():
            _conversation_rebuild(conversation.pk)
            return True
        return False
    # A buyer message later than this reply, swallowed while a clock was running, starts the next one.
    later_buyer_message = (
        Message.objects.filter(conversation_id=conversation.pk, source_created_at__gt=at)
        .filter(CLOCK_START_Q)
        .exists()
    )
    if later_buyer_message:
        _conversation_rebuild(conversation.pk)
        return True
    _clocks_stop(
        conversation,
        open_clocks,
        at=at,
        reply_message=message,
        agent_id=message.author_user_id,
        actor_id=message.author_user_id,
    )
    return False


def _clocks_start(
    conversation: Conversation, *, policy: EffectivePolicy, start_message: Message | None, at: datetime
) -> list[SlaClock]:
    """Open the policy's clocks at `at`; due and warning instants are computed and stored now."""
    clocks = []
    for spec in policy.clocks():
        plan = spec.plan(at)
        clocks.append(
            SlaClock(
                organization_id=conversation.organization_id,
                conversation_id=conversation.pk,
                kind=spec.kind,
                start_message=start_message,
                started_at=plan.started_at,
                due_at=plan.due_at,
                next_warn_at=plan.first_warn_at,
                policy_snapshot=plan.snapshot(),
            )
        )
    SlaClock.objects.bulk_create(clocks)
    SlaEvent.objects.bulk_create(
        [
            SlaEvent(
                organization_id=c.organization_id,
                clock=c,
                conversation_id=c.conversation_id,
                kind=SlaEvent.Kind.STARTED,
                at=c.started_at,
                data={
                    "due_at": c.due_at.isoformat(),
                    "message_id": start_message.pk if start_message else None,
                },
            )
            for c in clocks
        ]
    )
    return clocks


def _clocks_stop(
    conversation: Conversation,
    clocks: Sequence[SlaClock],
    *,
    at: datetime,
    reply_message: Message | None = None,
    agent_id: int | None = None,
    actor_id: int | None = None,
    no_reply_reason: str | None = None,
) -> ResponseRecord | None:
    """Stop open clocks at `at` (satisfied by a reply, or cancelled: "no reply needed") and record it."""
    events = []
    stopped = []
    for clock in clocks:
        if at > clock.due_at:
            # A late stop marks the breach itself if the beat has not yet (compare-and-set, no alert:
            # the conversation is answered).
            won = (
                SlaClock.objects.filter(pk=clock.pk, breached_at__isnull=True)
                .filter(OPEN_Q)
                .update(breached_at=clock.due_at)
            )
            if won:
                clock.breached_at = clock.due_at
                events.append(_event(clock, SlaEvent.Kind.BREACHED, at=clock.due_at, data={"by": "stop"}))
        # Levels passed while nobody looked count as passed (not alerted): as a rebuild computes them.
        passed = sum(1 for w in warn_instants(clock.policy_snapshot) if w < at)
        changes = {"next_warn_at": None, "warned_levels": max(clock.warned_levels, passed)}
        if no_reply_reason is None:
            changes |= {"satisfied_at": at, "satisfied_by": reply_message}
        else:
            changes |= {"cancelled_at": at}
        if not SlaClock.objects.filter(pk=clock.pk).filter(OPEN_Q).update(**changes):
            continue  # stopped concurrently (cannot happen under the conversation lock; kept safe)
        for name, value in changes.items():
            setattr(clock, name, value)
        stopped.append(clock)
        if no_reply_reason is None:
            events.append(
                _event(
                    clock,
                    SlaEvent.Kind.SATISFIED,
                    at=at,
                    actor_id=actor_id,
                    data={"message_id": reply_message.pk if reply_message else None},
                )
            )
        else:
            events.append(
                _event(
                    clock, SlaEvent.Kind.CANCELLED, at=at, actor_id=actor_id, data={"reason": no_reply_reason}
                )
            )
    SlaEvent.objects.bulk_create(events)
    marketplace = next((c for c in stopped if c.kind == MARKETPLACE), None)
    if marketplace is None:
        return None
    team = next((c for c in stopped if c.kind == TEAM), None)
    channel = ChannelAccount.objects.filter(pk=conversation.account_id).values_list("kind", flat=True).first()
    record = _record_for(
        conversation,
        channel=channel or "",
        marketplace=(
            marketplace.started_at,
            marketplace.due_at,
            ClockSpec.from_snapshot(marketplace.policy_snapshot),
        ),
        team=(team.started_at, team.due_at, ClockSpec.from_snapshot(team.policy_snapshot)) if team else None,
        stop_at=at,
        start_message_id=marketplace.start_message_id,
        reply_message_id=reply_message.pk if reply_message else None,
        agent_id=agent_id,
        no_reply_reason=no_reply_reason,
    )
    record.save()
    _rollup_add([record], sign=1)
    return record


def _event(clock: SlaClock, kind: str, *, at: datetime, actor_id: int | None = None, data=None) -> SlaEvent:
    return SlaEvent(
        organization_id=clock.organization_id,
        clock=clock,
        conversation_id=clock.conversation_id,
        kind=kind,
        at=at,
        actor_id=actor_id,
        data=data or {},
    )


def _local_day(instant: datetime) -> date:
    return instant.astimezone(LOCAL_TZ).date()


def _record_for(
    conversation: Conversation,
    *,
    channel: str,
    marketplace: tuple[datetime, datetime, ClockSpec],
    team: tuple[datetime, datetime, ClockSpec] | None,
    stop_at: datetime,
    start_message_id: int | None,
    reply_message_id: int | None,
    agent_id: int | None,
    no_reply_reason: str | None,
) -> ResponseRecord:
    """The response record of one closed episode. # rules.md §2.1 (wall and policy time), §3"""
    m_start, m_due, m_spec = marketplace
    decided_at = min(stop_at, m_due)
    record = ResponseRecord(
        organization_id=conversation.organization_id,
        conversation_id=conversation.pk,
        account_id=conversation.account_id,
        conversation_kind=conversation.kind,
        channel=channel,
        start_message_id=start_message_id,
        reply_message_id=reply_message_id,
        agent_id=agent_id,
        received_at=m_start,
        replied_at=stop_at,
        wall_seconds=int((stop_at - m_start).total_seconds()),
        marketplace_due_at=m_due,
        marketplace_seconds=int(m_spec.running_time(m_start, stop_at).total_seconds()),
        marketplace_met=stop_at <= m_due,
        no_reply_needed=no_reply_reason is not None,
        no_reply_reason=no_reply_reason or "",
        decided_at=decided_at,
        day=_local_day(decided_at),
    )
    if team is not None:
        t_start, t_due, t_spec = team
        record.team_due_at = t_due
        record.team_seconds = int(t_spec.running_time(t_start, stop_at).total_seconds())
        record.team_met = stop_at <= t_due
    return record


# ==================================================================================================
# "No reply needed" (rules.md §2.1: an agent stops the clocks without a message, audited)
# ==================================================================================================


def sla_no_reply_needed(conversation: Conversation, *, reason: str, acting_user) -> ResponseRecord | None:
    """Stop the running clocks of `conversation` without a reply; the record says why and who.

    Writes an audited ConversationEvent ("no_reply_needed", with the reason), a "cancelled" SlaEvent
    per clock and a ResponseRecord with `no_reply_needed`; the conversation stops awaiting a reply.
    Returns None when nothing was waiting (then nothing is written).
    """
    reason = " ".join(reason.split())[:300]
    if not reason:
        raise ValueError("A reason is required")
    if (
        acting_user is None
        or not Membership.objects.filter(
            organization_id=conversation.organization_id, user=acting_user
        ).exists()
    ):
        raise PermissionError("Only a member of the organization can decide this")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        clocks = list(
            SlaClock.objects.filter(conversation_id=conversation.pk).filter(OPEN_Q).order_by("kind")
        )
        if not clocks:
            return None
        now = timezone.now()
        ConversationEvent.objects.create(
            organization_id=conversation.organization_id,
            conversation=conversation,
            actor=acting_user,
            kind=NO_REPLY_NEEDED_EVENT,
            data={"reason": reason, "clock_ids": [c.pk for c in clocks]},
            created_at=now,  # the replay reads the decision's instant from here
        )
        record = _clocks_stop(
            conversation,
            clocks,
            at=now,
            agent_id=acting_user.pk,
            actor_id=acting_user.pk,
            no_reply_reason=reason,
        )
        Conversation.objects.filter(pk=conversation.pk).update(awaiting_reply_since=None)
    return record


# ==================================================================================================
# Rebuild from the timeline (out-of-order messages and the replay)
# ==================================================================================================


def _timeline(conversation_ids: Sequence[int]) -> dict[int, list[Step]]:
    steps: dict[int, list[Step]] = defaultdict(list)
    messages = (
        Message.objects.filter(conversation_id__in=conversation_ids)
        .filter(CLOCK_START_Q | HUMAN_REPLY_Q)
        .values_list("id", "conversation_id", "direction", "source_created_at", "author_user_id")
    )
    for pk, conversation_id, direction, at, author_id in messages:
        kind = START if direction == Message.Direction.INBOUND else REPLY
        steps[conversation_id].append(Step(kind=kind, at=at, seq=pk, message_id=pk, actor_id=author_id))
    markers = ConversationEvent.objects.filter(
        conversation_id__in=conversation_ids, kind=NO_REPLY_NEEDED_EVENT
    ).values_list("id", "conversation_id", "created_at", "actor_id", "data")
    for pk, conversation_id, at, actor_id, data in markers:
        steps[conversation_id].append(
            Step(kind=NO_REPLY, at=at, seq=pk, actor_id=actor_id, reason=str((data or {}).get("reason", "")))
        )
    return steps


_CLOCK_COMPARED = (
    "kind",
    "started_at",
    "due_at",
    "start_message_id",
    "satisfied_at",
    "satisfied_by_id",
    "cancelled_at",
)
_RECORD_COMPARED = tuple(
    f.attname for f in ResponseRecord._meta.concrete_fields if f.attname not in ("id", "created_at")
)


def _conversation_rebuild(conversation_id: int, *, now: datetime | None = None) -> None:
    """Online slow path: rebuild one conversation whose message arrived out of time order."""
    _conversations_rebuild([conversation_id], now=now or timezone.now(), silent=False, update_rollups=True)


def sla_conversation_rebuild(conversation: Conversation) -> None:
    """Recompute a conversation's clocks and records from its messages, for changes that are not a new
    message: a delivered reply that bounced (it never reached the buyer, rules.md §2.1), a message
    deleted or reclassified. Call it inside the transaction that made the change. Clocks and records
    that come out the same are kept; a clock that reopens is left to the beat (which alerts)."""
    with transaction.atomic():
        _conversation_rebuild(conversation.pk)


def _conversations_rebuild(
    conversation_ids: Sequence[int],
    *,
    now: datetime,
    policies: dict[tuple[int, str], EffectivePolicy] | None = None,
    silent: bool,
    update_rollups: bool,
) -> set[tuple[int, date]]:
    """Make the conversations' clocks and records what their timelines say under the current policies.

    Runs inside the caller's transaction and locks the conversations. Clocks and records that come
    out the same are kept untouched (with their events and marks); the others are replaced, with a
    canonical event log. An open clock that is replaced takes the marks of the one it replaces when
    its due instant is the same (no second alert). A new open clock whose warnings or deadline have
    passed is marked without alerts when `silent` (the replay), else left to the beat (which alerts).
    Returns the (organization, day) pairs whose records changed.
    """
    conversations = list(
        Conversation.objects.select_for_update()
        .filter(pk__in=conversation_ids)
        .select_related("account")
        .order_by("pk")
    )
    if not conversations:
        return set()
    ids = [c.pk for c in conversations]
    steps = _timeline(ids)
    old_clocks: dict[int, list[SlaClock]] = defaultdict(list)
    for clock in SlaClock.objects.filter(conversation_id__in=ids):
        old_clocks[clock.conversation_id].append(clock)
    old_records: dict[int, list[ResponseRecord]] = defaultdict(list)
    for record in ResponseRecord.objects.filter(conversation_id__in=ids):
        old_records[record.conversation_id].append(record)
    if policies is None:
        policies = {}
    touched_days: set[tuple[int, date]] = set()
    clocks_to_delete: list[int] = []
    records_to_delete: list[ResponseRecord] = []
    new_clocks: list[SlaClock] = []
    new_events: list[SlaEvent] = []
    new_records: list[ResponseRecord] = []
    awaiting: dict[int, datetime | None] = {}

    for conversation in conversations:
        key = (conversation.organization_id, conversation.kind)
        if key not in policies:
            for kind, pol in sla_policies_effective(organization_id=conversation.organization_id).items():
                policies[(conversation.organization_id, kind)] = pol
        policy = policies[key]
        kept_clocks = {(c.kind, c.started_at): c for c in old_clocks[conversation.pk]}
        kept_records = {r.received_at: r for r in old_records[conversation.pk]}
        awaiting[conversation.pk] = None
        for episode in episodes_from_steps(steps.get(conversation.pk, ())):
            plans = [spec.plan(episode.start.at) for spec in policy.clocks()]
            stop = episode.stop
            for plan in plans:
                desired = _desired_clock(conversation, plan, episode)
                old = kept_clocks.pop((plan.spec.kind, plan.started_at), None)
                if old is not None and all(getattr(old, f) == getattr(desired, f) for f in _CLOCK_COMPARED):
                    if plan.spec.kind == MARKETPLACE and stop is None:
                        awaiting[conversation.pk] = old.started_at
                    continue  # unchanged: keep it, its marks and its events
                if old is not None:
                    clocks_to_delete.append(old.pk)
                _mark(desired, plan, stop=stop, now=now, silent=silent, previous=old)
                new_clocks.append(desired)
                new_events.extend(_canonical_events(desired, plan, episode))
                if plan.spec.kind == MARKETPLACE and stop is None:
                    awaiting[conversation.pk] = desired.started_at
            if stop is None:
                continue
            marketplace = plans[0]
            team = plans[1] if len(plans) > 1 else None
            record = _record_for(
                conversation,
                channel=conversation.account.kind,
                marketplace=(marketplace.started_at, marketplace.due_at, marketplace.spec),
                team=(team.started_at, team.due_at, team.spec) if team else None,
                stop_at=stop.at,
                start_message_id=episode.start.message_id,
                reply_message_id=stop.message_id,
                agent_id=stop.actor_id,
                no_reply_reason=stop.reason if stop.kind == NO_REPLY else None,
            )
            old_record = kept_records.pop(record.received_at, None)
            if old_record is not None and all(
                getattr(old_record, f) == getattr(record, f) for f in _RECORD_COMPARED
            ):
                continue
            if old_record is not None:
                records_to_delete.append(old_record)
            new_records.append(record)
        clocks_to_delete.extend(c.pk for c in kept_clocks.values())  # no longer in the timeline
        records_to_delete.extend(kept_records.values())

    if clocks_to_delete:
        Alert.objects.filter(clock_id__in=clocks_to_delete).update(clock=None)
        SlaEvent.objects.filter(clock_id__in=clocks_to_delete).delete()
        SlaClock.objects.filter(pk__in=clocks_to_delete).delete()
    if records_to_delete:
        ResponseRecord.objects.filter(pk__in=[r.pk for r in records_to_delete]).delete()
        if update_rollups:
            _rollup_add(records_to_delete, sign=-1)
    SlaClock.objects.bulk_create(new_clocks)
    SlaEvent.objects.bulk_create(new_events)  # their clocks have ids now
    ResponseRecord.objects.bulk_create(new_records)
    if update_rollups:
        _rollup_add(new_records, sign=1)
    touched_days |= {(r.organization_id, r.day) for r in records_to_delete + new_records}
    # The inbox's "awaiting reply" follows the clocks (rules.md §2.1).
    for conversation in conversations:
        if conversation.awaiting_reply_since != awaiting[conversation.pk]:
            Conversation.objects.filter(pk=conversation.pk).update(
                awaiting_reply_since=awaiting[conversation.pk]
            )
    return touched_days


def _desired_clock(conversation: Conversation, plan: ClockPlan, episode: Episode) -> SlaClock:
    stop = episode.stop
    return SlaClock(
        organization_id=conversation.organization_id,
        conversation_id=conversation.pk,
        kind=plan.spec.kind,
        start_message_id=episode.start.message_id,
        started_at=plan.started_at,
        due_at=plan.due_at,
        satisfied_at=stop.at if stop is not None and stop.kind == REPLY else None,
        satisfied_by_id=stop.message_id if stop is not None and stop.kind == REPLY else None,
        cancelled_at=stop.at if stop is not None and stop.kind == NO_REPLY else None,
        policy_snapshot=plan.snapshot(),
    )


def _mark(
    clock: SlaClock,
    plan: ClockPlan,
    *,
    stop: Step | None,
    now: datetime,
    silent: bool,
    previous: SlaClock | None,
) -> None:
    """Warning and breach marks of a rebuilt clock (see `_conversations_rebuild`)."""
    if stop is not None:
        clock.warned_levels = sum(1 for w in plan.warn_at if w < stop.at)
        clock.breached_at = plan.due_at if stop.at > plan.due_at else None
        clock.next_warn_at = None
        return
    if previous is not None and previous.is_open and previous.due_at == plan.due_at:
        clock.warned_levels = previous.warned_levels
        clock.breached_at = previous.breached_at
        clock.next_warn_at = previous.next_warn_at
        return
    if silent:
        clock.warned_levels = plan.passed_levels(now)
        clock.breached_at = plan.due_at if plan.due_at <= now else None
        later = [w for w in plan.warn_at if w > now]
        clock.next_warn_at = later[0] if later and clock.breached_at is None else None
    else:
        clock.warned_levels = 0
        clock.breached_at = None
        clock.next_warn_at = plan.first_warn_at


def _canonical_events(clock: SlaClock, plan: ClockPlan, episode: Episode) -> list[SlaEvent]:
    events = [
        _event(
            clock,
            SlaEvent.Kind.STARTED,
            at=clock.started_at,
            data={"due_at": clock.due_at.isoformat(), "message_id": clock.start_message_id, "rebuilt": True},
        )
    ]
    for level, at in list(zip(plan.warn_levels, plan.warn_at, strict=True))[: clock.warned_levels]:
        events.append(
            _event(clock, SlaEvent.Kind.WARNED, at=at, data={"level_minutes": level, "rebuilt": True})
        )
    if clock.breached_at is not None:
        events.append(_event(clock, SlaEvent.Kind.BREACHED, at=clock.due_at, data={"rebuilt": True}))
    stop = episode.stop
    if stop is not None and stop.kind == REPLY:
        events.append(
            _event(
                clock,
                SlaEvent.Kind.SATISFIED,
                at=stop.at,
                actor_id=stop.actor_id,
                data={"message_id": stop.message_id, "rebuilt": True},
            )
        )
    elif stop is not None:
        events.append(
            _event(
                clock,
                SlaEvent.Kind.CANCELLED,
                at=stop.at,
                actor_id=stop.actor_id,
                data={"reason": stop.reason, "rebuilt": True},
            )
        )
    return events


# ==================================================================================================
# Daily rollups (rules.md §3)
# ==================================================================================================

_ROLLUP_SUMS = SlaDailyRollup.SUMS


def _contribution(record: ResponseRecord) -> dict[str, int]:
    """What one record adds to its day's rollup row (the SQL twin is `_rollups_rebuild`)."""
    replied = not record.no_reply_needed
    team_known = record.team_met is not None
    return {
        "replied": int(replied),
        "on_time": int(replied and record.marketplace_met),
        "late": int(replied and not record.marketplace_met),
        "breached": int(not record.marketplace_met),
        "no_reply": int(not replied),
        "marketplace_seconds": record.marketplace_seconds if replied else 0,
        "wall_seconds": record.wall_seconds if replied else 0,
        "team_measured": int(replied and team_known),
        "team_met": int(replied and record.team_met is True),
        "team_breached": int(record.team_met is False),
        "team_seconds": (record.team_seconds or 0) if replied and team_known else 0,
    }


def _rollup_add(records: Iterable[ResponseRecord], *, sign: int) -> None:
    """Add (or subtract) records to their rollup rows with additive upserts: concurrent writers
    never lose an update, and each touches only its own row."""
    deltas: dict[tuple, dict[str, int]] = {}
    for record in records:
        key = (
            record.organization_id,
            record.day,
            record.account_id,
            record.conversation_kind,
            record.agent_id or 0,
            record.channel,
        )
        total = deltas.setdefault(key, dict.fromkeys(_ROLLUP_SUMS, 0))
        for name, value in _contribution(record).items():
            total[name] += sign * value
    if not deltas:
        return
    table = SlaDailyRollup._meta.db_table
    columns = ", ".join(_ROLLUP_SUMS)
    placeholders = ", ".join(["%s"] * (6 + len(_ROLLUP_SUMS)))
    updates = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in _ROLLUP_SUMS)
    sql = (
        f"INSERT INTO {table} (organization_id, day, account_id, conversation_kind, agent_key, channel, "
        f"{columns}) VALUES ({placeholders}) "
        "ON CONFLICT (organization_id, day, account_id, conversation_kind, agent_key) "
        f"DO UPDATE SET {updates}"
    )
    params = []
    for (org_id, day, account_id, kind, agent_key, channel), total in sorted(
        deltas.items(), key=lambda i: str(i[0])
    ):
        params.append(
            [
                org_id,
                connection.ops.adapt_datefield_value(day),
                account_id,
                kind,
                agent_key,
                channel,
                *(total[c] for c in _ROLLUP_SUMS),
            ]
        )
    with connection.cursor() as cursor:
        for row in params:  # one statement per key (usually one): rows locked in a stable order
            cursor.execute(sql, row)
    if sign < 0:
        # A row whose every record went away is deleted, as a rebuild from the records would leave it.
        emptied = Q()
        for org_id, day, account_id, kind, agent_key, _channel in deltas:
            emptied |= Q(
                organization_id=org_id,
                day=day,
                account_id=account_id,
                conversation_kind=kind,
                agent_key=agent_key,
            )
        SlaDailyRollup.objects.filter(emptied, replied=0, no_reply=0).delete()


def _rollups_rebuild(organization_id: int, days: Iterable[date]) -> None:
    """Recompute the rollup rows of some days from the records (the replay's last step)."""
    days = sorted(set(days))
    if not days:
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Online writers' upserts wait until the rebuilt rows are committed, then add on top.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {SlaDailyRollup._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
        SlaDailyRollup.objects.filter(organization_id=organization_id, day__in=days).delete()

        def count(q: Q):
            return Sum(Case(When(q, then=Value(1)), default=Value(0), output_field=IntegerField()))

        def total(column: str, q: Q):
            return Sum(Case(When(q, then=Coalesce(column, Value(0))), default=Value(0)))

        replied = Q(no_reply_needed=False)
        rows = (
            ResponseRecord.objects.filter(organization_id=organization_id, day__in=days)
            .annotate(r_agent=Coalesce("agent_id", Value(0)))
            .values("day", "account_id", "conversation_kind", "r_agent")
            .annotate(
                r_channel=Max("channel"),
                r_replied=count(replied),
                r_on_time=count(replied & Q(marketplace_met=True)),
                r_late=count(replied & Q(marketplace_met=False)),
                r_breached=count(Q(marketplace_met=False)),
                r_no_reply=count(Q(no_reply_needed=True)),
                r_marketplace_seconds=total("marketplace_seconds", replied),
                r_wall_seconds=total("wall_seconds", replied),
                r_team_measured=count(replied & Q(team_met__isnull=False)),
                r_team_met=count(replied & Q(team_met=True)),
                r_team_breached=count(Q(team_met=False)),
                r_team_seconds=total("team_seconds", replied & Q(team_met__isnull=False)),
            )
            .order_by()
        )
        SlaDailyRollup.objects.bulk_create(
            [
                SlaDailyRollup(
                    organization_id=organization_id,
                    day=r["day"],
                    account_id=r["account_id"],
                    conversation_kind=r["conversation_kind"],
                    agent_key=r["r_agent"],
                    channel=r["r_channel"],
                    **{c: r[f"r_{c}"] for c in _ROLLUP_SUMS},
                )
                for r in rows
            ],
            batch_size=1000,
        )


# ==================================================================================================
# Breach detection (beat, every 30 s)
# ==================================================================================================


@dataclass
class _Mark:
    clock_id: int
    organization_id: int
    conversation_id: int
    clock_kind: str
    due_at: datetime
    kind: str  # Alert.Kind
    level_minutes: int = 0
    levels_reached: list[tuple[int, datetime]] = field(default_factory=list)  # warnings: (minutes, instant)
    recipient_ids: list[int] = field(default_factory=list)


@dataclass
class CheckResult:
    breached: int = 0
    warned: int = 0
    alerts: int = 0


def sla_clocks_check(
    *,
    now: datetime | None = None,
    batch_size: int = 2000,
    max_batches: int = 20,
    portable: bool | None = None,
) -> CheckResult:
    """Mark every clock whose warning or due instant has passed, exactly once, and alert.

    Each batch is one transaction of a fixed number of queries: breaches first (a clock found both
    due and warning-due gets only the breach), then warnings; both claim their rows with
    `FOR UPDATE SKIP LOCKED` and mark them with compare-and-set updates, so two beats or workers at
    once never mark (or alert) a clock twice. Alerts go to the conversation's assignee and the
    organization's owners and leads, in the same transaction; the signals are sent after commit.

    On PostgreSQL each mark is one statement that also writes its events and alerts (data-modifying
    CTEs): four statements per batch with warnings due, three without (with `SET LOCAL jit = off`).
    `portable` (default: anywhere but PostgreSQL) uses ORM statements instead, for SQLite.
    """
    now = now or timezone.now()
    if portable is None:
        portable = connection.vendor != "postgresql"
    result = CheckResult()
    for _ in range(max_batches):
        with transaction.atomic():
            if portable:
                breaches = _mark_breaches_portable(now, batch_size)
                warnings = _mark_warnings_portable(now, batch_size)
                result.alerts += _alerts_and_events_portable(breaches + warnings, now)
            else:
                # The statements' estimated cost (the planner cannot know how few rows are due) would
                # trigger JIT compilation, ~30 ms per beat even when nothing is due: not for OLTP work.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL jit = off")
                breaches = _mark_breaches_sql(now, batch_size)
                warnings = _mark_warnings_sql(now, batch_size)
                result.alerts += sum(len(m.recipient_ids) for m in breaches + warnings)
            if breaches or warnings:
                transaction.on_commit(partial(_send_signals, breaches + warnings))
        result.breached += len(breaches)
        result.warned += len(warnings)
        if len(breaches) < batch_size and len(warnings) < batch_size:
            break
    return result


_OPEN_UNMARKED_SQL = "breached_at IS NULL AND satisfied_at IS NULL AND cancelled_at IS NULL"


def _tables() -> dict[str, str]:
    return {
        "clock": SlaClock._meta.db_table,
        "event": SlaEvent._meta.db_table,
        "alert": Alert._meta.db_table,
        "conversation": Conversation._meta.db_table,
        "membership": Membership._meta.db_table,
    }


# The marked clocks' recipients (assignee, owners, leads), their alerts, and the mark's result rows.
# Appended to a statement that defines `marked(id, organization_id, conversation_id, kind, due_at)`
# and `alert_level(clock_id, level)`.
_RECIPIENTS_AND_ALERTS_SQL = """
, assignees AS (
    -- A scalar subquery: one primary-key lookup per marked clock. (A join lets the planner, which
    -- cannot know how many rows `marked` returns, hash every assigned conversation instead.)
    SELECT m.id AS clock_id,
           (SELECT c.assignee_id FROM {conversation} c WHERE c.id = m.conversation_id) AS user_id
    FROM marked m
), recipients AS (
    SELECT clock_id, user_id FROM assignees WHERE user_id IS NOT NULL
    UNION
    SELECT m.id, ms.user_id
    FROM marked m JOIN {membership} ms
        ON ms.organization_id = m.organization_id AND ms.role IN (%(owner)s, %(lead)s)
), alerts AS (
    INSERT INTO {alert} (organization_id, user_id, conversation_id, clock_id, kind, clock_kind, level_minutes,
                         due_at, created_at, read_at)
    SELECT m.organization_id, r.user_id, m.conversation_id, m.id, %(alert_kind)s, m.kind, l.level, m.due_at,
           %(now)s, NULL
    FROM marked m JOIN recipients r ON r.clock_id = m.id JOIN alert_level l ON l.clock_id = m.id
    RETURNING clock_id, user_id
)
SELECT m.id, m.organization_id, m.conversation_id, m.kind, m.due_at,
       COALESCE(array_agg(a.user_id ORDER BY a.user_id) FILTER (WHERE a.user_id IS NOT NULL), '{{}}')
FROM marked m LEFT JOIN alerts a ON a.clock_id = m.id
GROUP BY m.id, m.organization_id, m.conversation_id, m.kind, m.due_at
"""


def _mark_breaches_sql(now: datetime, batch_size: int) -> list[_Mark]:
    """One statement: claim and mark the due clocks, write their "breached" events and alerts.

    The inner SELECT walks slaclock_breach_due_idx up to `now` (sla.models); the outer WHERE is the
    compare-and-set: re-checked on the locked row, so a concurrent beat's mark wins or loses whole.
    """
    sql = (
        """
        WITH marked AS (
            UPDATE {clock} SET breached_at = due_at, next_warn_at = NULL,
                   warned_levels = jsonb_array_length(COALESCE(policy_snapshot->'warn_at', '[]'::jsonb))
            WHERE id IN (SELECT id FROM {clock} WHERE {open_unmarked} AND due_at <= %(now)s
                         ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
              AND {open_unmarked}
            RETURNING id, organization_id, conversation_id, kind, due_at
        ), events AS (
            INSERT INTO {event}
                (organization_id, clock_id, conversation_id, kind, actor_id, at, data, created_at)
            SELECT organization_id, id, conversation_id, %(event_kind)s, NULL, due_at, %(data)s::jsonb,
                   %(now)s
            FROM marked
        ), alert_level AS (
            SELECT id AS clock_id, 0 AS level FROM marked
        )
        """
        + _RECIPIENTS_AND_ALERTS_SQL
    ).format(open_unmarked=_OPEN_UNMARKED_SQL, **_tables())
    params = {
        "now": now,
        "limit": batch_size,
        "event_kind": SlaEvent.Kind.BREACHED,
        "data": '{"by": "beat"}',
        "owner": Membership.Role.OWNER,
        "lead": Membership.Role.LEAD,
        "alert_kind": Alert.Kind.BREACHED,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        _Mark(
            clock_id=r[0],
            organization_id=r[1],
            conversation_id=r[2],
            clock_kind=r[3],
            due_at=r[4],
            kind=Alert.Kind.BREACHED,
            recipient_ids=list(r[5]),
        )
        for r in rows
    ]


def _warnings_due(now: datetime, batch_size: int) -> list[tuple]:
    """Claim the clocks with a warning due (slaclock_warn_due_idx) and work out the levels reached."""
    due = (
        SlaClock.objects.filter(next_warn_at__isnull=False, next_warn_at__lte=now)
        .order_by("next_warn_at")
        .select_for_update(skip_locked=True)
        .values_list(
            "id", "organization_id", "conversation_id", "kind", "due_at", "warned_levels", "policy_snapshot"
        )[:batch_size]
    )
    plans = []
    for clock_id, org_id, conversation_id, kind, due_at, old_level, snapshot in due:
        levels = list(snapshot.get("warn_minutes", ()))
        instants = [datetime.fromisoformat(w) for w in snapshot.get("warn_at", ())]
        new_level = max(old_level, sum(1 for w in instants if w <= now))
        next_at = instants[new_level] if new_level < len(instants) else None
        reached = list(zip(levels, instants, strict=True))[old_level:new_level]
        plans.append(
            (clock_id, org_id, conversation_id, kind, due_at, old_level, new_level, next_at, reached)
        )
    return plans


def _mark_warnings_sql(now: datetime, batch_size: int) -> list[_Mark]:
    """Claim (one query), then one statement: compare-and-set the levels, write events and alerts."""
    plans = _warnings_due(now, batch_size)
    if not plans:
        return []
    sql = (
        """
        WITH v AS (
            SELECT * FROM unnest(%(ids)s::bigint[], %(old)s::int[], %(new)s::int[], %(next)s::timestamptz[])
                AS v(id, old_level, new_level, next_at)
        ), marked AS (
            UPDATE {clock} AS c SET warned_levels = v.new_level, next_warn_at = v.next_at
            FROM v
            WHERE c.id = v.id AND c.warned_levels = v.old_level AND c.next_warn_at IS NOT NULL
              AND c.breached_at IS NULL AND c.satisfied_at IS NULL AND c.cancelled_at IS NULL
            RETURNING c.id, c.organization_id, c.conversation_id, c.kind, c.due_at
        ), reached AS (
            SELECT * FROM unnest(%(r_ids)s::bigint[], %(r_levels)s::int[], %(r_at)s::timestamptz[])
                AS r(clock_id, level, at)
        ), events AS (
            INSERT INTO {event}
                (organization_id, clock_id, conversation_id, kind, actor_id, at, data, created_at)
            SELECT m.organization_id, m.id, m.conversation_id, %(event_kind)s, NULL, r.at,
                   jsonb_build_object('level_minutes', r.level), %(now)s
            FROM marked m JOIN reached r ON r.clock_id = m.id
        ), alert_level AS (
            SELECT clock_id, min(level) AS level FROM reached GROUP BY clock_id
        )
        """
        + _RECIPIENTS_AND_ALERTS_SQL
    ).format(**_tables())
    reached = [(p[0], level, at) for p in plans for level, at in p[8]]
    params = {
        "ids": [p[0] for p in plans],
        "old": [p[5] for p in plans],
        "new": [p[6] for p in plans],
        "next": [p[7] for p in plans],
        "r_ids": [r[0] for r in reached],
        "r_levels": [r[1] for r in reached],
        "r_at": [r[2] for r in reached],
        "now": now,
        "event_kind": SlaEvent.Kind.WARNED,
        "owner": Membership.Role.OWNER,
        "lead": Membership.Role.LEAD,
        "alert_kind": Alert.Kind.WARNING,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    by_id = {p[0]: p for p in plans}
    # A clock whose stale next_warn_at was only moved on (no new level) gets no mark and no alert.
    return [
        _Mark(
            clock_id=r[0],
            organization_id=r[1],
            conversation_id=r[2],
            clock_kind=r[3],
            due_at=r[4],
            kind=Alert.Kind.WARNING,
            level_minutes=by_id[r[0]][8][-1][0],
            levels_reached=by_id[r[0]][8],
            recipient_ids=list(r[5]),
        )
        for r in rows
        if by_id[r[0]][8]
    ]


def _mark_breaches_portable(now: datetime, batch_size: int) -> list[_Mark]:
    """The same compare-and-set, row by row with the ORM (SQLite: one writer at a time)."""
    candidates = list(
        SlaClock.objects.filter(breached_at__isnull=True, due_at__lte=now)
        .filter(OPEN_Q)
        .order_by("due_at")
        .select_for_update(skip_locked=True)
        .values_list("id", "organization_id", "conversation_id", "kind", "due_at", "policy_snapshot")[
            :batch_size
        ]
    )
    marks = []
    for clock_id, org_id, conversation_id, kind, due_at, snapshot in candidates:
        won = (
            SlaClock.objects.filter(pk=clock_id, breached_at__isnull=True)
            .filter(OPEN_Q)
            .update(breached_at=due_at, next_warn_at=None, warned_levels=len(snapshot.get("warn_at", ())))
        )
        if won:
            marks.append(
                _Mark(
                    clock_id=clock_id,
                    organization_id=org_id,
                    conversation_id=conversation_id,
                    clock_kind=kind,
                    due_at=due_at,
                    kind=Alert.Kind.BREACHED,
                )
            )
    return marks


def _mark_warnings_portable(now: datetime, batch_size: int) -> list[_Mark]:
    marks = []
    for clock_id, org_id, conversation_id, kind, due_at, old, new, next_at, reached in _warnings_due(
        now, batch_size
    ):
        won = (
            SlaClock.objects.filter(
                pk=clock_id, warned_levels=old, next_warn_at__isnull=False, breached_at__isnull=True
            )
            .filter(OPEN_Q)
            .update(warned_levels=new, next_warn_at=next_at)
        )
        if won and reached:  # a stale next_warn_at only moved on: no mark
            marks.append(
                _Mark(
                    clock_id=clock_id,
                    organization_id=org_id,
                    conversation_id=conversation_id,
                    clock_kind=kind,
                    due_at=due_at,
                    kind=Alert.Kind.WARNING,
                    level_minutes=reached[-1][0],
                    levels_reached=reached,
                )
            )
    return marks


def _alerts_and_events_portable(marks: list[_Mark], now: datetime) -> int:
    """In-app alerts to the assignee and the organization's leads, and the SlaEvents (4 queries)."""
    if not marks:
        return 0
    assignees = dict(
        Conversation.objects.filter(pk__in={m.conversation_id for m in marks}).values_list(
            "pk", "assignee_id"
        )
    )
    leads: dict[int, set[int]] = defaultdict(set)
    for org_id, user_id in Membership.objects.filter(
        organization_id__in={m.organization_id for m in marks},
        role__in=(Membership.Role.OWNER, Membership.Role.LEAD),
    ).values_list("organization_id", "user_id"):
        leads[org_id].add(user_id)
    alerts = []
    events = []
    for mark in marks:
        recipients = set(leads[mark.organization_id])
        if assignees.get(mark.conversation_id) is not None:
            recipients.add(assignees[mark.conversation_id])
        mark.recipient_ids = sorted(recipients)
        for user_id in mark.recipient_ids:
            alerts.append(
                Alert(
                    organization_id=mark.organization_id,
                    user_id=user_id,
                    conversation_id=mark.conversation_id,
                    clock_id=mark.clock_id,
                    kind=mark.kind,
                    clock_kind=mark.clock_kind,
                    level_minutes=mark.level_minutes,
                    due_at=mark.due_at,
                    created_at=now,
                )
            )
        common = {
            "organization_id": mark.organization_id,
            "clock_id": mark.clock_id,
            "conversation_id": mark.conversation_id,
            "created_at": now,
        }
        if mark.kind == Alert.Kind.BREACHED:
            events.append(
                SlaEvent(kind=SlaEvent.Kind.BREACHED, at=mark.due_at, data={"by": "beat"}, **common)
            )
        else:
            for level, at in mark.levels_reached:
                events.append(
                    SlaEvent(kind=SlaEvent.Kind.WARNED, at=at, data={"level_minutes": level}, **common)
                )
    SlaEvent.objects.bulk_create(events)
    Alert.objects.bulk_create(alerts)
    return len(alerts)


def _send_signals(marks: list[_Mark]) -> None:
    for mark in marks:
        kwargs = {
            "clock_id": mark.clock_id,
            "organization_id": mark.organization_id,
            "conversation_id": mark.conversation_id,
            "clock_kind": mark.clock_kind,
            "due_at": mark.due_at,
            "recipient_ids": mark.recipient_ids,
        }
        try:
            if mark.kind == Alert.Kind.BREACHED:
                signals.sla_breached.send(sender=SlaClock, **kwargs)
            else:
                signals.sla_warning.send(sender=SlaClock, level_minutes=mark.level_minutes, **kwargs)
        except Exception:  # a receiver's failure must not stop the others' notifications
            logger.exception("an sla signal receiver failed for clock %s", mark.clock_id)


# ==================================================================================================
# Alerts
# ==================================================================================================


def sla_alerts_mark_read(*, user, organization: Organization, alert_ids: Iterable[int] | None = None) -> int:
    """Mark the user's alerts read (all of them, or the given ones). Returns how many changed."""
    qs = Alert.objects.filter(user=user, organization=organization, read_at__isnull=True)
    if alert_ids is not None:
        qs = qs.filter(pk__in=list(alert_ids))
    return qs.update(read_at=timezone.now())


# ==================================================================================================
# Policies (rules.md §2.2)
# ==================================================================================================


def _require_lead(organization: Organization, acting_user) -> None:
    if (
        acting_user is None
        or not Membership.objects.filter(
            organization=organization,
            user=acting_user,
            role__in=(Membership.Role.OWNER, Membership.Role.LEAD),
        ).exists()
    ):
        raise PermissionError("Only an owner or a team lead can change reply policies")


def sla_policy_update(
    organization: Organization,
    *,
    conversation_kind: str,
    acting_user: AbstractBaseUser,
    marketplace_limit_minutes: int,
    marketplace_calendar: str,
    team_target_minutes: int | None,
    team_calendar: str,
    business_hours: str,
    warning_minutes: Sequence[int],
) -> SlaPolicy:
    """Save one conversation kind's policy. New clocks use it; running clocks keep their snapshot
    (run `manage.py sla_replay` to recompute history with it)."""
    _require_lead(organization, acting_user)
    if conversation_kind not in Conversation.Kind.values:
        raise ValueError(f"unknown conversation kind {conversation_kind!r}")
    for calendar in (marketplace_calendar, team_calendar):
        if calendar not in CalendarKind.values:
            raise ValueError(f"unknown calendar {calendar!r}")
    if marketplace_limit_minutes <= 0:
        raise ValueError("The marketplace limit must be positive")
    if team_target_minutes is not None and team_target_minutes <= 0:
        team_target_minutes = None
    try:
        business_hours = business_hours_calendar(business_hours).windows_spec()
    except CalendarError as exc:
        raise ValueError(str(exc)) from exc
    levels = sorted({int(m) for m in warning_minutes if int(m) > 0}, reverse=True)
    policy, _ = SlaPolicy.objects.update_or_create(
        organization=organization,
        conversation_kind=conversation_kind,
        defaults={
            "marketplace_limit_minutes": marketplace_limit_minutes,
            "marketplace_calendar": marketplace_calendar,
            "team_target_minutes": team_target_minutes,
            "team_calendar": team_calendar,
            "business_hours": business_hours,
            "warning_minutes": levels,
            "updated_at": timezone.now(),
            "updated_by": acting_user,
        },
    )
    return policy


def sla_day_off_add(organization: Organization, *, day: date, note: str = "", acting_user) -> SlaDayOff:
    _require_lead(organization, acting_user)
    day_off, _ = SlaDayOff.objects.update_or_create(
        organization=organization, day=day, defaults={"note": note.strip()[:200]}
    )
    return day_off


def sla_day_off_remove(day_off: SlaDayOff, *, acting_user) -> None:
    _require_lead(day_off.organization, acting_user)
    day_off.delete()


# ==================================================================================================
# Replay (manage.py sla_replay)
# ==================================================================================================


@dataclass
class ReplayResult:
    conversations: int = 0
    days: int = 0


def sla_replay(
    *,
    since: date,
    organization: Organization | None = None,
    now: datetime | None = None,
    batch_size: int = 200,
) -> ReplayResult:
    """Recompute clocks, records and rollups from the stored messages with the current policies.

    Every conversation with a message, a "no reply needed", a clock or a record on or after `since`
    (Europe/Warsaw) is rebuilt from its first message, so episodes spanning `since` come out right;
    then the rollup rows of every day whose records changed are recomputed from the records. The
    result is what a fresh computation from the same messages gives. Passed warnings and breaches of
    clocks still open are marked without alerts (nobody is notified twice about history).
    """
    now = now or timezone.now()
    since_at = datetime.combine(since, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)
    orgs = [organization] if organization is not None else list(Organization.objects.order_by("pk"))
    result = ReplayResult()
    for org in orgs:
        policies = {(org.pk, k): p for k, p in sla_policies_effective(organization_id=org.pk).items()}
        ids: set[int] = set()
        ids.update(
            Message.objects.filter(organization=org, source_created_at__gte=since_at)
            .values_list("conversation_id", flat=True)
            .distinct()
        )
        ids.update(
            ConversationEvent.objects.filter(
                organization=org, kind=NO_REPLY_NEEDED_EVENT, created_at__gte=since_at
            ).values_list("conversation_id", flat=True)
        )
        # Open clocks are the present: they are recomputed with the current policies too.
        ids.update(
            SlaClock.objects.filter(organization=org)
            .filter(Q(started_at__gte=since_at) | OPEN_Q)
            .values_list("conversation_id", flat=True)
        )
        ids.update(
            ResponseRecord.objects.filter(organization=org, decided_at__gte=since_at).values_list(
                "conversation_id", flat=True
            )
        )
        days: set[date] = set()
        ordered = sorted(ids)
        for i in range(0, len(ordered), batch_size):
            with transaction.atomic():
                touched = _conversations_rebuild(
                    ordered[i : i + batch_size], now=now, policies=policies, silent=True, update_rollups=False
                )
            days |= {day for _org, day in touched}
        _rollups_rebuild(org.pk, days)
        result.conversations += len(ordered)
        result.days += len(days)
    return result
