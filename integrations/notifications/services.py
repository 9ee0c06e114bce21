"""Write paths of notification hygiene (issue #7): plan, flush (send / merge / hold), release,
drop, poll Allegro order events, autoresponders, the report.

Decisions are made by the pure `planner` and `compliance` modules; this module stores them. Messages
leave through the inbox's outbox (`inbox.services.message_reply_create(author_type="automation")`),
so delivery, retries and reconciliation are the reply outbox's; automation never stops an SLA clock.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from inbox import services as inbox_services
from inbox.models import ChannelAccount, Conversation, Message, Organization
from integrations.contracts import ChannelError, InboundMessage
from integrations.models import (
    AutoresponderLog,
    NotificationSettings,
    NotificationTemplate,
    OrderEventCursor,
    PlannedNotification,
)

from . import compliance, planner, replycheck

logger = logging.getLogger(__name__)

WARSAW = ZoneInfo("Europe/Warsaw")
ORDER_EVENTS_PAGE = 100
# Namespace of the idempotency keys of our automatic messages (a re-run stores one message).
KEY_NS = uuid.UUID("6f1d3c2e-8a57-4b8e-9d0a-2f5c1e7a9b40")
# An automatic answer arriving this soon after our automatic message is a machine talking back.
LOOP_WINDOW = timedelta(minutes=10)
# Inbound texts that announce themselves as automatic (besides the mail classification).
AUTOMATIC_TEXT = re.compile(
    r"automatyczn\w* (odpowiedz|wiadomosc)|wiadomosc wygenerowana automatycznie|nie odpowiadaj na"
    r"|poza biurem|auto-?reply|automatic (reply|response|message)|out of (the )?office|do not reply",
)

DEFAULT_TEMPLATES = {
    "order_packed": {
        "pl": "Zamówienie {order_id} ({items}) jest spakowane i czeka na kuriera. "
        "Od tej chwili nie możemy już wprowadzać w nim zmian.",
        "en": "Order {order_id} ({items}) is packed and waiting for the courier. "
        "No further changes to it are possible now.",
    },
    "invoice_issued": {
        "pl": "Faktura do zamówienia {order_id} jest gotowa – przesyłamy ją w załączniku "
        "i jest do pobrania w szczegółach zamówienia na Allegro.",
        "en": "The invoice for order {order_id} is ready: it is attached and can be downloaded "
        "from the order details on Allegro.",
    },
    "return_received": {
        "pl": "Otrzymaliśmy zwrot do zamówienia {order_id} ({items}). Zwrot pieniędzy zlecimy "
        "w ciągu 3 dni roboczych. Adres do zwrotów: {return_address}.",
        "en": "We have received the return for order {order_id} ({items}). We will refund you "
        "within 3 working days. Return address: {return_address}.",
    },
}
GREETING = {"pl": "Dzień dobry {buyer_name},", "en": "Hello {buyer_name},"}
SIGNATURE = {"pl": "Pozdrawiamy", "en": "Kind regards"}


# --- settings and templates ----------------------------------------------------------------------


def settings_for(organization: Organization | int) -> NotificationSettings:
    org_id = organization if isinstance(organization, int) else organization.pk
    obj, _ = NotificationSettings.objects.get_or_create(organization_id=org_id)
    return obj


def reply_undo_seconds(organization_id: int) -> int:
    """The organization's undo window for agent replies (settings.REPLY_UNDO_SECONDS hook)."""
    return int(settings_for(organization_id).undo_seconds)


def policy_from(settings_row: NotificationSettings) -> planner.Policy:
    return planner.Policy(
        enabled=settings_row.enabled,
        merge_window=timedelta(minutes=settings_row.merge_window_minutes),
        cap_per_order=settings_row.cap_per_order,
        cap_per_buyer_day=settings_row.cap_per_buyer_day,
    )


def settings_update(organization: Organization, **values) -> NotificationSettings:
    obj = settings_for(organization)
    for name, value in values.items():
        setattr(obj, name, value)
    obj.save()
    return obj


def template_text(organization_id: int, kind: str, language: str) -> str:
    row = NotificationTemplate.objects.filter(
        organization_id=organization_id, kind=kind, language=language, is_active=True
    ).first()
    if row:
        return row.body
    defaults = DEFAULT_TEMPLATES.get(kind, {})
    return defaults.get(language) or defaults.get("pl", "")


def template_save(organization: Organization, *, kind: str, language: str, body: str) -> NotificationTemplate:
    row, _ = NotificationTemplate.objects.update_or_create(
        organization=organization,
        kind=kind,
        language=language,
        defaults={"body": body, "is_active": True, "updated_at": timezone.now()},
    )
    return row


def order_context(checkout_form: dict, *, return_address: str = "", tracking_number: str = "") -> dict:
    """Template variables from a `GET /order/checkout-forms/{id}` (or an order event's `order`)."""
    buyer = checkout_form.get("buyer") or {}
    name = " ".join(x for x in (buyer.get("firstName"), buyer.get("lastName")) if x) or buyer.get("login", "")
    items = ", ".join(
        f"{(li.get('offer') or {}).get('name', '')} × {li.get('quantity', 1)}"
        for li in checkout_form.get("lineItems") or []
    )
    return {
        "buyer_name": name,
        "order_id": checkout_form.get("id") or (checkout_form.get("checkoutForm") or {}).get("id", ""),
        "items": items,
        "tracking_number": tracking_number,
        "return_address": return_address,
    }


def order_fetch(account: ChannelAccount, order_id: str) -> dict:
    from integrations.allegro.client import AllegroClient

    return AllegroClient(account).get(f"/order/checkout-forms/{order_id}")


def preview_context(
    organization: Organization, *, account: ChannelAccount | None = None, order_id: str = ""
) -> dict:
    """Template variables of a real order (fetched from Allegro) or sample values."""
    s = settings_for(organization)
    if account is not None and order_id:
        return order_context(order_fetch(account, order_id), return_address=s.return_address)
    return {
        "buyer_name": "Anna Nowak",
        "order_id": "29b1f1a0-0000-4000-8000-000000000000",
        "items": "Kubek termiczny 450 ml × 1",
        "tracking_number": "620000000000000000000000",
        "return_address": s.return_address,
    }


def template_preview(
    organization: Organization,
    *,
    kind: str,
    language: str,
    body: str | None = None,
    account: ChannelAccount | None = None,
    order_id: str = "",
) -> str:
    """The template rendered with a real order when one is given (else sample values)."""
    context = preview_context(organization, account=account, order_id=order_id)
    return template_render(organization, kind=kind, language=language, context=context, body=body)


def template_render(
    organization: Organization, *, kind: str, language: str, context: dict, body: str | None = None
) -> str:
    text = body if body is not None else template_text(organization.pk, kind, language)
    return _compose([planner.render(text, context)], language, context)


def _compose(parts: list[str], language: str, context: dict) -> str:
    return planner.merge_texts(
        parts,
        greeting=planner.render(GREETING.get(language, GREETING["pl"]), context),
        signature=SIGNATURE.get(language, SIGNATURE["pl"]),
    )


# --- planning ------------------------------------------------------------------------------------


def _priors(organization_id: int, buyer: str, *, now: datetime) -> list[planner.Prior]:
    rows = PlannedNotification.objects.filter(
        organization_id=organization_id, buyer=buyer, planned_at__gte=now - timedelta(days=60)
    ).values_list("kind", "order_id", "buyer", "state", "planned_at", "event_id")
    return [planner.Prior(*row) for row in rows]


def notification_plan(
    organization_id: int,
    *,
    kind: str,
    source: str,
    order_id: str,
    buyer: str,
    account: ChannelAccount | None = None,
    buyer_email: str = "",
    event_id: str = "",
    occurred_at: datetime | None = None,
    context: dict | None = None,
    language: str = "pl",
    now: datetime | None = None,
) -> tuple[PlannedNotification, bool]:
    """Record one signal and the planner's decision. A repeated Allegro event stores one row."""
    now = now or timezone.now()
    if event_id and account is not None:
        existing = PlannedNotification.objects.filter(account=account, event_id=event_id).first()
        if existing:
            return existing, False
    settings_for(organization_id)  # exists before we lock it
    try:
        with transaction.atomic():
            # One planner at a time per organization: caps and repeats see each other's rows.
            s = NotificationSettings.objects.select_for_update().get(organization_id=organization_id)
            signal = planner.Signal(kind, order_id, buyer, occurred_at or now, event_id)
            decision = planner.decide(
                signal, _priors(organization_id, buyer, now=now), policy_from(s), now=now
            )
            row = PlannedNotification.objects.create(
                organization_id=organization_id,
                account=account,
                kind=kind,
                source=source,
                event_id=event_id,
                order_id=order_id,
                buyer=buyer,
                buyer_email=buyer_email,
                language=language,
                context=context or {},
                state=decision.state,
                reason=decision.reason,
                occurred_at=occurred_at or now,
                planned_at=now,
                decided_at=None if decision.state == planner.PLANNED else now,
            )
            if kind == "order_cancelled":
                # Out of order: a notification already planned for a now-cancelled order waits
                # for the seller (a return/refund message still goes).
                PlannedNotification.objects.filter(
                    organization_id=organization_id, order_id=order_id, state=planner.PLANNED
                ).exclude(kind="return_received").update(
                    state=planner.HELD, reason=planner.R_CANCELLED, decided_at=now
                )
            return row, True
    except IntegrityError:
        return PlannedNotification.objects.get(account=account, event_id=event_id), False


def order_event_ingest(account: ChannelAccount, event: dict, *, now: datetime | None = None):
    """One `GET /order/events` item → a PlannedNotification (or None for types we ignore)."""
    kind = planner.ALLEGRO_EVENT_KINDS.get(event.get("type", ""))
    if kind is None:
        return None
    order = event.get("order") or {}
    buyer = order.get("buyer") or {}
    login = "" if buyer.get("guest") else buyer.get("login", "")
    key = login or (buyer.get("email") or "").lower()
    if not key:
        return None
    order_id = (order.get("checkoutForm") or {}).get("id", "")
    s = settings_for(account.organization_id)
    context = order_context({**order, "id": order_id}, return_address=s.return_address)
    row, _ = notification_plan(
        account.organization_id,
        kind=kind,
        source=PlannedNotification.Source.ALLEGRO,
        order_id=order_id,
        buyer=key,
        account=account,
        buyer_email=buyer.get("email", ""),
        event_id=str(event.get("id", "")),
        occurred_at=_parse_time(event.get("occurredAt")),
        context=context,
        language=language_for_marketplace((order.get("marketplace") or {}).get("id", "")),
        now=now,
    )
    return row


def language_for_marketplace(marketplace_id: str) -> str:
    """Polish for allegro-pl (and when unknown), English for the other Allegro marketplaces."""
    return "pl" if marketplace_id in ("", "allegro-pl") else "en"


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def order_events_poll(account_id: int, *, now: datetime | None = None) -> int:
    """Read new order events after the stored cursor; the cursor moves only after a page is stored.

    The first call only places the cursor at the latest event (history is not replayed).
    """
    from integrations.allegro.client import AllegroClient

    account = ChannelAccount.objects.filter(
        pk=account_id, is_active=True, kind=ChannelAccount.Kind.ALLEGRO
    ).first()
    if account is None or account.health in (
        ChannelAccount.Health.CONNECTING,
        ChannelAccount.Health.AUTH_FAILED,
    ):
        return 0
    cursor, created = OrderEventCursor.objects.get_or_create(account=account)
    client = AllegroClient(account)
    seen = 0
    try:
        if created or cursor.polled_at is None:
            # First poll of an account: start after the latest event (`/order/event-stats`). Older
            # orders' events would only be counted as suppressed duplicates nobody was spared.
            latest = (client.get("/order/event-stats") or {}).get("latestEvent") or {}
            cursor.last_event_id = str(latest.get("id") or "")
            cursor.polled_at = timezone.now()
            cursor.save()
            return 0
        while True:
            params = {"limit": ORDER_EVENTS_PAGE}
            if cursor.last_event_id:
                params["from"] = cursor.last_event_id
            events = (client.get("/order/events", **params) or {}).get("events") or []
            for event in events:
                order_event_ingest(account, event, now=now)
            seen += len(events)
            if events:
                cursor.last_event_id = str(events[-1]["id"])
            cursor.polled_at = timezone.now()
            cursor.last_error = ""
            cursor.save()
            if len(events) < ORDER_EVENTS_PAGE:
                break
    except ChannelError as exc:
        OrderEventCursor.objects.filter(pk=cursor.pk).update(last_error=exc.user_message[:500])
        logger.warning("order events of account %s: %s", account.pk, exc)
    return seen


def seller_trigger(
    organization: Organization,
    *,
    kind: str,
    order_id: str,
    account: ChannelAccount | None = None,
    buyer: str = "",
    buyer_email: str = "",
    tracking_number: str = "",
    language: str | None = None,
    now: datetime | None = None,
) -> PlannedNotification:
    """The seller says: order packed / invoice issued / return received (a form, an API, a script)."""
    if kind not in planner.SELLER_KINDS and kind not in planner.MARKETPLACE_SENT:
        raise ValueError(f"unknown notification kind {kind}")
    s = settings_for(organization)
    context: dict = {}
    known = (
        PlannedNotification.objects.filter(organization=organization, order_id=order_id)
        .order_by("-planned_at")
        .first()
    )
    if known is not None:
        buyer = buyer or known.buyer
        buyer_email = buyer_email or known.buyer_email
        account = account or known.account
        context = dict(known.context)
        language = language or known.language
    if account is not None and account.kind == ChannelAccount.Kind.ALLEGRO and not buyer:
        form = order_fetch(account, order_id)
        form_buyer = form.get("buyer") or {}
        buyer = (
            buyer
            or ("" if form_buyer.get("guest") else form_buyer.get("login", ""))
            or form_buyer.get("email", "")
        )
        buyer_email = buyer_email or form_buyer.get("email", "")
        context = order_context(form, return_address=s.return_address)
        language = language or language_for_marketplace((form.get("marketplace") or {}).get("id", ""))
    if not buyer:
        raise ValueError("unknown buyer for this order")
    context = {**context, "order_id": order_id, "return_address": s.return_address}
    if tracking_number:
        context["tracking_number"] = tracking_number
    context.setdefault("buyer_name", buyer)
    row, _ = notification_plan(
        organization.pk,
        kind=kind,
        source=PlannedNotification.Source.SELLER,
        order_id=order_id,
        buyer=buyer,
        account=account,
        buyer_email=buyer_email,
        context=context,
        language=language or "pl",
        now=now,
    )
    return row


# --- sending -------------------------------------------------------------------------------------


def _conversation_for(row: PlannedNotification) -> tuple[Conversation | None, str]:
    """(conversation, channel) for the buyer: Allegro thread, new Allegro thread, e-mail, or none."""
    org_id = row.organization_id
    allegro_accounts = ChannelAccount.objects.filter(
        organization_id=org_id, kind=ChannelAccount.Kind.ALLEGRO, is_active=True
    )
    if row.account_id:
        allegro_accounts = allegro_accounts.filter(pk=row.account_id)
    thread = None
    is_login = "@" not in row.buyer
    if is_login:
        threads = Conversation.objects.filter(
            organization_id=org_id,
            account__in=allegro_accounts,
            kind=Conversation.Kind.MESSAGE,
            details__buyer_login=row.buyer,
        )
        thread = threads.filter(order_id=row.order_id).first() or threads.order_by("-last_message_at").first()
    email_conv = None
    address = row.buyer_email or ("" if is_login else row.buyer)
    if address:
        email_conv = (
            Conversation.objects.filter(
                organization_id=org_id,
                kind=Conversation.Kind.EMAIL,
                contact__identities__value=address.lower(),
            )
            .order_by("-last_message_at")
            .first()
        )
    channel = planner.choose_channel(
        buyer_login=row.buyer if is_login else "",
        has_allegro_account=allegro_accounts.exists(),
        has_thread=thread is not None,
        buyer_email=address,
        has_mailbox=email_conv is not None,
    )
    if channel == planner.ALLEGRO_THREAD:
        return thread, channel
    if channel == planner.EMAIL:
        return email_conv, channel
    return None, channel


def _text_of(row: PlannedNotification) -> str:
    return planner.render(template_text(row.organization_id, row.kind, row.language), row.context)


def notifications_flush(*, organization_id: int | None = None, now: datetime | None = None) -> int:
    """Send what is due: one message per buyer per merge window. Returns messages sent."""
    now = now or timezone.now()
    planned = PlannedNotification.objects.filter(state=planner.PLANNED)
    if organization_id is not None:
        planned = planned.filter(organization_id=organization_id)
    sent = 0
    for org_id in planned.values_list("organization_id", flat=True).distinct():
        s = settings_for(org_id)
        rows = list(planned.filter(organization_id=org_id))
        for batch in planner.batches_due(rows, window=timedelta(minutes=s.merge_window_minutes), now=now):
            try:
                sent += int(_send_batch([r.pk for r in batch.items], now=now))
            except ChannelError as exc:  # transient: the batch stays planned for the next flush
                logger.warning("notification batch for %s not sent yet: %s", batch.buyer, exc)
    return sent


def _send_batch(ids: list[int], *, now: datetime) -> bool:
    """Send one batch (first item primary, the rest merged into it). True if a message left.

    Into an existing conversation the message goes through the reply outbox, in the same
    transaction as the rows' new states. A buyer without a thread gets a new one (`POST
    /messaging/messages`), which cannot be queued: the rows are committed as SENT first and the
    POST follows, so a crash or an ambiguous error never sends twice (at most once).
    """
    with transaction.atomic():
        rows = list(PlannedNotification.objects.select_for_update().filter(pk__in=ids, state=planner.PLANNED))
        if not rows:
            return False
        order = {pk: i for i, pk in enumerate(ids)}
        rows.sort(key=lambda r: order[r.pk])
        primary = rows[0]
        text = _compose([_text_of(r) for r in rows], primary.language, primary.context)
        row_ids = [r.pk for r in rows]

        def hold(reason: str) -> bool:
            PlannedNotification.objects.filter(pk__in=row_ids).update(
                state=planner.HELD, reason=reason[:300], text=text, decided_at=now, message=None
            )
            return False

        if not any(r.released for r in rows):
            verdict = compliance.check(text)
            if verdict.held:
                return hold(planner.R_COMPLIANCE + ": " + verdict.reason)
        conversation, channel = _conversation_for(primary)
        if channel == planner.NONE:
            return hold(planner.R_NO_CHANNEL)
        message = None
        if channel in (planner.ALLEGRO_THREAD, planner.EMAIL):
            try:
                message, _ = inbox_services.message_reply_create(
                    conversation,
                    text=text,
                    acting_user=None,
                    author_type=Message.AuthorType.AUTOMATION,
                    idempotency_key=uuid.uuid5(KEY_NS, f"notification:{primary.pk}"),
                )
            except PermissionError as exc:  # the marketplace does not allow a reply there
                return hold(str(exc))
        PlannedNotification.objects.filter(pk=primary.pk).update(
            state=planner.SENT, text=text, message=message, decided_at=now, reason=""
        )
        PlannedNotification.objects.filter(pk__in=row_ids[1:]).update(
            state=planner.MERGED, merged_into=primary, decided_at=now, reason=planner.R_MERGED
        )
    if channel != planner.ALLEGRO_NEW:
        return True
    try:
        message = _allegro_thread_start(primary, text)
    except ChannelError as exc:
        if exc.permanent:
            reason = exc.user_message
        elif exc.status == 429:  # refused before processing: nothing went out, try again later
            PlannedNotification.objects.filter(pk__in=row_ids).update(
                state=planner.PLANNED, merged_into=None, decided_at=None, reason=""
            )
            raise
        else:  # a timeout, a dropped connection, a 5xx: it may have gone out; the seller decides
            reason = planner.R_UNKNOWN
        with transaction.atomic():
            PlannedNotification.objects.filter(pk__in=row_ids).update(
                state=planner.HELD, merged_into=None, reason=reason[:300], decided_at=now
            )
        return False
    PlannedNotification.objects.filter(pk=primary.pk).update(message=message)
    return True


def _allegro_thread_start(row: PlannedNotification, text: str) -> Message:
    """No thread with this buyer yet: `POST /messaging/messages` about the order starts one; the
    sent message is stored like a synced one (author automation, delivered)."""
    from integrations.allegro.client import AllegroClient

    account = row.account or (
        ChannelAccount.objects.filter(
            organization_id=row.organization_id, kind=ChannelAccount.Kind.ALLEGRO, is_active=True
        )
        .order_by("pk")
        .first()
    )
    body = AllegroClient(account).request(
        "POST",
        "/messaging/messages",
        json={"recipient": {"login": row.buyer}, "text": text, "order": {"id": row.order_id}},
        is_message_post=True,
    )
    message, _ = inbox_services.message_receive(
        account,
        InboundMessage(
            external_id=body["id"],
            conversation_external_id=(body.get("thread") or {})["id"],
            conversation_kind=Conversation.Kind.MESSAGE,
            direction=Message.Direction.OUTBOUND,
            author_type=Message.AuthorType.AUTOMATION,
            created_at=_parse_time(body.get("createdAt")) or timezone.now(),
            text=text,
            buyer_login=row.buyer,
            order_id=row.order_id,
            raw=body,
        ),
    )
    return message


def notification_release(
    row: PlannedNotification, *, acting_user, now: datetime | None = None
) -> PlannedNotification:
    """The seller sends a held notification anyway: it skips the compliance check, due at once."""
    now = now or timezone.now()
    window = timedelta(minutes=settings_for(row.organization_id).merge_window_minutes)
    PlannedNotification.objects.filter(pk=row.pk, state=planner.HELD).update(
        state=planner.PLANNED,
        released=True,
        released_by=acting_user,
        planned_at=now - window,
        reason="",
        decided_at=None,
    )
    row.refresh_from_db()
    if row.state == planner.PLANNED:
        notifications_flush(organization_id=row.organization_id, now=now)
        row.refresh_from_db()
    return row


def notification_drop(row: PlannedNotification, *, now: datetime | None = None) -> PlannedNotification:
    PlannedNotification.objects.filter(pk=row.pk, state=planner.HELD).update(
        state=planner.DROPPED, decided_at=now or timezone.now()
    )
    row.refresh_from_db()
    return row


# --- autoresponders ------------------------------------------------------------------------------


def _looks_automatic(message: Message) -> bool:
    return message.classification != Message.Classification.HUMAN or bool(
        AUTOMATIC_TEXT.search(compliance.normalize(message.text or ""))
    )


def autoresponder_consider(message_id: int, *, now: datetime | None = None) -> AutoresponderLog | None:
    """Acknowledge one inbound buyer message automatically, if the seller turned it on.

    At most one per conversation per period; never to automatic mail; always author_type
    automation (Auto-Submitted on mail, never an SLA reply). Loop guard: an automatic answer to
    our automatic message stops the exchange there and flags the conversation.
    """
    now = now or timezone.now()
    message = (
        Message.objects.select_related("conversation")
        .filter(pk=message_id, direction=Message.Direction.INBOUND)
        .first()
    )
    if message is None or message.author_type != Message.AuthorType.BUYER:
        return None
    s = settings_for(message.organization_id)
    if not s.autoresponder_enabled or not s.autoresponder_text.strip():
        return None
    existing = AutoresponderLog.objects.filter(inbound=message).first()
    if existing:
        return existing
    conversation = message.conversation
    if conversation.kind not in (Conversation.Kind.MESSAGE, Conversation.Kind.EMAIL):
        return None  # discussions and claims are answered by people only

    def log(outcome: str, reason: str = "", reply: Message | None = None) -> AutoresponderLog:
        try:
            with transaction.atomic():
                return AutoresponderLog.objects.create(
                    organization_id=message.organization_id,
                    conversation=conversation,
                    inbound=message,
                    reply=reply,
                    outcome=outcome,
                    reason=reason,
                    created_at=now,
                )
        except IntegrityError:
            return AutoresponderLog.objects.get(inbound=message)

    ours = Message.objects.filter(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        author_type=Message.AuthorType.AUTOMATION,
    )
    if _looks_automatic(message):
        last_ours = ours.filter(created_at__lte=message.created_at).order_by("-created_at").first()
        if last_ours is not None and message.created_at - last_ours.created_at <= LOOP_WINDOW:
            details = dict(conversation.details or {})
            details["automation_loop"] = {"at": now.isoformat(), "message_id": message.pk}
            Conversation.objects.filter(pk=conversation.pk).update(details=details)
            return log(AutoresponderLog.Outcome.LOOP, "An automatic sender answered our automatic message")
        return log(AutoresponderLog.Outcome.SKIPPED, "Automatic mail is never answered")
    if (conversation.details or {}).get("automation_loop"):
        return log(AutoresponderLog.Outcome.SKIPPED, "Automation loop flagged on this conversation")
    verdict = compliance.check(s.autoresponder_text)
    if verdict.held:
        return log(AutoresponderLog.Outcome.SKIPPED, (planner.R_COMPLIANCE + ": " + verdict.reason)[:200])
    if ours.filter(created_at__gte=now - timedelta(hours=s.autoresponder_period_hours)).exists():
        return log(AutoresponderLog.Outcome.SKIPPED, "Already acknowledged in this period")
    try:
        reply, _ = inbox_services.message_reply_create(
            conversation,
            text=s.autoresponder_text,
            acting_user=None,
            author_type=Message.AuthorType.AUTOMATION,
            idempotency_key=uuid.uuid5(KEY_NS, f"autoresponder:{message.pk}"),
        )
    except PermissionError as exc:
        return log(AutoresponderLog.Outcome.SKIPPED, str(exc)[:200])
    return log(AutoresponderLog.Outcome.SENT, "", reply)


def autoresponders_run(*, since: timedelta = timedelta(minutes=15), now: datetime | None = None) -> int:
    """Beat: consider recent inbound buyer messages of organizations that turned acknowledgements on."""
    now = now or timezone.now()
    org_ids = NotificationSettings.objects.filter(autoresponder_enabled=True).values_list(
        "organization_id", flat=True
    )
    handled = AutoresponderLog.objects.filter(created_at__gte=now - since - timedelta(hours=1)).values(
        "inbound_id"
    )
    ids = (
        Message.objects.filter(
            organization_id__in=list(org_ids),
            direction=Message.Direction.INBOUND,
            author_type=Message.AuthorType.BUYER,
            created_at__gte=now - since,
        )
        .exclude(pk__in=handled)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    count = 0
    for pk in ids:
        result = autoresponder_consider(pk, now=now)
        count += int(bool(result and result.outcome == AutoresponderLog.Outcome.SENT))
    return count


# --- agent reply check (hook for the reply form) ----------------------------------------------------


def reply_check(conversation: Conversation, text: str) -> list[str]:
    """Warnings to show before an agent's reply is sent (English msgids; the form translates).

    Hook for inbox's reply form: call before `message_reply_create`; on a non-empty list show the
    warnings and ask to confirm (a hidden `confirmed=1` field on the second submit).
    """
    s = settings_for(conversation.organization_id)
    templates = list(
        NotificationTemplate.objects.filter(organization_id=conversation.organization_id).values_list(
            "body", flat=True
        )
    )
    templates += [s.autoresponder_text] if s.autoresponder_text else []
    templates += [t for kinds in DEFAULT_TEMPLATES.values() for t in kinds.values()]
    last_buyer = (
        Message.objects.filter(conversation=conversation, direction=Message.Direction.INBOUND)
        .order_by("-source_created_at", "-id")
        .values_list("text", flat=True)
        .first()
        or ""
    )
    warnings = []
    warning = replycheck.template_warning(text, templates, last_buyer, enabled=s.template_warning_enabled)
    if warning:
        warnings.append(warning)
    if compliance.check(text).held:
        warnings.append(planner.R_COMPLIANCE)
    return warnings


# --- report --------------------------------------------------------------------------------------


@dataclass
class ReportDay:
    day: date
    planned: int = 0
    merged: int = 0
    suppressed: int = 0
    held: int = 0
    sent: int = 0
    dropped: int = 0

    @property
    def saved(self) -> int:
        """Mails the buyer did not get: marketplace duplicates, merged into another, dropped."""
        return self.suppressed + self.merged + self.dropped

    @property
    def total(self) -> int:
        return self.planned + self.merged + self.suppressed + self.held + self.sent + self.dropped


def notification_report(
    organization: Organization, *, days: int = 30, now: datetime | None = None
) -> list[ReportDay]:
    """Per day (Europe/Warsaw), newest first: what was planned, merged, suppressed, held, sent."""
    now = now or timezone.now()
    today = now.astimezone(WARSAW).date()
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tzinfo=WARSAW)
    rows = (
        PlannedNotification.objects.filter(organization=organization, planned_at__gte=start)
        .annotate(day=TruncDate("planned_at", tzinfo=WARSAW))
        .values("day", "state")
        .annotate(n=Count("id"))
    )
    by_day = {today - timedelta(days=i): ReportDay(today - timedelta(days=i)) for i in range(days)}
    for row in rows:
        entry = by_day.get(row["day"])
        if entry is not None and hasattr(entry, row["state"]):
            setattr(entry, row["state"], getattr(entry, row["state"]) + row["n"])
    return [by_day[d] for d in sorted(by_day, reverse=True)]


def report_totals(days: list[ReportDay]) -> ReportDay:
    total = ReportDay(day=days[-1].day if days else timezone.localdate())
    for d in days:
        for name in ("planned", "merged", "suppressed", "held", "sent", "dropped"):
            setattr(total, name, getattr(total, name) + getattr(d, name))
    return total


def reason_display(reason: str) -> str:
    """A stored reason (English msgids joined by ": " and "; ") in the current language."""
    from django.utils.translation import gettext

    if not reason:
        return ""
    head, sep, tail = reason.partition(": ")
    if sep and head == planner.R_COMPLIANCE:
        return gettext(head) + ": " + "; ".join(gettext(part) for part in tail.split("; "))
    return gettext(reason)


def held_list(organization: Organization):
    return PlannedNotification.objects.filter(organization=organization, state=planner.HELD).order_by(
        "-planned_at"
    )


def recent_list(organization: Organization, limit: int = 50):
    return PlannedNotification.objects.filter(organization=organization).order_by("-planned_at", "-id")[
        :limit
    ]


def order_events_poll_all() -> int:
    """Every active Allegro account's new order events; one broken account does not stop the rest."""
    seen = 0
    for account_id in accounts_to_poll():
        try:
            seen += order_events_poll(account_id)
        except Exception:
            logger.exception("order events poll of account %s failed", account_id)
    return seen


def accounts_to_poll() -> list[int]:
    return list(
        ChannelAccount.objects.filter(is_active=True, kind=ChannelAccount.Kind.ALLEGRO)
        .exclude(health__in=[ChannelAccount.Health.CONNECTING, ChannelAccount.Health.AUTH_FAILED])
        .values_list("id", flat=True)
    )
