"""Push instead of polling: IMAP IDLE watchers that run a sync as soon as a folder changes.

`manage.py email_idle` runs `mailboxes_watch`: one thread per (mailbox, watched folder), each
holding one IMAP connection in IDLE (RFC 2177) and calling `channel_account_sync` when the server
announces new mail. A server without IDLE is polled on the same connection instead. Beat's
`channel-accounts-poll` keeps working without this command; both can run at once (the sync's lock
and the unique external ids make a double trigger harmless).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from django.db import close_old_connections, connections

from inbox.models import ChannelAccount
from integrations.contracts import ChannelError

from .imap import IDLE_RENEW_SECONDS, ImapMailbox
from .mailbox import MailboxSettings

logger = logging.getLogger(__name__)

IDLE_CHECK_SECONDS = 60.0  # one IDLE round; the stop flag is looked at in between
RESCAN_SECONDS = 60.0  # how often the supervisor looks for new, changed or removed mailboxes
MAX_BACKOFF_SECONDS = 300.0


def sync_now(
    account_id: int, *, attempts: int = 5, wait: float = 2.0, stop: threading.Event | None = None
) -> None:
    """Run the sync service; if another sync holds the lock, try again shortly (news must not be lost)."""
    from integrations.services import channel_account_sync

    for _ in range(attempts):
        close_old_connections()
        if channel_account_sync(account_id) is not None:
            return
        if stop is not None and stop.wait(wait):
            return
        if stop is None:
            time.sleep(wait)


def _watchable(account_id: int) -> ChannelAccount | None:
    return (
        ChannelAccount.objects.filter(pk=account_id, kind=ChannelAccount.Kind.EMAIL, is_active=True)
        .exclude(health__in=[ChannelAccount.Health.AUTH_FAILED, ChannelAccount.Health.DISABLED])
        .first()
    )


def folder_watch(
    account_id: int,
    folder: str,
    *,
    stop: threading.Event,
    on_news: Callable[[int], None] | None = None,
    poll_seconds: float = 30.0,
    idle_check_seconds: float = IDLE_CHECK_SECONDS,
) -> None:
    """Watch one folder until `stop` is set (or the mailbox goes away); reconnect with backoff."""
    on_news = on_news or (lambda pk: sync_now(pk, stop=stop))
    backoff = 1.0
    try:
        while not stop.is_set():
            close_old_connections()
            account = _watchable(account_id)
            if account is None:
                return
            mailbox = MailboxSettings.from_account(account)
            try:
                with ImapMailbox(mailbox.imap, timeout=max(idle_check_seconds, 30.0) + 30) as imap:
                    imap.select(folder)
                    idle = imap.has_idle()
                    on_news(account_id)  # catch up with what arrived while we were not watching
                    backoff = 1.0
                    started = time.monotonic()
                    while not stop.is_set() and time.monotonic() - started < IDLE_RENEW_SECONDS:
                        if idle:
                            news = imap.idle_wait(idle_check_seconds)
                        else:
                            if stop.wait(poll_seconds):
                                break
                            imap.select(folder)  # NOOP-like refresh; then sync decides what is new
                            news = True
                        if news and not stop.is_set():
                            on_news(account_id)
            except ChannelError as exc:
                logger.warning(
                    "watching %r of mailbox %s failed: %s; retrying in %.0fs",
                    folder,
                    account_id,
                    exc,
                    backoff,
                )
                if stop.wait(backoff):
                    return
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    finally:
        connections.close_all()


def mailboxes_watch(
    *,
    stop: threading.Event,
    account_ids: Iterable[int] | None = None,
    poll_seconds: float = 30.0,
    rescan_seconds: float = RESCAN_SECONDS,
) -> None:
    """Supervise one watcher thread per (mailbox, folder); pick up added, changed and removed mailboxes."""
    wanted_ids = set(account_ids) if account_ids else None
    threads: dict[tuple[int, str, int], tuple[threading.Thread, threading.Event]] = {}
    while not stop.is_set():
        close_old_connections()
        accounts = ChannelAccount.objects.filter(kind=ChannelAccount.Kind.EMAIL, is_active=True).exclude(
            health__in=[ChannelAccount.Health.AUTH_FAILED, ChannelAccount.Health.DISABLED]
        )
        if wanted_ids is not None:
            accounts = accounts.filter(pk__in=wanted_ids)
        desired = set()
        for account in accounts:
            mailbox = MailboxSettings.from_account(account)
            version = hash((mailbox.imap, mailbox.folders))
            desired |= {(account.pk, folder, version) for folder in mailbox.folders}
        for key in list(threads):
            if key not in desired or not threads[key][0].is_alive():
                threads.pop(key)[1].set()
        for key in desired - set(threads):
            own_stop = threading.Event()
            thread = threading.Thread(
                target=folder_watch,
                args=(key[0], key[1]),
                kwargs={"stop": own_stop, "poll_seconds": poll_seconds},
                name=f"email-idle-{key[0]}-{key[1]}",
                daemon=True,
            )
            threads[key] = (thread, own_stop)
            thread.start()
        stop.wait(rescan_seconds)
    for _thread, own_stop in threads.values():
        own_stop.set()
    for thread, _own_stop in threads.values():
        thread.join(timeout=IDLE_CHECK_SECONDS + 5)
    connections.close_all()
