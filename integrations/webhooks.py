"""Outbound webhooks (issue #8): subscriptions, the webhook outbox, signed delivery. docs/webhooks.md.

How it fits together (Saleor's EventDelivery/EventDeliveryAttempt, our reply outbox):

* `webhooks_emit(event_type, obj)` is called by `inbox.services` inside the transaction that made
  the change (conversation created, message stored, reply delivered); the SLA beat's
  `sla.signals` reach `on_sla_warning` / `on_sla_breached` after its commit. Emitting writes one
  `WebhookDelivery` row per active subscription of the organization that wants the event, in a
  savepoint of that same transaction (a bug here is logged, it never fails the change), and
  enqueues `integrations.tasks.webhook_deliver` on commit. Event ids are derived from the object
  (uuid5), and `(subscription, event_id)` is unique, so emitting twice stores one delivery.
* `webhook_deliver(delivery_id)` claims the row with a compare-and-set (PENDING → SENDING), POSTs the
  signed JSON, records a `WebhookAttempt` and either marks it DELIVERED, parks the next attempt in
  `next_attempt_at` (exponential backoff with jitter, 30 s … 6 h, `WEBHOOK_MAX_ATTEMPTS` in all) or
  fails it. The beat sweep (`webhook_deliveries_sweep`, every 30 s) enqueues what is due and puts
  back rows left in SENDING by a killed worker: delivery is at least once, receivers dedupe on the
  event id.
* A delivery that fails for good (a permanent answer such as 404/410, or attempts exhausted) counts
  against its subscription; `WEBHOOK_DISABLE_AFTER_FAILURES` in a row disable it (a success resets).

Signature: `Replydesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`
(one `v1` per valid secret: two for 24 h after a rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets as secrets_module
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from celery import current_app
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from inbox.models import Conversation, Membership, Message, Organization

from .models import WebhookAttempt, WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

EVENTS = WebhookSubscription.Event
PING = "ping"
DELIVER_TASK = "integrations.tasks.webhook_deliver"
SECRET_PREFIX = "whsec_"
SECRET_OVERLAP = timedelta(hours=24)
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 6 * 3600
USER_AGENT = "Replydesk-Webhooks/1"
_EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "replydesk:webhooks")


# ==================================================================================================
# Signing
# ==================================================================================================


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """hex HMAC-SHA256 of `<timestamp>.<body>` with the subscription's secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets)])


def _secret_new() -> str:
    return SECRET_PREFIX + secrets_module.token_urlsafe(32)


def _signing_secrets(subscription: WebhookSubscription, now: datetime) -> list[str]:
    stored = subscription.secrets or {}
    result = [stored["current"]] if stored.get("current") else []
    until = stored.get("previous_until")
    if stored.get("previous") and until and datetime.fromisoformat(until) > now:
        result.append(stored["previous"])
    return result


# ==================================================================================================
# Subscriptions (owners and team leads)
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
        raise PermissionError("Only an owner or a team lead can manage webhooks")


def _clean_events(events) -> list[str]:
    chosen = sorted({e for e in events if e in EVENTS.values})
    if not chosen:
        raise ValueError("Choose at least one event")
    return chosen


def webhook_subscription_list(*, organization: Organization) -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.filter(organization=organization).order_by("created_at", "id")


def webhook_subscription_get(*, organization: Organization, pk: int) -> WebhookSubscription:
    return get_object_or_404(WebhookSubscription, organization=organization, pk=pk)


def webhook_delivery_list(subscription: WebhookSubscription, *, limit: int = 50) -> list[WebhookDelivery]:
    return list(
        WebhookDelivery.objects.filter(subscription=subscription)
        .prefetch_related("attempt_rows")
        .order_by("-created_at", "-id")[:limit]
    )


def webhook_delivery_get(*, organization: Organization, pk: int) -> WebhookDelivery:
    return get_object_or_404(
        WebhookDelivery.objects.select_related("subscription"), organization=organization, pk=pk
    )


def webhook_subscription_create(
    *, organization: Organization, url: str, events, description: str = "", acting_user
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret (shown once)."""
    _require_lead(organization, acting_user)
    secret = _secret_new()
    subscription = WebhookSubscription.objects.create(
        organization=organization,
        url=url,
        events=_clean_events(events),
        description=description.strip()[:200],
        secrets={"current": secret},
        created_by=acting_user,
    )
    _subscribed.pop(organization.pk, None)
    return subscription, secret


def webhook_subscription_update(
    subscription: WebhookSubscription, *, url: str, events, description: str = "", acting_user
) -> WebhookSubscription:
    _require_lead(subscription.organization, acting_user)
    subscription.url = url
    subscription.events = _clean_events(events)
    subscription.description = description.strip()[:200]
    subscription.save(update_fields=["url", "events", "description"])
    _subscribed.pop(subscription.organization_id, None)
    return subscription


def webhook_subscription_set_active(
    subscription: WebhookSubscription, *, active: bool, acting_user
) -> WebhookSubscription:
    """Enable (resets the failure count) or disable by hand."""
    _require_lead(subscription.organization, acting_user)
    if active:
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            is_active=True, disabled_at=None, disabled_reason="", consecutive_failures=0
        )
    else:
        WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).update(
            is_active=False, disabled_at=timezone.now(), disabled_reason="Disabled by hand."
        )
    subscription.refresh_from_db()
    _subscribed.pop(subscription.organization_id, None)
    return subscription


def webhook_subscription_rotate_secret(subscription: WebhookSubscription, *, acting_user) -> str:
    """A new secret; the old one still signs (as a second `v1`) for 24 hours."""
    _require_lead(subscription.organization, acting_user)
    secret = _secret_new()
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        locked.secrets = {
            "current": secret,
            "previous": (locked.secrets or {}).get("current", ""),
            "previous_until": (timezone.now() + SECRET_OVERLAP).isoformat(),
        }
        locked.save(update_fields=["secrets"])
    return secret


def webhook_subscription_delete(subscription: WebhookSubscription, *, acting_user) -> None:
    _require_lead(subscription.organization, acting_user)
    subscription.delete()
    _subscribed.pop(subscription.organization_id, None)


def webhook_ping(subscription: WebhookSubscription, *, acting_user) -> WebhookDelivery:
    """A `ping` event to this subscription only (the "Send test event" button)."""
    _require_lead(subscription.organization, acting_user)
    event_id = uuid.uuid4()
    data = {"subscription_id": subscription.pk, "message": "Replydesk test event"}
    ids = _deliveries_create(
        organization_id=subscription.organization_id,
        event_type=PING,
        event_id=event_id,
        data=lambda: data,
        subscriptions=[subscription],
    )
    return WebhookDelivery.objects.get(pk=ids[0])


def webhook_delivery_redeliver(delivery: WebhookDelivery, *, acting_user) -> WebhookDelivery:
    """Try a failed (or delivered) delivery again now, with a fresh retry budget."""
    _require_lead(delivery.subscription.organization, acting_user)
    updated = WebhookDelivery.objects.filter(
        pk=delivery.pk, status__in=[WebhookDelivery.Status.FAILED, WebhookDelivery.Status.DELIVERED]
    ).update(status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=None, last_error="")
    if updated:
        transaction.on_commit(lambda: _enqueue([delivery.pk]))
    delivery.refresh_from_db()
    return delivery


# ==================================================================================================
# Emitting events (the outbox)
# ==================================================================================================


def _event_id(event_type: str, key: str) -> uuid.UUID:
    return uuid.uuid5(_EVENT_NAMESPACE, f"{event_type}:{key}")


def _enqueue(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        try:
            current_app.send_task(DELIVER_TASK, args=[delivery_id])
        except Exception:  # broker down: the sweep (beat) enqueues it later
            logger.warning("could not enqueue webhook delivery %s; the sweep will retry", delivery_id)


def _deliveries_create(
    *,
    organization_id: int,
    event_type: str,
    event_id: uuid.UUID,
    data: Callable[[], dict],
    subscriptions: list[WebhookSubscription] | None = None,
) -> list[int]:
    if subscriptions is None:
        subscriptions = [
            s
            for s in WebhookSubscription.objects.filter(organization_id=organization_id, is_active=True)
            if event_type in s.events
        ]
    if not subscriptions:
        return []
    organization = Organization.objects.only("pk", "slug").get(pk=organization_id)
    envelope = {
        "id": str(event_id),
        "type": event_type,
        "created_at": timezone.now().isoformat(),
        "organization": {"id": organization.pk, "slug": organization.slug},
        "data": data(),
    }
    payload = json.loads(json.dumps(envelope, cls=DjangoJSONEncoder))
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                organization_id=organization_id,
                subscription=s,
                event_id=event_id,
                event_type=event_type,
                payload=payload,
            )
            for s in subscriptions
        ],
        ignore_conflicts=True,  # the same event emitted twice: (subscription, event_id) is unique
    )
    ids = list(
        WebhookDelivery.objects.filter(
            subscription__in=subscriptions,
            event_id=event_id,
            status=WebhookDelivery.Status.PENDING,
            attempts=0,
        ).values_list("id", flat=True)
    )
    transaction.on_commit(lambda: _enqueue(ids))
    return ids


# Which event types an organization's active subscriptions want, remembered for a few seconds per
# process: the inbox emits an event for every stored message, and most organizations subscribe to
# nothing, so the hot path (sync, mail import) skips the lookup and the savepoint. A new or changed
# subscription is seen within SUBSCRIBED_TTL seconds.
SUBSCRIBED_TTL = 5.0
_subscribed: dict[int, tuple[float, frozenset[str]]] = {}


def _subscribed_events(organization_id: int) -> frozenset[str]:
    now = time.monotonic()
    hit = _subscribed.get(organization_id)
    if hit is not None and now - hit[0] < SUBSCRIBED_TTL:
        return hit[1]
    events: set[str] = set()
    active = WebhookSubscription.objects.filter(organization_id=organization_id, is_active=True)
    for subscribed in active.values_list("events", flat=True):
        events.update(subscribed or ())
    _subscribed[organization_id] = (now, frozenset(events))
    return _subscribed[organization_id][1]


def webhook_event_emit(
    *, organization_id: int, event_type: str, event_id: uuid.UUID, data: Callable[[], dict]
) -> int:
    """Store the event's deliveries in the caller's transaction (savepoint) and enqueue on commit.

    Never raises: a failure here is logged and the caller's change goes on without its webhook.
    """
    if event_type not in _subscribed_events(organization_id):
        return 0
    try:
        with transaction.atomic():
            return len(
                _deliveries_create(
                    organization_id=organization_id, event_type=event_type, event_id=event_id, data=data
                )
            )
    except Exception:
        logger.exception("could not store webhook event %s %s", event_type, event_id)
        return 0


def _conversation_data(conversation: Conversation) -> dict:
    from inbox.api import ConversationOutput  # the API's representation, so payloads match GET responses

    return dict(ConversationOutput(conversation).data)


def _message_data(message: Message) -> dict:
    from inbox.api import MessageOutput

    message = (
        Message.objects.select_related("conversation__account", "conversation__assignee")
        .prefetch_related("attachments")
        .get(pk=message.pk)
    )
    return {
        "message": dict(MessageOutput(message).data),
        "conversation": _conversation_data(message.conversation),
    }


def webhooks_emit(event_type: str, obj: Conversation | Message) -> int:
    """The inbox's hook: `conversation.created` with a Conversation, `message.*` with a Message."""
    if event_type == EVENTS.CONVERSATION_CREATED:
        return webhook_event_emit(
            organization_id=obj.organization_id,
            event_type=event_type,
            event_id=_event_id(event_type, str(obj.pk)),
            data=lambda: {"conversation": _conversation_data(obj)},
        )
    if event_type in (EVENTS.MESSAGE_RECEIVED, EVENTS.MESSAGE_SENT):
        return webhook_event_emit(
            organization_id=obj.organization_id,
            event_type=event_type,
            event_id=_event_id(event_type, str(obj.pk)),
            data=lambda: _message_data(obj),
        )
    raise ValueError(f"webhooks_emit does not build {event_type!r}")


def _sla_data(*, conversation_id: int, clock_id: int, clock_kind: str, due_at, level_minutes=None) -> dict:
    conversation = (
        Conversation.objects.select_related("account", "assignee").filter(pk=conversation_id).first()
    )
    clock = {"id": clock_id, "kind": clock_kind, "due_at": due_at}
    if level_minutes is not None:
        clock["level_minutes"] = level_minutes
    return {"clock": clock, "conversation": _conversation_data(conversation) if conversation else None}


def on_sla_warning(
    sender, *, clock_id, organization_id, conversation_id, clock_kind, due_at, level_minutes, **kwargs
) -> None:
    """`sla.signals.sla_warning` receiver (connected in IntegrationsConfig.ready)."""
    webhook_event_emit(
        organization_id=organization_id,
        event_type=EVENTS.SLA_WARNING,
        event_id=_event_id(EVENTS.SLA_WARNING, f"{clock_id}:{level_minutes}"),
        data=lambda: _sla_data(
            conversation_id=conversation_id,
            clock_id=clock_id,
            clock_kind=clock_kind,
            due_at=due_at,
            level_minutes=level_minutes,
        ),
    )


def on_sla_breached(
    sender, *, clock_id, organization_id, conversation_id, clock_kind, due_at, **kwargs
) -> None:
    """`sla.signals.sla_breached` receiver (connected in IntegrationsConfig.ready)."""
    webhook_event_emit(
        organization_id=organization_id,
        event_type=EVENTS.SLA_BREACHED,
        event_id=_event_id(EVENTS.SLA_BREACHED, str(clock_id)),
        data=lambda: _sla_data(
            conversation_id=conversation_id, clock_id=clock_id, clock_kind=clock_kind, due_at=due_at
        ),
    )


# ==================================================================================================
# Delivering
# ==================================================================================================


def _backoff(attempt: int) -> timedelta:
    """30 s, 60 s, 2 min … capped at 6 h, with jitter (half fixed, half random)."""
    base = min(BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0), BACKOFF_MAX_SECONDS)
    return timedelta(seconds=base / 2 + random.uniform(0, base / 2))


def _retry_after_seconds(response: httpx.Response) -> int | None:
    value = response.headers.get("Retry-After", "")
    return min(int(value), BACKOFF_MAX_SECONDS) if value.isdigit() else None


def _classify(status_code: int) -> str:
    if 200 <= status_code < 300:
        return WebhookAttempt.Outcome.DELIVERED
    if status_code in (408, 425, 429) or status_code >= 500:
        return WebhookAttempt.Outcome.TRANSIENT
    return WebhookAttempt.Outcome.PERMANENT  # 3xx (we do not follow redirects) and other 4xx


def _post(
    delivery: WebhookDelivery, subscription: WebhookSubscription
) -> tuple[str, int | None, str, str, int | None]:
    """POST once: (outcome, status code, error, response excerpt, Retry-After seconds)."""
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Replydesk-Event": delivery.event_type,
        "Replydesk-Event-Id": str(delivery.event_id),
        "Replydesk-Delivery": str(delivery.pk),
        "Replydesk-Signature": signature_header(
            _signing_secrets(subscription, timezone.now()), timestamp, body
        ),
    }
    try:
        response = httpx.post(
            subscription.url,
            content=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            follow_redirects=False,
        )
    except httpx.TimeoutException:
        return WebhookAttempt.Outcome.TRANSIENT, None, "Timed out", "", None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return WebhookAttempt.Outcome.PERMANENT, None, f"Invalid URL: {exc.__class__.__name__}", "", None
    except httpx.HTTPError as exc:
        return (
            WebhookAttempt.Outcome.TRANSIENT,
            None,
            f"Connection failed: {exc.__class__.__name__}",
            "",
            None,
        )
    outcome = _classify(response.status_code)
    error = "" if outcome == WebhookAttempt.Outcome.DELIVERED else f"HTTP {response.status_code}"
    return outcome, response.status_code, error, response.text[:500], _retry_after_seconds(response)


def webhook_deliver(delivery_id: int) -> str:
    """Deliver one webhook outbox row once. Returns delivered | retry | failed | skipped."""
    now = timezone.now()
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=WebhookDelivery.Status.SENDING, sending_started_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    if not subscription.is_active:
        _finish(delivery, status=WebhookDelivery.Status.FAILED, error="The subscription is disabled.")
        return "failed"
    started = time.monotonic()
    outcome, status_code, error, excerpt, retry_after = _post(delivery, subscription)
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=WebhookAttempt.objects.filter(delivery=delivery).count() + 1,
        started_at=now,
        duration_ms=int((time.monotonic() - started) * 1000),
        outcome=outcome,
        status_code=status_code,
        error=error,
        response_excerpt=excerpt,
    )
    if outcome == WebhookAttempt.Outcome.DELIVERED:
        _finish(delivery, status=WebhookDelivery.Status.DELIVERED, delivered_at=timezone.now())
        WebhookSubscription.objects.filter(pk=subscription.pk, consecutive_failures__gt=0).update(
            consecutive_failures=0
        )
        return "delivered"
    if outcome == WebhookAttempt.Outcome.TRANSIENT and delivery.attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        wait = _backoff(delivery.attempts)
        if retry_after is not None:
            wait = max(wait, timedelta(seconds=retry_after))
        _finish(
            delivery,
            status=WebhookDelivery.Status.PENDING,
            error=error,
            next_attempt_at=timezone.now() + wait,
        )
        return "retry"
    _finish(delivery, status=WebhookDelivery.Status.FAILED, error=error)
    _subscription_failed(subscription.pk, reason=error)
    return "failed"


def _finish(
    delivery: WebhookDelivery, *, status: str, error: str = "", next_attempt_at=None, delivered_at=None
) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.SENDING).update(
        status=status, last_error=error[:500], next_attempt_at=next_attempt_at, delivered_at=delivered_at
    )


def _subscription_failed(subscription_id: int, *, reason: str) -> None:
    """One more delivery failed for good; disable the subscription at the threshold (CAS, once)."""
    WebhookSubscription.objects.filter(pk=subscription_id).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    threshold = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    disabled = WebhookSubscription.objects.filter(
        pk=subscription_id, is_active=True, consecutive_failures__gte=threshold
    ).update(
        is_active=False,
        disabled_at=timezone.now(),
        disabled_reason=f"Disabled after {threshold} failed deliveries in a row (last: {reason})."[:300],
    )
    if disabled:
        logger.warning(
            "webhook subscription %s disabled after %s failed deliveries", subscription_id, threshold
        )


def webhook_deliveries_sweep(*, limit: int = 500) -> list[int]:
    """Ids of deliveries to (re)try now: due PENDING rows and SENDING rows of a killed worker."""
    now = timezone.now()
    WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.SENDING,
        sending_started_at__lt=now - timedelta(seconds=settings.WEBHOOK_SENDING_STALE_SECONDS),
    ).update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now)
    due = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).filter(
        Q(next_attempt_at__isnull=True, created_at__lt=now - timedelta(seconds=20))
        | Q(next_attempt_at__lte=now)
    )
    return list(due.order_by("created_at", "id").values_list("id", flat=True)[:limit])


def webhooks_emit_quality_updated(
    *, organization_id: int, account_id: int, day, score, grade, max_score
) -> int:
    """`quality.updated`: an account's official daily figures arrived or changed (same figures → same
    event id, so a re-import announces nothing new)."""
    payload = {
        "account": {"id": account_id},
        "day": str(day),
        "score": score,
        "grade": grade,
        "max_score": max_score,
    }
    return webhook_event_emit(
        organization_id=organization_id,
        event_type=EVENTS.QUALITY_UPDATED,
        event_id=_event_id(EVENTS.QUALITY_UPDATED, f"{account_id}:{day}:{score}:{grade}"),
        data=lambda: payload,
    )
