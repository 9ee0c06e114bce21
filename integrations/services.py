"""Channel-facing write paths: sync an account, deliver an outbound message (the outbox)."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from itertools import groupby

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inbox import services as inbox_services
from inbox.models import ChannelAccount, Message

from .contracts import AuthorizationLost, ChannelError, outbound_from_message
from .models import DeliveryAttempt, SyncRun
from .registry import get_adapter

logger = logging.getLogger(__name__)

SYNC_LOCK_SECONDS = 600
# A reply left in SENDING this long was interrupted (worker killed): reconcile, then resend.
SENDING_STALE_AFTER = timedelta(minutes=2)
MAX_DELIVERY_ATTEMPTS = 8


def _backoff(attempt: int) -> timedelta:
    """Exponential backoff with full jitter: ~10 s, 20 s, 40 s … capped at 30 min."""
    base = min(10 * 2 ** max(attempt - 1, 0), 1800)
    return timedelta(seconds=base / 2 + random.uniform(0, base / 2))


def channel_account_sync(account_id: int) -> SyncRun | None:
    """Fetch what is new on one account and store it. Safe to run twice or concurrently.

    A cache lock keeps two workers from doing the same HTTP work; correctness does not depend on
    it (messages are unique per account and external id). The cursor is saved only after every
    item is stored, so a crash mid-sync loses nothing: the next run fetches the same items again.
    """
    account = ChannelAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is None or account.health in (
        ChannelAccount.Health.CONNECTING,
        ChannelAccount.Health.AUTH_FAILED,
    ):
        return None
    lock_key = f"sync-lock:{account.pk}"
    if not cache.add(lock_key, "1", SYNC_LOCK_SECONDS):
        logger.info("sync of account %s already running", account.pk)
        return None
    run = SyncRun.objects.create(account=account)
    try:
        adapter = get_adapter(account)
        result = adapter.fetch(cursor=account.sync_cursor or {})
        for update in result.conversations:
            inbox_services.conversation_apply_update(account, update)
        # One transaction per conversation: a commit (WAL flush) per thread, not per message.
        for _key, group in groupby(
            result.items, key=lambda i: (i.conversation_kind, i.conversation_external_id)
        ):
            with transaction.atomic():
                for item in group:
                    _message, created = inbox_services.message_receive(account, item)
                    run.seen_messages += 1
                    run.new_messages += int(created)
        run.http_calls = getattr(adapter, "http_calls", result.http_calls)
        run.ok = True
        ChannelAccount.objects.filter(pk=account.pk).update(
            sync_cursor=result.cursor,
            last_synced_at=timezone.now(),
            last_sync_error="",
            consecutive_failures=0,
            health=ChannelAccount.Health.OK,
        )
    except AuthorizationLost as exc:
        run.error = exc.user_message
        ChannelAccount.objects.filter(pk=account.pk).update(
            health=ChannelAccount.Health.AUTH_FAILED, last_sync_error=exc.user_message
        )
    except ChannelError as exc:
        run.error = exc.user_message
        account.refresh_from_db(fields=["consecutive_failures"])
        ChannelAccount.objects.filter(pk=account.pk).update(
            health=ChannelAccount.Health.ERROR,
            last_sync_error=exc.user_message,
            consecutive_failures=account.consecutive_failures + 1,
        )
        logger.warning("sync of account %s failed: %s", account.pk, exc)
    except Exception as exc:
        # A bug or a payload we could not handle: recorded for the owner, raised for the task log.
        run.error = f"Internal error: {exc.__class__.__name__}"
        ChannelAccount.objects.filter(pk=account.pk).update(
            health=ChannelAccount.Health.ERROR, last_sync_error=run.error
        )
        logger.exception("sync of account %s crashed", account.pk)
        raise
    finally:
        run.finished_at = timezone.now()
        run.save()
        cache.delete(lock_key)
    return run


def outbound_message_deliver(message_id: int) -> str:
    """Deliver one outbound message: CAS PENDING → SENDING, send, record the attempt.

    Two workers handling the same id: only one wins the CAS; the other returns. A worker killed
    between SENDING and DELIVERED leaves the message in SENDING; `outbound_messages_sweep` asks the
    channel whether it went out (find_sent) before sending again, so nothing is sent twice.
    """
    now = timezone.now()
    claimed = (
        Message.objects.filter(
            pk=message_id,
            direction=Message.Direction.OUTBOUND,
            delivery_status=Message.DeliveryStatus.PENDING,
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(delivery_status=Message.DeliveryStatus.SENDING, sending_started_at=now)
    )
    if not claimed:
        return "skipped"
    message = Message.objects.select_related("conversation", "account").get(pk=message_id)
    return _deliver_claimed(message, reconcile_first=message.attempts > 0)


def _deliver_claimed(message: Message, *, reconcile_first: bool) -> str:
    attempt_no = message.attempts + 1
    Message.objects.filter(pk=message.pk).update(attempts=attempt_no)
    attempt = DeliveryAttempt.objects.create(
        message=message, number=attempt_no, outcome=DeliveryAttempt.Outcome.TRANSIENT
    )
    adapter = get_adapter(message.account)
    outbound = outbound_from_message(message)
    try:
        receipt = adapter.find_sent(outbound) if reconcile_first else None
        outcome = DeliveryAttempt.Outcome.RECONCILED if receipt else DeliveryAttempt.Outcome.DELIVERED
        if receipt is None:
            receipt = adapter.send(outbound)
    except ChannelError as exc:
        attempt.finished_at = timezone.now()
        attempt.status_code = exc.status
        attempt.error = exc.user_message
        if exc.permanent or attempt_no >= MAX_DELIVERY_ATTEMPTS:
            attempt.outcome = DeliveryAttempt.Outcome.PERMANENT
            attempt.save()
            inbox_services.message_mark_failed(message.pk, reason=exc.user_message)
            if isinstance(exc, AuthorizationLost):
                ChannelAccount.objects.filter(pk=message.account_id).update(
                    health=ChannelAccount.Health.AUTH_FAILED, last_sync_error=exc.user_message
                )
            return "failed"
        attempt.save()
        Message.objects.filter(pk=message.pk, delivery_status=Message.DeliveryStatus.SENDING).update(
            delivery_status=Message.DeliveryStatus.PENDING,
            next_attempt_at=timezone.now() + _backoff(attempt_no),
            failure_reason=exc.user_message,
        )
        return "retry"
    attempt.outcome = outcome
    attempt.finished_at = timezone.now()
    attempt.status_code = 201
    attempt.save()
    inbox_services.message_mark_delivered(
        message.pk, external_id=receipt.external_id, delivered_at=receipt.sent_at
    )
    return "delivered"


def outbound_messages_sweep(*, limit: int = 200) -> list[int]:
    """Ids of outbox messages that need a (re)try: due PENDING ones and stale SENDING ones.

    Stale SENDING messages are put back to PENDING here; their next delivery first reconciles
    with the channel (attempts > 0), so an interrupted send is never repeated blindly.
    """
    now = timezone.now()
    with transaction.atomic():
        Message.objects.filter(
            delivery_status=Message.DeliveryStatus.SENDING, sending_started_at__lt=now - SENDING_STALE_AFTER
        ).update(delivery_status=Message.DeliveryStatus.PENDING, next_attempt_at=now)
    due = Message.objects.filter(delivery_status=Message.DeliveryStatus.PENDING).filter(
        Q(next_attempt_at__isnull=True, created_at__lt=now - timedelta(seconds=20))
        | Q(next_attempt_at__lte=now)
    )
    return list(due.order_by("created_at").values_list("id", flat=True)[:limit])


def channel_accounts_due_for_sync() -> list[int]:
    return list(
        ChannelAccount.objects.filter(is_active=True)
        .exclude(health__in=[ChannelAccount.Health.CONNECTING, ChannelAccount.Health.AUTH_FAILED])
        .values_list("id", flat=True)
    )
