"""Channel-facing write paths: sync an account, deliver an outbound message (the outbox)."""

from __future__ import annotations

import logging
import random
import threading
import uuid
from dataclasses import asdict
from datetime import timedelta
from itertools import groupby
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from inbox import services as inbox_services
from inbox.models import ChannelAccount, Message

from .contracts import (
    AuthorizationLost,
    ChannelError,
    FetchProblem,
    InboundMessage,
    StoredItem,
    outbound_from_message,
)
from .models import DeliveryAttempt, SyncRun
from .registry import get_adapter
from .sync_problems import MAX_RETRIES as MAX_STORE_RETRIES
from .sync_problems import sync_problem_record, sync_problems_resolve

logger = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 8


def sending_stale_after() -> timedelta:
    """A reply left in SENDING this long was interrupted (worker killed): reconcile, then resend."""
    return timedelta(seconds=settings.OUTBOX_SENDING_STALE_SECONDS)


class SyncLease:
    """A cache lock that lives only while its holder does (issue #9).

    Taken with a short TTL (SYNC_LOCK_LEASE_SECONDS) and renewed by a daemon thread every third of
    it while the sync runs. A worker killed with SIGKILL stops renewing, so the next beat poll syncs
    the account again within one lease instead of waiting for a long fixed TTL; the killed task's
    broker message would only come back after the visibility timeout (an hour on Redis).
    """

    def __init__(self, key: str, seconds: int | None = None) -> None:
        self.key = key
        self.seconds = max(int(seconds or settings.SYNC_LOCK_LEASE_SECONDS), 3)
        self.token = uuid.uuid4().hex
        self._backend = caches["default"]  # the instance, shared with the renewing thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        if not self._backend.add(self.key, self.token, self.seconds):
            return False
        self._thread = threading.Thread(target=self._renew, name=f"lease:{self.key}", daemon=True)
        self._thread.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                if self._backend.get(self.key) != self.token:
                    return  # expired and taken by someone else: theirs now
                self._backend.touch(self.key, self.seconds)
            except Exception:  # cache briefly down: the lease may lapse; correctness holds
                logger.warning("could not renew %s", self.key)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            if self._backend.get(self.key) == self.token:
                self._backend.delete(self.key)
        except Exception:
            logger.warning("could not release %s", self.key)


def _backoff(attempt: int) -> timedelta:
    """Exponential backoff with full jitter: ~10 s, 20 s, 40 s … capped at 30 min."""
    base = min(10 * 2 ** max(attempt - 1, 0), 1800)
    return timedelta(seconds=base / 2 + random.uniform(0, base / 2))


def channel_account_sync(account_id: int) -> SyncRun | None:
    """Fetch what is new on one account and store it. Safe to run twice or concurrently.

    A cache lease (`SyncLease`) keeps two workers from doing the same HTTP work; correctness does
    not depend on it (messages are unique per account and external id). The cursor is saved only after every
    item is stored, so a crash mid-sync loses nothing: the next run fetches the same items again.
    """
    account = ChannelAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is None or account.health in (
        ChannelAccount.Health.CONNECTING,
        ChannelAccount.Health.AUTH_FAILED,
    ):
        return None
    lease = SyncLease(f"sync-lock:{account.pk}")
    if not lease.acquire():
        logger.info("sync of account %s already running", account.pk)
        return None
    run = SyncRun.objects.create(account=account)
    try:
        adapter = get_adapter(account)
        result = adapter.fetch(cursor=account.sync_cursor or {})
        problems = list(result.problems)
        # One bad conversation never stops the others (issue #9): each is stored on its own and a
        # failure is recorded as a SyncProblem.
        for update in result.conversations:
            try:
                with transaction.atomic():
                    inbox_services.conversation_apply_update(account, update)
            except (OperationalError, InterfaceError):
                raise  # the database itself: the whole sync fails
            except Exception as exc:
                logger.exception(
                    "sync of account %s: conversation %s not saved", account.pk, update.external_id
                )
                problems.append(_store_problem(update.kind, update.external_id, exc, asdict(update)))
        policies: dict = {}  # the SLA policies read, kept for the whole sync
        # One transaction per conversation: a commit (WAL flush) per thread, not per message.
        # Items the adapter stored itself (StoredItem: a mailbox stores a batch per transaction)
        # are only counted.
        for (kind, external_id), group in groupby(result.items, key=_conversation_of):
            group = list(group)
            stored = [i for i in group if isinstance(i, StoredItem)]
            to_store = [i for i in group if not isinstance(i, StoredItem)]
            created_items = [i.item for i in stored if i.created]
            try:
                with transaction.atomic():
                    created_here = _group_receive(account, to_store, policies)
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:
                logger.exception("sync of account %s: conversation %s not saved", account.pk, external_id)
                problems.append(_store_problem(kind, external_id, exc, [i.raw for i in to_store]))
                group = stored
            else:
                created_items += created_here
            run.seen_messages += len(group)
            run.new_messages += len(created_items)
            problems.extend(
                FetchProblem("message", i.external_id, "message_partial", "; ".join(i.problems), i.raw)
                for i in created_items
                if i.problems
            )
        cursor = result.cursor
        with transaction.atomic():  # one commit for the run's problems, not a few per problem
            for problem in problems:
                record = sync_problem_record(account, problem, run=run)
                if problem.code == "store_failed" and record.count < MAX_STORE_RETRIES:
                    cursor = account.sync_cursor or {}  # read it all again next time (duplicates are dropped)
        sync_problems_resolve(account, result.resolved)
        run.problems = len(problems)
        run.http_calls = getattr(adapter, "http_calls", result.http_calls)
        run.ok = True
        ChannelAccount.objects.filter(pk=account.pk).update(
            sync_cursor=cursor,
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
        lease.release()
    return run


def _group_receive(
    account: ChannelAccount, items: list[InboundMessage], policies: dict
) -> list[InboundMessage]:
    """Store one conversation's items in the caller's transaction; the new ones.

    With a `ReceiveBatch`: one query for which of them are new, the conversation locked once, the
    SLA engine's reads shared (and the policies it read kept in `policies` for the next group). A
    concurrent writer's conflict rolls the group's savepoint back and stores them one by one.
    """
    if not items:
        return []
    batch = inbox_services.ReceiveBatch(sla_memo=dict(policies))
    batch.prefetch(account, [item.external_id for item in items])
    try:
        with transaction.atomic():
            created = [
                item for item in items if inbox_services.message_receive(account, item, batch=batch)[1]
            ]
    except IntegrityError:
        created = [item for item in items if inbox_services.message_receive(account, item)[1]]
    policies.update((key, value) for key, value in batch.sla_memo.items() if key[0] == "policy")
    return created


def _conversation_of(item: InboundMessage | StoredItem) -> tuple[str, str]:
    item = item.item if isinstance(item, StoredItem) else item
    return item.conversation_kind, item.conversation_external_id


def _store_problem(kind: str, external_id: str, exc: Exception, raw: Any) -> FetchProblem:
    detail = f"{exc.__class__.__name__}: {str(exc)[:300]}"
    return FetchProblem("conversation", f"{kind}:{external_id}", "store_failed", detail, raw, True)


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
            delivery_status=Message.DeliveryStatus.SENDING, sending_started_at__lt=now - sending_stale_after()
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
