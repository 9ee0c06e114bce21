"""Watch every mailbox with IMAP IDLE and sync as soon as mail arrives (polling where IDLE is missing).

Optional: beat's channel-accounts-poll syncs mailboxes without it. Stop with Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Watch mailboxes with IMAP IDLE and sync them as soon as mail arrives."

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, action="append", help="only this mailbox (repeatable)")
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=float(getattr(settings, "REPLYDESK_POLL_SECONDS", 30)),
            help="poll interval for servers without IDLE",
        )

    def handle(self, *args, **options):
        from integrations.email.idle import mailboxes_watch

        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write("watching mailboxes (IMAP IDLE); Ctrl-C stops")
        mailboxes_watch(stop=stop, account_ids=options["account"], poll_seconds=options["poll_seconds"])
        self.stdout.write("stopped")
