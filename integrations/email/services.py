"""Write paths for mailboxes (ChannelAccount kind "email") and the connection check."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from inbox.models import ChannelAccount, Organization
from integrations.contracts import ChannelError

from .imap import ImapMailbox
from .mailbox import MailboxSettings
from .smtp import smtp_check

logger = logging.getLogger(__name__)

SYNC_TASK = "integrations.tasks.channel_account_sync"


class MailboxExists(ValueError):
    pass


def _sync_enqueue(account_id: int) -> None:
    from celery import current_app

    try:
        current_app.send_task(SYNC_TASK, args=[account_id])
    except Exception:  # broker down: beat's channel-accounts-poll picks the mailbox up
        logger.warning("could not enqueue the first sync of mailbox %s; the poll will do it", account_id)


def mailbox_create(*, organization: Organization, name: str, mailbox: MailboxSettings) -> ChannelAccount:
    """Store a new mailbox and start its first sync after commit."""
    try:
        with transaction.atomic():
            account = ChannelAccount.objects.create(
                organization=organization,
                kind=ChannelAccount.Kind.EMAIL,
                name=(name or mailbox.from_email)[:200],
                external_id=mailbox.from_email,
                credentials=mailbox.as_credentials(),
                health=ChannelAccount.Health.OK,
            )
            transaction.on_commit(lambda: _sync_enqueue(account.pk))
    except IntegrityError:
        raise MailboxExists(mailbox.from_email) from None
    return account


def mailbox_update(account: ChannelAccount, *, name: str, mailbox: MailboxSettings) -> ChannelAccount:
    """Save changed settings. Empty passwords keep the stored ones. A different IMAP server or
    login starts the sync cursor afresh (the dedupe keeps that free of duplicates). The account
    is healthy again until the next sync says otherwise."""
    with transaction.atomic():
        account = ChannelAccount.objects.select_for_update().get(
            pk=account.pk, kind=ChannelAccount.Kind.EMAIL
        )
        stored = MailboxSettings.from_account(account)
        mailbox = mailbox.with_secrets_from(stored)
        if (stored.imap.host, stored.imap.port, stored.imap.username) != (
            mailbox.imap.host,
            mailbox.imap.port,
            mailbox.imap.username,
        ):
            account.sync_cursor = {}
        account.name = (name or mailbox.from_email)[:200]
        account.external_id = mailbox.from_email
        account.credentials = mailbox.as_credentials()
        account.health = ChannelAccount.Health.OK
        account.last_sync_error = ""
        account.consecutive_failures = 0
        try:
            with transaction.atomic():
                account.save()
        except IntegrityError:
            raise MailboxExists(mailbox.from_email) from None
        transaction.on_commit(lambda: _sync_enqueue(account.pk))
    return account


@dataclass(frozen=True)
class ConnectionCheck:
    protocol: str  # "IMAP" | "SMTP"
    ok: bool
    message: str


def mailbox_check(mailbox: MailboxSettings, *, timeout: float = 15) -> list[ConnectionCheck]:
    """Log in to IMAP (and look for the watched folders) and to SMTP; what each said."""
    results = []
    try:
        with ImapMailbox(mailbox.imap, timeout=timeout) as imap:
            folders = imap.list_folders()
        missing = [f for f in mailbox.folders if f not in folders]
        if mailbox.sent_folder and mailbox.sent_folder not in folders:
            missing.append(mailbox.sent_folder)
        if missing:
            results.append(
                ConnectionCheck(
                    "IMAP",
                    False,
                    _(
                        "Logged in, but these folders do not exist: %(missing)s. "
                        "Folders in the mailbox: %(folders)s"
                    )
                    % {"missing": ", ".join(missing), "folders": ", ".join(folders[:30])},
                )
            )
        else:
            results.append(
                ConnectionCheck(
                    "IMAP", True, _("Logged in. Folders: %(folders)s") % {"folders": ", ".join(folders[:30])}
                )
            )
    except ChannelError as exc:
        results.append(ConnectionCheck("IMAP", False, exc.user_message))
    try:
        smtp_check(mailbox.smtp, timeout=timeout)
        results.append(ConnectionCheck("SMTP", True, _("Logged in; the server accepts mail for sending.")))
    except ChannelError as exc:
        results.append(ConnectionCheck("SMTP", False, exc.user_message))
    return results
