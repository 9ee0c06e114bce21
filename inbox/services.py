"""Write paths of the inbox. Views, APIs, tasks and commands call these; nothing else writes.

Side effects that leave the database (enqueueing delivery, notifications) run after commit.
Every function is idempotent where it can be called twice for the same outside event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.contracts import ConversationUpdate, InboundMessage
from sla.rules import is_clock_start, is_human_reply

from .attachments import inbound_attachments
from .models import (
    Attachment,
    ChannelAccount,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationEvent,
    ConversationRead,
    Message,
)

logger = logging.getLogger(__name__)

DELIVER_TASK = "integrations.tasks.outbound_message_deliver"
SYNC_TASK = "integrations.tasks.channel_account_sync"
# Marketplace cases that can turn into one another while keeping their id.
CASE_KINDS = (Conversation.Kind.DISCUSSION, Conversation.Kind.CLAIM)


def _sla():
    # Imported lazily: sla depends on inbox's models, inbox calls sla's services.
    from sla import services as sla_services

    return sla_services


def _webhooks_emit(event_type: str, obj) -> None:
    # Webhooks (issue #8): the event's deliveries are stored in the caller's transaction (outbox,
    # savepoint: never fails the change) and enqueued on commit. Imported lazily, like sla.
    from integrations.webhooks import webhooks_emit

    webhooks_emit(event_type, obj)


# --- contacts ----------------------------------------------------------------------------------


def contact_resolve(*, organization_id: int, kind: str, value: str, display_name: str = "") -> Contact | None:
    """The contact behind an identity (login, address), created on first sight. Race-safe."""
    value = value.strip()
    if not value:
        return None
    if kind in (ContactIdentity.Kind.EMAIL, ContactIdentity.Kind.ALLEGROMAIL):
        value = value.lower()
    identity = (
        ContactIdentity.objects.filter(organization_id=organization_id, kind=kind, value=value)
        .select_related("contact")
        .first()
    )
    if identity:
        return identity.contact
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                organization_id=organization_id, display_name=display_name or value
            )
            ContactIdentity.objects.create(
                organization_id=organization_id, contact=contact, kind=kind, value=value
            )
            return contact
    except IntegrityError:
        return ContactIdentity.objects.get(organization_id=organization_id, kind=kind, value=value).contact


# --- conversations -----------------------------------------------------------------------------


def _event(conversation: Conversation, kind: str, *, actor=None, **data) -> None:
    ConversationEvent.objects.create(
        organization_id=conversation.organization_id,
        conversation=conversation,
        actor=actor,
        kind=kind,
        data=data,
    )


def conversation_event_record(conversation: Conversation, kind: str, *, actor=None, **data) -> None:
    """Record an action taken elsewhere (e.g. a claim decision sent to the marketplace) in the audit trail."""
    _event(conversation, kind, actor=actor, **data)


def conversation_get_or_create(
    account: ChannelAccount,
    *,
    kind: str,
    external_id: str,
    subject: str = "",
    buyer_login: str = "",
    buyer_email: str = "",
    order_id: str = "",
    offer_id: str = "",
) -> tuple[Conversation, bool]:
    conversation = Conversation.objects.filter(account=account, kind=kind, external_id=external_id).first()
    if conversation:
        return conversation, False
    return _conversation_create(
        account,
        kind=kind,
        external_id=external_id,
        subject=subject,
        buyer_login=buyer_login,
        buyer_email=buyer_email,
        order_id=order_id,
        offer_id=offer_id,
    )


def _conversation_create(
    account: ChannelAccount,
    *,
    kind: str,
    external_id: str,
    subject: str,
    buyer_login: str,
    buyer_email: str,
    order_id: str,
    offer_id: str,
    savepoint: bool = True,
) -> tuple[Conversation, bool]:
    """Create the conversation (and its contact); race-safe: a concurrent creator's row wins.

    Without `savepoint` (a `ReceiveBatch`), a concurrent creator's conflict raises `IntegrityError`.
    """
    contact = None
    if buyer_login:
        contact = contact_resolve(
            organization_id=account.organization_id,
            kind=ContactIdentity.Kind.ALLEGRO_LOGIN,
            value=buyer_login,
        )
    elif buyer_email:
        kind_email = (
            ContactIdentity.Kind.ALLEGROMAIL
            if buyer_email.lower().endswith("@allegromail.pl")
            else ContactIdentity.Kind.EMAIL
        )
        contact = contact_resolve(organization_id=account.organization_id, kind=kind_email, value=buyer_email)

    def create() -> Conversation:
        conversation = Conversation.objects.create(
            organization_id=account.organization_id,
            account=account,
            kind=kind,
            external_id=external_id,
            subject=subject[:500],
            contact=contact,
            order_id=order_id,
            offer_id=offer_id,
            details={"buyer_login": buyer_login} if buyer_login else {},
        )
        _event(conversation, ConversationEvent.Kind.CREATED)
        _webhooks_emit("conversation.created", conversation)  # webhooks (issue #8)
        return conversation

    if not savepoint:
        return create(), True
    try:
        with transaction.atomic():
            return create(), True
    except IntegrityError:
        return Conversation.objects.get(account=account, kind=kind, external_id=external_id), False


def conversation_apply_update(account: ChannelAccount, update: ConversationUpdate) -> Conversation:
    """Apply marketplace-side state (issue status, chat closed…) from a sync. Idempotent.

    A marketplace case may change kind without changing its id (an Allegro discussion that turns
    into a claim): the conversation is kept and its kind follows.
    """
    sibling = (
        Conversation.objects.filter(account=account, external_id=update.external_id, kind__in=CASE_KINDS)
        .exclude(kind=update.kind)
        .first()
        if update.kind in CASE_KINDS
        else None
    )
    if sibling is not None:
        with transaction.atomic():
            old_kind = sibling.kind
            Conversation.objects.filter(pk=sibling.pk).update(kind=update.kind)
            _event(sibling, ConversationEvent.Kind.STATE_CHANGED, old_kind=old_kind, new_kind=update.kind)
    conversation, _created = conversation_get_or_create(
        account,
        kind=update.kind,
        external_id=update.external_id,
        subject=update.subject,
        buyer_login=update.buyer_login,
        order_id=update.order_id,
        offer_id=update.offer_id,
    )
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        changed = []
        old_state = conversation.marketplace_state
        for field in ("subject", "marketplace_state", "reply_blocked_reason", "order_id", "offer_id"):
            value = getattr(update, field)
            if field in ("subject", "order_id", "offer_id") and not value:
                continue
            if getattr(conversation, field) != value:
                setattr(conversation, field, value)
                changed.append(field)
        details = {**conversation.details, **update.details}
        if details != conversation.details:
            conversation.details = details
            changed.append("details")
        if changed:
            conversation.save(update_fields=changed)
        if "marketplace_state" in changed and old_state:
            _event(
                conversation,
                ConversationEvent.Kind.STATE_CHANGED,
                old=old_state,
                new=conversation.marketplace_state,
            )
    return conversation


def conversation_assign(conversation: Conversation, *, assignee, acting_user) -> Conversation:
    if (
        assignee is not None
        and not assignee.memberships.filter(organization_id=conversation.organization_id).exists()
    ):
        raise PermissionError("The assignee is not a member of this organization")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.assignee_id == (assignee.pk if assignee else None):
            return conversation
        conversation.assignee = assignee
        conversation.save(update_fields=["assignee"])
        if assignee is None:
            _event(conversation, ConversationEvent.Kind.UNASSIGNED, actor=acting_user)
        else:
            _event(
                conversation,
                ConversationEvent.Kind.ASSIGNED,
                actor=acting_user,
                assignee_id=assignee.pk,
                assignee=assignee.get_username(),
            )
    return conversation


def conversation_close(conversation: Conversation, *, acting_user) -> Conversation:
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.status == Conversation.Status.CLOSED:
            return conversation
        conversation.status = Conversation.Status.CLOSED
        conversation.save(update_fields=["status"])
        _event(conversation, ConversationEvent.Kind.CLOSED, actor=acting_user)
    return conversation


def conversation_reopen(conversation: Conversation, *, acting_user) -> Conversation:
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.status == Conversation.Status.OPEN:
            return conversation
        conversation.status = Conversation.Status.OPEN
        conversation.snoozed_until = None
        conversation.save(update_fields=["status", "snoozed_until"])
        _event(conversation, ConversationEvent.Kind.REOPENED, actor=acting_user)
    return conversation


def conversation_mark_read(conversation: Conversation, *, user) -> None:
    # One upsert (INSERT … ON CONFLICT DO UPDATE): the same single query at the first opening and at
    # every later one, and no lock held between a read and a write.
    ConversationRead.objects.bulk_create(
        [ConversationRead(user=user, conversation=conversation, read_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["user", "conversation"],
        update_fields=["read_at"],
    )


# --- messages ----------------------------------------------------------------------------------


# The clock rules (rules.md §2.1) live in sla.rules, shared with the SLA engine and its replay.
_is_clock_start = is_clock_start
_is_human_reply = is_human_reply


def _conversation_apply_message(conversation_id: int, message: Message) -> Conversation:
    """Roll a stored message into the conversation's timestamps and waiting state."""
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    fields = _conversation_roll(conversation, message)
    if fields:
        conversation.save(update_fields=sorted(fields))
    return conversation


def _conversation_roll(conversation: Conversation, message: Message) -> set[str]:
    """Roll a message into the (locked) conversation in memory; returns the fields it changed."""
    at = message.source_created_at
    fields: set[str] = set()

    def bump(name: str, value: datetime) -> None:
        current = getattr(conversation, name)
        if current is None or value > current:
            setattr(conversation, name, value)
            fields.add(name)

    bump("last_message_at", at)
    if message.direction == Message.Direction.INBOUND:
        bump("last_inbound_at", at)
        if _is_clock_start(message) and (
            conversation.last_reply_at is None or at > conversation.last_reply_at
        ):
            if conversation.awaiting_reply_since is None or at < conversation.awaiting_reply_since:
                conversation.awaiting_reply_since = at
                fields.add("awaiting_reply_since")
            if conversation.status in (Conversation.Status.CLOSED, Conversation.Status.SNOOZED):
                conversation.status = Conversation.Status.OPEN
                conversation.snoozed_until = None
                fields |= {"status", "snoozed_until"}
                _event(conversation, ConversationEvent.Kind.REOPENED, reason="buyer wrote")
    else:
        bump("last_outbound_at", at)
        if _is_human_reply(message):
            bump("last_reply_at", at)
            if conversation.awaiting_reply_since is not None and at >= conversation.awaiting_reply_since:
                conversation.awaiting_reply_since = None
                fields.add("awaiting_reply_since")
    return fields


@dataclass
class ReceiveBatch:
    """Lookups shared by many `message_receive` calls inside ONE transaction (an import, a sync).

    The per-message path looks up the message, then the conversation, locks it in a savepoint and
    reads the SLA clocks and policy, for every message: an import of thousands of mails is bound by
    those round trips. A batch holds what its transaction already knows: the external ids checked
    to be new (`prefetch`, one query for the lot), the conversations it locked (a lock lasts until
    the commit, so their rows in memory stay current) and what the SLA engine read (policies, clock
    states). Without a savepoint per message, a concurrent writer's conflict raises
    `IntegrityError` out of `message_receive`: the caller rolls its transaction (or savepoint) back
    and redoes the messages without a batch (as `integrations.email.ingest.email_import` does).
    """

    known_new: set[str] = field(default_factory=set)
    conversations: dict[tuple[str, str], Conversation] = field(default_factory=dict)
    # (kind, external id) of conversations the caller checked are not stored (in this transaction).
    absent_conversations: set[tuple[str, str]] = field(default_factory=set)
    sla_memo: dict = field(default_factory=dict)

    def prefetch(self, account: ChannelAccount, external_ids: Iterable[str]) -> None:
        """Check which of these external ids are not stored yet: one query for the lot."""
        ids = set(external_ids) - self.known_new
        if ids:
            stored = Message.objects.filter(account=account, external_id__in=ids).values_list(
                "external_id", flat=True
            )
            self.known_new |= ids - set(stored)


def message_receive(
    account: ChannelAccount, item: InboundMessage, *, batch: ReceiveBatch | None = None
) -> tuple[Message, bool]:
    """Store one message from a channel sync. Idempotent on (account, external_id).

    With a `batch` (inside the caller's transaction), lookups are shared between calls and a
    conflict with a concurrent writer raises `IntegrityError` instead of being settled here.
    """
    if batch is not None and item.external_id in batch.known_new:
        batch.known_new.discard(item.external_id)  # once stored, a second copy must look it up
        return _receive_in_batch(account, item, batch), True
    existing = Message.objects.filter(account=account, external_id=item.external_id).first()
    if existing is not None:
        return existing, False
    if batch is not None:
        return _receive_in_batch(account, item, batch), True
    conversation, _ = conversation_get_or_create(
        account,
        kind=item.conversation_kind,
        external_id=item.conversation_external_id,
        subject=item.subject,
        buyer_login=item.buyer_login,
        buyer_email=item.buyer_email,
        order_id=item.order_id,
        offer_id=item.offer_id,
    )
    try:
        with transaction.atomic():
            message = _message_store(account, conversation, item)
            conversation = _conversation_apply_message(conversation.pk, message)
            _fill_conversation_refs(conversation, item)
            message.conversation = conversation
            _sla().sla_on_message(message)
            _message_received_emit(message)
    except IntegrityError:
        # Another worker stored it first (concurrent sync): the unique constraint decided.
        return Message.objects.get(account=account, external_id=item.external_id), False
    return message, True


def _receive_in_batch(account: ChannelAccount, item: InboundMessage, batch: ReceiveBatch) -> Message:
    key = (item.conversation_kind, item.conversation_external_id)
    conversation = batch.conversations.get(key)
    if conversation is None:
        if key in batch.absent_conversations:
            batch.absent_conversations.discard(key)
        else:
            conversation = (
                Conversation.objects.select_for_update()
                .filter(account=account, kind=key[0], external_id=key[1])
                .first()
            )
        if conversation is None:
            conversation, _created = _conversation_create(
                account,
                kind=key[0],
                external_id=key[1],
                subject=item.subject,
                buyer_login=item.buyer_login,
                buyer_email=item.buyer_email,
                order_id=item.order_id,
                offer_id=item.offer_id,
                savepoint=False,
            )
            # Created in this transaction: no clocks yet, the SLA engine need not read them.
            batch.sla_memo[("clocks", conversation.pk)] = _sla().SLA_NO_CLOCKS
        batch.conversations[key] = conversation
    message = _message_store(account, conversation, item)
    fields = _conversation_roll(conversation, message) | _conversation_refs(conversation, item)
    if fields:
        conversation.save(update_fields=sorted(fields))
    message.conversation = conversation
    if _sla().sla_on_message(message, memo=batch.sla_memo):
        conversation.refresh_from_db(fields=["awaiting_reply_since"])  # the SLA rebuild set it
    _message_received_emit(message)
    return message


def _message_store(account: ChannelAccount, conversation: Conversation, item: InboundMessage) -> Message:
    message = Message.objects.create(
        organization_id=account.organization_id,
        account=account,
        conversation=conversation,
        direction=item.direction,
        author_type=item.author_type,
        author_name=item.author_name[:200],
        classification=item.classification,
        subject=item.subject[:500],
        text=item.text,
        html=item.html,
        external_id=item.external_id,
        source_created_at=item.created_at,
        delivery_status=Message.DeliveryStatus.DELIVERED,
        delivered_at=item.created_at,
        raw=item.raw,
        problems=list(item.problems),
    )
    if item.attachments:
        # Checked and stored (or kept as a refused record) by inbox.attachments (issue #9).
        Attachment.objects.bulk_create(inbound_attachments(message, item.attachments))
    return message


def _message_received_emit(message: Message) -> None:
    # webhooks (issue #8): a buyer's message, or a reply written outside Replydesk.
    _webhooks_emit(
        "message.received" if message.direction == Message.Direction.INBOUND else "message.sent",
        message,
    )


def _conversation_refs(conversation: Conversation, item: InboundMessage) -> set[str]:
    """Fill in memory the order, offer and subject the conversation lacks; the fields changed."""
    fields = set()
    if item.order_id and not conversation.order_id:
        conversation.order_id = item.order_id
        fields.add("order_id")
    if item.offer_id and not conversation.offer_id:
        conversation.offer_id = item.offer_id
        fields.add("offer_id")
    if item.subject and not conversation.subject:
        conversation.subject = item.subject[:500]
        fields.add("subject")
    return fields


def _fill_conversation_refs(conversation: Conversation, item: InboundMessage) -> None:
    fields = _conversation_refs(conversation, item)
    if fields:
        conversation.save(update_fields=sorted(fields))


def message_reply_create(
    conversation: Conversation,
    *,
    text: str,
    acting_user: AbstractBaseUser | None,
    author_type: str = Message.AuthorType.AGENT,
    idempotency_key=None,
    attachments=(),
    undo_seconds: int = 0,
) -> tuple[Message, bool]:
    """Store a reply as PENDING and enqueue its delivery after commit (the outbox).

    With an idempotency key, a repeated call returns the first reply instead of a second one.
    """
    text = text.strip()
    if not text:
        raise ValueError("A reply needs text")
    if conversation.reply_blocked_reason:
        raise PermissionError(conversation.reply_blocked_reason)
    if idempotency_key is not None:
        existing = Message.objects.filter(
            idempotency_key=idempotency_key, organization_id=conversation.organization_id
        ).first()
        if existing:
            return existing, False
    now = timezone.now()
    kwargs = {"idempotency_key": idempotency_key} if idempotency_key is not None else {}
    try:
        with transaction.atomic():
            message = Message.objects.create(
                organization_id=conversation.organization_id,
                account_id=conversation.account_id,
                conversation=conversation,
                direction=Message.Direction.OUTBOUND,
                author_type=author_type,
                author_user=acting_user,
                author_name=(acting_user.get_full_name() or acting_user.get_username())
                if acting_user
                else "",
                text=text,
                source_created_at=now,
                created_at=now,
                delivery_status=Message.DeliveryStatus.PENDING,
                # The undo window: the outbox does not claim the reply before this instant.
                next_attempt_at=now + timedelta(seconds=undo_seconds) if undo_seconds > 0 else None,
                **kwargs,
            )
            for upload, content_type in attachments:  # checked by inbox.attachments
                Attachment.objects.create(
                    organization_id=conversation.organization_id,
                    message=message,
                    filename=upload.name[:255],
                    content_type=content_type,
                    size=upload.size,
                    file=upload,
                )
            _event(
                conversation, ConversationEvent.Kind.REPLY_QUEUED, actor=acting_user, message_id=message.pk
            )
            if conversation.assignee_id is None and acting_user is not None:
                Conversation.objects.filter(pk=conversation.pk, assignee__isnull=True).update(
                    assignee=acting_user
                )
            transaction.on_commit(lambda: message_delivery_enqueue(message.pk, countdown=undo_seconds))
    except IntegrityError:
        return Message.objects.get(
            idempotency_key=idempotency_key, organization_id=conversation.organization_id
        ), False
    return message, True


def message_delivery_enqueue(message_id: int, *, countdown: int = 0) -> None:
    try:
        current_app.send_task(DELIVER_TASK, args=[message_id], countdown=countdown or None)
    except Exception:  # broker down: the outbox sweep (beat) picks the message up later
        logger.warning("could not enqueue delivery of message %s; the outbox sweep will retry", message_id)


def message_reply_undo(message: Message, *, acting_user) -> str | None:
    """Take a reply back inside its undo window. Returns its text, or None when too late.

    One compare-and-set decides between the undo and the outbox's claim (PENDING → SENDING, which
    waits for `next_attempt_at`): a reply is never both taken back and sent.
    """
    with transaction.atomic():
        taken = Message.objects.filter(
            pk=message.pk,
            direction=Message.Direction.OUTBOUND,
            delivery_status=Message.DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at__gt=timezone.now(),
        ).update(delivery_status=Message.DeliveryStatus.FAILED, failure_reason="undone")
        if not taken:
            return None
        Message.objects.filter(pk=message.pk).delete()
        kind = ConversationEvent.Kind.REPLY_UNDONE
        _event(message.conversation, kind, actor=acting_user, message_id=message.pk)
    return message.text


def message_mark_delivered(message_id: int, *, external_id: str, delivered_at: datetime) -> Message | None:
    """Outbox: SENDING → DELIVERED, attach the provider id. Idempotent."""
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message.delivery_status == Message.DeliveryStatus.DELIVERED:
            return message
        # A sync may have stored the provider's copy before we got here: fold it into ours.
        Message.objects.filter(account_id=message.account_id, external_id=external_id).exclude(
            pk=message.pk
        ).delete()
        message.external_id = external_id
        message.delivery_status = Message.DeliveryStatus.DELIVERED
        message.delivered_at = delivered_at
        message.source_created_at = delivered_at
        message.failure_reason = ""
        message.next_attempt_at = None
        message.save(
            update_fields=[
                "external_id",
                "delivery_status",
                "delivered_at",
                "source_created_at",
                "failure_reason",
                "next_attempt_at",
            ]
        )
        conversation = _conversation_apply_message(message.conversation_id, message)
        _event(
            conversation,
            ConversationEvent.Kind.REPLY_DELIVERED,
            actor=message.author_user,
            message_id=message.pk,
        )
        _sla().sla_on_message(message)
        _webhooks_emit("message.sent", message)  # webhooks (issue #8)
    return message


def message_mark_failed(message_id: int, *, reason: str) -> None:
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message.delivery_status in (Message.DeliveryStatus.DELIVERED, Message.DeliveryStatus.FAILED):
            return
        message.delivery_status = Message.DeliveryStatus.FAILED
        message.failure_reason = reason
        message.next_attempt_at = None
        message.save(update_fields=["delivery_status", "failure_reason", "next_attempt_at"])
        _event(
            message.conversation,
            ConversationEvent.Kind.REPLY_FAILED,
            actor=message.author_user,
            message_id=message.pk,
            reason=reason,
        )


def message_retry(message: Message, *, acting_user) -> Message:
    """An agent retries a failed reply: back to PENDING and enqueued again."""
    updated = Message.objects.filter(pk=message.pk, delivery_status=Message.DeliveryStatus.FAILED).update(
        delivery_status=Message.DeliveryStatus.PENDING, failure_reason="", next_attempt_at=None
    )
    if updated:
        transaction.on_commit(lambda: message_delivery_enqueue(message.pk))
    message.refresh_from_db()
    return message


# --- bounces and cross-channel identities (the e-mail channel) ----------------------------------


def message_mark_bounced(message_id: int, *, reason: str) -> Message:
    """A reply came back as a bounce: it never reached the buyer, so it is FAILED, with the reason.

    Works on a DELIVERED reply too (mail is "delivered" when the SMTP server took it; the bounce
    comes later). The conversation's `last_reply_at` and `awaiting_reply_since` are recomputed
    without this reply (rules.md §2.1: only a reply that reaches the buyer stops the wait); its
    status is left alone (a bounce never reopens a closed conversation). Idempotent.
    """
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message.direction != Message.Direction.OUTBOUND:
            return message
        if message.delivery_status == Message.DeliveryStatus.FAILED:
            return message
        was_delivered = message.delivery_status == Message.DeliveryStatus.DELIVERED
        message.delivery_status = Message.DeliveryStatus.FAILED
        message.failure_reason = reason
        message.next_attempt_at = None
        message.save(update_fields=["delivery_status", "failure_reason", "next_attempt_at"])
        conversation = Conversation.objects.select_for_update().get(pk=message.conversation_id)
        if was_delivered and message.author_type == Message.AuthorType.AGENT:
            _conversation_rewind_reply(conversation)
            # The reply stopped the clocks; it never reached the buyer, so they run again (§2.1).
            _sla().sla_conversation_rebuild(conversation)
        _event(
            conversation,
            ConversationEvent.Kind.REPLY_FAILED,
            actor=message.author_user,
            message_id=message.pk,
            reason=reason,
            bounced=True,
        )
    return message


def _conversation_rewind_reply(conversation: Conversation) -> None:
    """Recompute the wait after a delivered reply turned out not to have reached the buyer."""
    from sla.rules import CLOCK_START_Q, HUMAN_REPLY_Q  # the same predicates as the SLA engine

    messages = Message.objects.filter(conversation=conversation)
    last_reply = (
        messages.filter(HUMAN_REPLY_Q)
        .order_by("-source_created_at")
        .values_list("source_created_at", flat=True)
        .first()
    )
    waiting = messages.filter(CLOCK_START_Q)
    if last_reply is not None:
        waiting = waiting.filter(source_created_at__gt=last_reply)
    first_waiting = waiting.order_by("source_created_at").values_list("source_created_at", flat=True).first()
    conversation.last_reply_at = last_reply
    conversation.awaiting_reply_since = first_waiting
    conversation.save(update_fields=["last_reply_at", "awaiting_reply_since"])


def contact_identity_add(contact: Contact, *, kind: str, value: str) -> Contact:
    """Attach one more identity (e.g. a masked Allegro address) to a known contact. Race-safe.

    If the identity already belongs to a contact, that contact is returned and nothing changes.
    """
    value = value.strip()
    if kind in (ContactIdentity.Kind.EMAIL, ContactIdentity.Kind.ALLEGROMAIL):
        value = value.lower()
    existing = (
        ContactIdentity.objects.filter(organization_id=contact.organization_id, kind=kind, value=value)
        .select_related("contact")
        .first()
    )
    if existing:
        return existing.contact
    try:
        with transaction.atomic():
            ContactIdentity.objects.create(
                organization_id=contact.organization_id, contact=contact, kind=kind, value=value
            )
    except IntegrityError:
        org_id = contact.organization_id
        return ContactIdentity.objects.get(organization_id=org_id, kind=kind, value=value).contact
    return contact
