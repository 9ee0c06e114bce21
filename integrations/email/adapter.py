"""A mailbox (IMAP + SMTP) behind the ChannelAdapter interface.

Sync (`fetch`): for each watched folder, EXAMINE it (read-only), compare UIDVALIDITY with the
cursor ``{folder: {"uidvalidity": …, "last_uid": …}}`` (a change means the old UIDs are void: the
folder is read again from UID 1, and the dedupe in ingest.py keeps that free of duplicates), list
the UIDs above ``last_uid``, read their Message-ID and size, skip the mails we already hold, and
download the rest with ``BODY.PEEK[]`` (flags are never touched). Each mail goes through
`ingest.email_ingest` (raw bytes kept, dedupe, classification, threading) and is stored by
`ingest.email_receive_batch`, a FETCH's worth of mails (50, or 20 MB) per transaction: mail N+1 is
threaded after mail N is stored, so a reply in the same batch finds its parent.

`items` is a generator of what was stored (`StoredItem`, counted by `channel_account_sync`) and the
cursor is filled in while it runs; the sync saves `result.cursor` only after the last item, so a
connection dropped mid-fetch (a ChannelError out of the generator) saves no cursor and the next
sync reads the same UIDs again — already stored ones are skipped before download. A mail that
could not be stored is yielded as a plain item: the sync tries it once more and records the
problem (raw bytes kept) for the seller.

Sending (`send`): our Message-ID ``<uuid@from-domain>`` is generated and stored on the Message
before anything leaves (a compare-and-set, so a retry reuses it); the reply goes out through the
mailbox's SMTP server with In-Reply-To/References from the conversation's stored mails, our
subject token and ``X-Replydesk-Id``; the SMTP acceptance is recorded (an outbound `EmailSource`
with `accepted_at`), which `find_sent` — and a repeated `send` — trust, before looking for the
Message-ID in the Sent folder.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.models import ChannelAccount, ContactIdentity, Message
from integrations.contracts import (
    ChannelError,
    FetchResult,
    InboundMessage,
    OutboundMessage,
    PermanentChannelError,
    SendReceipt,
    StoredItem,
)
from integrations.models import EmailSource

from .imap import BODY_BATCH, BODY_BATCH_BYTES, Envelope, ImapMailbox
from .ingest import Fetched, content_sha256, email_receive_batch
from .mailbox import MailboxSettings
from .smtp import message_bytes, reply_build, smtp_send
from .threads import ThreadContext, message_key, subject_token, subject_without_token

logger = logging.getLogger(__name__)

# UIDs handled per round (Message-IDs and sizes, then the bodies we lack); the cursor moves per round.
UID_CHUNK = 200
# Downloads per sync: an initial import of a large mailbox goes on in the next polls.
MAX_MAILS_PER_SYNC = 3000
_REPLY_PREFIX = re.compile(r"^\s*(?:re|odp|aw|sv|antw)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)


class EmailAdapter:
    kind: ClassVar[str] = "email"
    max_mails_per_sync: int = MAX_MAILS_PER_SYNC

    def __init__(self, account: ChannelAccount, mailbox: MailboxSettings | None = None) -> None:
        self.account = account
        self.mailbox = mailbox or MailboxSettings.from_account(account)
        self.imap_calls = 0

    @property
    def http_calls(self) -> int:  # SyncRun counts a channel's round trips in this field
        return self.imap_calls

    # --- inbound ---------------------------------------------------------------------------

    def fetch(self, *, cursor: dict[str, Any]) -> FetchResult:
        new_cursor: dict[str, Any] = {}
        return FetchResult(items=self._items(dict(cursor or {}), new_cursor), cursor=new_cursor)

    def _items(self, cursor: dict[str, Any], new_cursor: dict[str, Any]) -> Iterator[InboundMessage]:
        context = ThreadContext()
        downloaded = 0
        # Folders this run does not reach (missing, or after the per-sync cap) keep their state.
        new_cursor.update({f: cursor[f] for f in self.mailbox.folders if isinstance(cursor.get(f), dict)})
        with ImapMailbox(self.mailbox.imap) as imap:
            try:
                # A missing folder stops the sync before anything is read: the seller sees the
                # error on the accounts page instead of silently losing that folder's mail.
                existing = set(imap.list_folders())
                missing = [f for f in self.mailbox.folders if f not in existing]
                if missing:
                    raise ChannelError(
                        f"folders missing: {missing}",
                        user_message=_("These folders do not exist in the mailbox: %(folders)s")
                        % {"folders": ", ".join(missing)},
                    )
                for folder in self.mailbox.folders:
                    state = imap.select(folder)
                    previous = cursor.get(folder) if isinstance(cursor.get(folder), dict) else {}
                    last_uid = int(previous.get("last_uid") or 0)
                    if previous.get("uidvalidity") != state.uidvalidity:
                        if previous:
                            logger.info(
                                "account %s folder %r: UIDVALIDITY changed, reading it again",
                                self.account.pk,
                                folder,
                            )
                        last_uid = 0
                    new_cursor[folder] = {"uidvalidity": state.uidvalidity, "last_uid": last_uid}
                    uids = imap.uids_after(last_uid)
                    for start in range(0, len(uids), UID_CHUNK):
                        chunk = uids[start : start + UID_CHUNK]
                        envelopes = imap.envelopes(chunk)
                        wanted = self._not_yet_stored(envelopes)
                        batch: list[Fetched] = []
                        size = 0
                        for uid, raw, internal_date in imap.bodies([e for e in envelopes if e.uid in wanted]):
                            downloaded += 1
                            batch.append(Fetched(raw, folder, uid, state.uidvalidity, internal_date))
                            size += len(raw)
                            if len(batch) >= BODY_BATCH or size >= BODY_BATCH_BYTES:
                                yield from self._store(batch, context)
                                batch, size = [], 0
                        yield from self._store(batch, context)
                        # Every UID of the folder up to here is stored (or was already).
                        new_cursor[folder] = {"uidvalidity": state.uidvalidity, "last_uid": chunk[-1]}
                        if downloaded >= self.max_mails_per_sync:
                            return  # the rest next time (keeps one sync well inside the task time limit)
            finally:
                self.imap_calls += imap.calls

    def _store(self, batch: list[Fetched], context: ThreadContext) -> Iterator[StoredItem | InboundMessage]:
        """Store a batch of downloaded mails in one transaction; what was stored goes to the sync as
        `StoredItem`s (counted), a mail that could not be stored as the plain item (the sync tries
        it once more and records the problem for the seller)."""
        if not batch:
            return
        for received in email_receive_batch(self.account, batch, mailbox=self.mailbox, context=context):
            item = received.ingested.item
            if item is None:
                continue
            if received.created is None:
                yield item
            else:
                yield StoredItem(item, created=received.created)

    def _not_yet_stored(self, envelopes: list[Envelope]) -> set[int]:
        """UIDs to download: all but those whose (Message-ID, size) we hold and stored already."""
        ids = {e.message_id for e in envelopes if e.message_id}
        known: dict[tuple[str, int], str] = {}
        if ids:
            for message_id, size, external_id in EmailSource.objects.filter(
                account=self.account, message_id__in=ids
            ).values_list("message_id", "size", "external_id"):
                known[(message_id, size)] = external_id
        stored = (
            set(
                Message.objects.filter(
                    account=self.account, external_id__in=[ext for ext in known.values() if ext]
                ).values_list("external_id", flat=True)
            )
            if known
            else set()
        )
        wanted = set()
        for envelope in envelopes:
            external_id = known.get((envelope.message_id, envelope.size))
            if external_id is None or (external_id and external_id not in stored):
                wanted.add(envelope.uid)
        return wanted

    # --- outbound --------------------------------------------------------------------------

    def _message(self, outbound: OutboundMessage) -> Message:
        return Message.objects.select_related("conversation").get(
            pk=outbound.message_id, account=self.account, direction=Message.Direction.OUTBOUND
        )

    def _ensure_message_id(self, message: Message) -> str:
        """Our Message-ID for this reply, generated once and stored before sending."""
        if not message.external_id:
            candidate = f"{uuid.uuid4()}@{self.mailbox.domain}"
            Message.objects.filter(pk=message.pk, external_id__isnull=True).update(external_id=candidate)
            message.refresh_from_db(fields=["external_id"])
        return message.external_id

    def _accepted(self, external_id: str) -> SendReceipt | None:
        source = (
            EmailSource.objects.filter(
                account=self.account,
                direction=EmailSource.Direction.OUTBOUND,
                external_id=external_id,
                accepted_at__isnull=False,
            )
            .only("accepted_at", "message_id")
            .first()
        )
        if source is None:
            return None
        return SendReceipt(external_id=external_id, sent_at=source.accepted_at, raw={"reconciled": "smtp"})

    def send(self, message: OutboundMessage) -> SendReceipt:
        stored = self._message(message)
        message_id = self._ensure_message_id(stored)
        external_id = message_key(message_id)
        already = self._accepted(external_id)
        if already is not None:
            return already
        to, in_reply_to, references, parent_subject = self._reply_envelope(stored)
        if not to:
            raise PermanentChannelError(
                "no recipient", user_message=_("There is no e-mail address to reply to in this conversation.")
            )
        now = timezone.now()
        email = reply_build(
            self.mailbox,
            to=to,
            subject=self._subject(stored, parent_subject),
            text=stored.text,
            message_id=message_id,
            date=now,
            in_reply_to=in_reply_to,
            references=references,
            replydesk_id=str(stored.idempotency_key),
            automatic=message.is_automatic,
        )
        raw = message_bytes(email)
        smtp_send(self.mailbox, email)
        accepted_at = timezone.now()
        self._record_accepted(raw, message_id=message_id, external_id=external_id, accepted_at=accepted_at)
        if self.mailbox.append_to_sent and self.mailbox.sent_folder:
            self._append_to_sent(raw, accepted_at)
        return SendReceipt(
            external_id=external_id, sent_at=accepted_at, raw={"to": to, "message_id": message_id}
        )

    def find_sent(self, message: OutboundMessage) -> SendReceipt | None:
        stored = self._message(message)
        if not stored.external_id:
            return None  # no Message-ID was ever generated: it cannot have been sent
        receipt = self._accepted(stored.external_id)
        if receipt is not None or not self.mailbox.sent_folder:
            return receipt
        imap = ImapMailbox(self.mailbox.imap)
        with imap:
            found = imap.find_message_id(self.mailbox.sent_folder, stored.external_id)
        self.imap_calls += imap.calls
        if found:
            return SendReceipt(
                external_id=stored.external_id, sent_at=timezone.now(), raw={"reconciled": "imap"}
            )
        return None

    def _record_accepted(self, raw: bytes, *, message_id: str, external_id: str, accepted_at) -> None:
        sha = content_sha256(raw)
        try:
            with transaction.atomic():
                EmailSource.objects.create(
                    organization_id=self.account.organization_id,
                    account=self.account,
                    direction=EmailSource.Direction.OUTBOUND,
                    message_id=message_id,
                    content_sha256=sha,
                    external_id=external_id,
                    kind="human",
                    raw=raw,
                    size=len(raw),
                    accepted_at=accepted_at,
                )
        except IntegrityError:
            EmailSource.objects.filter(
                account=self.account, message_id=message_id, content_sha256=sha
            ).update(
                accepted_at=accepted_at, direction=EmailSource.Direction.OUTBOUND, external_id=external_id
            )

    def _append_to_sent(self, raw: bytes, when) -> None:
        """Best effort: a copy in the seller's Sent folder (the mail itself already went out)."""
        try:
            imap = ImapMailbox(self.mailbox.imap)
            with imap:
                imap.append(self.mailbox.sent_folder, raw, when=when)
            self.imap_calls += imap.calls
        except ChannelError as exc:
            logger.warning(
                "account %s: could not save a copy in %r: %s", self.account.pk, self.mailbox.sent_folder, exc
            )

    def _reply_envelope(self, message: Message) -> tuple[str, str, list[str], str]:
        """(to, In-Reply-To, References, subject) from the conversation's stored mails.

        We answer the latest mail a person wrote (else the latest non-bounce mail): to its
        Reply-To or From, with In-Reply-To its Message-ID and References its References plus it.
        """
        mails = Message.objects.filter(conversation_id=message.conversation_id).exclude(pk=message.pk)
        inbound = mails.filter(direction=Message.Direction.INBOUND).exclude(
            classification=Message.Classification.BOUNCE
        )
        parent = (
            inbound.filter(classification=Message.Classification.HUMAN)
            .order_by("-source_created_at", "-id")
            .first()
            or inbound.order_by("-source_created_at", "-id").first()
        )
        own = self.mailbox.own_addresses
        if parent is not None:
            raw = parent.raw or {}
            to = raw.get("reply_to") or raw.get("from") or ""
            if to in own:
                to = raw.get("from") or ""
            parent_id = raw.get("message_id") or ""
            references = (
                [*(raw.get("references") or []), parent_id]
                if parent_id
                else list(raw.get("references") or [])
            )
            return to, parent_id, references, parent.subject
        # A conversation the seller started from his own client: answer the same recipient.
        last_out = (
            mails.filter(direction=Message.Direction.OUTBOUND, external_id__isnull=False)
            .exclude(raw={})
            .order_by("-source_created_at", "-id")
            .first()
        )
        if last_out is not None:
            raw = last_out.raw or {}
            to = next((a for a in [*(raw.get("to") or []), *(raw.get("cc") or [])] if a not in own), "")
            parent_id = raw.get("message_id") or ""
            return to, parent_id, [*(raw.get("references") or []), parent_id], last_out.subject
        contact_id = message.conversation.contact_id
        identity = (
            ContactIdentity.objects.filter(contact_id=contact_id)
            .filter(Q(kind=ContactIdentity.Kind.EMAIL) | Q(kind=ContactIdentity.Kind.ALLEGROMAIL))
            .values_list("value", flat=True)
            .first()
            if contact_id
            else None
        )
        return identity or "", "", [], ""

    def _subject(self, message: Message, parent_subject: str) -> str:
        conversation = message.conversation
        base = subject_without_token(parent_subject or conversation.subject) or subject_without_token(
            conversation.subject
        )
        if not base:
            base = _("Your message")
        if not _REPLY_PREFIX.match(base):
            base = f"Re: {base}"
        return f"{base} {subject_token(conversation.pk)}"
