"""One mail's path from raw bytes to an `InboundMessage`: keep the bytes, dedupe, classify, thread.

`email_ingest` is the whole inbound path short of the inbox's own store (`message_receive`), and is
what both the IMAP sync (adapter.py) and the benchmark call:

1. **Keep the raw bytes** (`EmailSource`), for every mail, also unparseable ones and our own loops.
2. **Dedupe** on the Message-ID plus a content hash: the same mail fetched again (another folder, a
   UIDVALIDITY resync, a retried sync) maps to the same `Message.external_id` and is dropped by
   `message_receive`. Two different mails that share a Message-ID (broken mailers) get distinct
   external ids (`<id>#<hash>`); a mail without a Message-ID gets a synthetic one from its hash.
3. **Classify** (`parse_email`'s kind → `Message.classification`): only "human" mail starts a
   reply clock (rules.md §2.1, done by the inbox from the classification); auto-replies, bounces
   and bulk mail are stored (folded in the thread) but never start or stop anything, and never
   reopen a closed conversation.
4. **Own loops** (`EmailKind.OWN_LOOP`): mail carrying our X-Replydesk-Id is *not* stored as a
   message when it really is ours — the header or its Message-ID names one of this mailbox's
   replies, which already is the record (e.g. the Sent folder is watched, or the seller BCCs
   himself). Its bytes are kept. Another Replydesk's mail (a foreign X-Replydesk-Id, e.g. a seller
   who uses Replydesk too) is treated by its other signals, like any mail.
5. **Bounces** mark the reply they return as failed (`message_mark_failed` while it is still on
   its way, `message_mark_bounced` once delivered), with the recipient server's diagnostic.
6. **Thread** (threads.py) and map the sender: mail from the mailbox's own address is an outbound
   reply written elsewhere (the seller's mail client); masked `…@allegromail.pl` senders become an
   `allegromail` identity (without `+txid`, so every order of one buyer is one contact) and the
   `+txid` becomes the conversation's order id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox import services as inbox_services
from inbox.models import ChannelAccount, ContactIdentity, Conversation, Message
from integrations.contracts import InboundAttachment, InboundMessage
from integrations.models import EmailSource

from .mailbox import MailboxSettings
from .parsing import REPLYDESK_HEADER, EmailKind, ParsedEmail, parse_allegro_masked_address, parse_email
from .threads import (
    SUBJECT_WINDOW,
    ThreadContext,
    ThreadLookups,
    contact_identity_of,
    message_key,
    thread_resolve,
)

logger = logging.getLogger(__name__)

SYNTHETIC_ID_DOMAIN = "replydesk.invalid"
_HASHED_HEADERS = frozenset(
    {b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"in-reply-to", b"references"}
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_UNFOLD = re.compile(rb"\r?\n[ \t]+")
_REPLYDESK_ID = re.compile(
    rb"^x-replydesk-id:\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.I | re.M
)
_DIAGNOSTIC = re.compile(rb"^diagnostic-code:[ \t]*(?:smtp;[ \t]*)?(.+(?:\r?\n[ \t]+.+)*)", re.I | re.M)
_STATUS = re.compile(rb"^status:[ \t]*([245]\.\d{1,3}\.\d{1,3})", re.I | re.M)
_MAX_REFERENCES_KEPT = 50

CLASSIFICATION = {
    EmailKind.HUMAN: Message.Classification.HUMAN,
    EmailKind.AUTO_REPLY: Message.Classification.AUTO_REPLY,
    EmailKind.BOUNCE: Message.Classification.BOUNCE,
    EmailKind.BULK: Message.Classification.BULK,
}


def content_sha256(raw: bytes) -> str:
    """Hash of the body and the identifying headers; trace headers (Received, Delivered-To,
    Return-Path, X-…) are left out, so two copies of one mail (two folders, two routes) agree."""
    match = _HEADER_END.search(raw)
    header, body = (raw[: match.start()], raw[match.end() :]) if match else (raw, b"")
    kept = []
    for line in _UNFOLD.sub(b" ", header).splitlines():
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() in _HASHED_HEADERS:
            kept.append(name.strip().lower() + b":" + b" ".join(value.split()))
    digest = hashlib.sha256()
    for line in sorted(kept):
        digest.update(line + b"\n")
    digest.update(b"\n")
    digest.update(body.replace(b"\r\n", b"\n").rstrip(b"\n"))
    return digest.hexdigest()


def synthetic_message_id(sha: str) -> str:
    return f"{sha[:40]}@{SYNTHETIC_ID_DOMAIN}"


@dataclass(frozen=True)
class Ingested:
    """What `email_ingest` did with one mail. `item` is None when nothing is to be stored."""

    item: InboundMessage | None
    source: EmailSource
    parsed: ParsedEmail
    duplicate: bool = False
    note: str = ""


def email_ingest(
    account: ChannelAccount,
    raw: bytes,
    *,
    mailbox: MailboxSettings,
    folder: str = "",
    uid: int | None = None,
    uidvalidity: int | None = None,
    received_at: datetime | None = None,
    context: ThreadContext | None = None,
    prepared: tuple[str, ParsedEmail] | None = None,
) -> Ingested:
    """Keep, dedupe, classify and thread one raw mail; see the module docstring. Never raises on bad mail.

    `prepared` is (content hash, parsed mail) when the caller computed them already (a batch).
    """
    sha, parsed = prepared or (content_sha256(raw), parse_email(raw))
    message_id = parsed.message_id or synthetic_message_id(sha)
    problems = list(parsed.problems)

    if context is not None and message_id in context.sources:
        existing = context.sources[message_id]
    else:
        existing = _sources_stored(account, [message_id]).get(message_id, [])
    same = next((row for row in existing if row[0] == sha), None)
    ours = _own_reply_ids(account, parsed, message_id, domain=mailbox.domain) or (
        # Our header on mail from the mailbox's own address: a copy of our own (automatic) mail.
        REPLYDESK_HEADER.lower() in parsed.headers
        and bool({parsed.from_email, parsed.header_from_email} & mailbox.own_addresses)
    )
    kind = parsed.kind
    if kind is EmailKind.OWN_LOOP and not ours:
        kind = _kind_without_own(parsed)  # another Replydesk's mail: judge it by its other signals

    if same is not None:
        source = EmailSource(
            pk=same[4], account=account, message_id=message_id, external_id=same[1], kind=same[3]
        )
        if same[2] == EmailSource.Direction.OUTBOUND or not same[1]:
            return Ingested(None, source, parsed, duplicate=True, note="our own mail")
        external_id = same[1]
    else:
        if ours or kind is EmailKind.OWN_LOOP:
            external_id = ""
        elif existing:
            external_id = message_key(f"{message_id}#{sha[:16]}")
            problems.append("another mail with the same Message-ID was received before; stored separately")
        else:
            external_id = message_key(message_id)
        source = _source_store(
            account,
            raw=raw,
            message_id=message_id,
            sha=sha,
            external_id=external_id,
            kind=str(EmailKind.OWN_LOOP if ours else kind),
            folder=folder,
            uid=uid,
            uidvalidity=uidvalidity,
            problems=problems,
        )
        external_id = source.external_id
        if context is not None and message_id in context.sources:
            context.sources[message_id].append(
                (sha, external_id, EmailSource.Direction.INBOUND, source.kind, source.pk)
            )
        if ours or not external_id:
            return Ingested(None, source, parsed, note="our own mail")

    if kind is EmailKind.BOUNCE:
        _bounce_apply(account, parsed, raw)

    item = _inbound_item(
        account,
        parsed,
        mailbox=mailbox,
        kind=kind,
        message_id=message_id,
        external_id=external_id,
        raw=raw,
        received_at=received_at,
        folder=folder,
        uid=uid,
        uidvalidity=uidvalidity,
        source_id=source.pk,
        problems=problems,
        context=context,
    )
    if context is not None:
        context.by_message_id[message_id] = item.conversation_external_id
    return Ingested(item, source, parsed, duplicate=same is not None)


def _sources_stored(account: ChannelAccount, message_ids: Iterable[str]) -> dict[str, list[tuple]]:
    """The stored raw-mail rows per Message-ID: (hash, external id, direction, kind, pk)."""
    rows: dict[str, list[tuple]] = {}
    for message_id, *row in EmailSource.objects.filter(
        account=account, message_id__in=list(message_ids)
    ).values_list("message_id", "content_sha256", "external_id", "direction", "kind", "id"):
        rows.setdefault(message_id, []).append(tuple(row))
    return rows


def _kind_without_own(parsed: ParsedEmail) -> EmailKind:
    if parsed.is_bounce:
        return EmailKind.BOUNCE
    if parsed.is_auto_reply:
        return EmailKind.AUTO_REPLY
    if parsed.is_bulk:
        return EmailKind.BULK
    return EmailKind.HUMAN


def _replydesk_keys(raw: bytes) -> list[str]:
    return list(dict.fromkeys(m.decode().lower() for m in _REPLYDESK_ID.findall(raw[:2_000_000])))


def _own_reply_ids(account: ChannelAccount, parsed: ParsedEmail, message_id: str, *, domain: str) -> bool:
    """Is this mail one of this mailbox's own replies (its Message-ID or X-Replydesk-Id)?"""
    # Our Message-IDs are <uuid@our-domain>: only such an id can name one of our replies.
    local, _at, host = message_id.lower().rpartition("@")
    if (
        host == domain
        and _valid_uuids([local])
        and Message.objects.filter(
            account=account, direction=Message.Direction.OUTBOUND, external_id=message_key(message_id)
        ).exists()
    ):
        return True
    header = parsed.headers.get("x-replydesk-id", "").strip().lower()
    if header:
        return Message.objects.filter(
            account=account, direction=Message.Direction.OUTBOUND, idempotency_key__in=_valid_uuids([header])
        ).exists()
    return False


def _valid_uuids(values: list[str]) -> list[str]:
    import uuid

    result = []
    for value in values:
        try:
            result.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return result


_SOURCE_INSERT = """
    INSERT INTO integrations_emailsource (organization_id, account_id, direction, message_id, content_sha256,
        external_id, kind, folder, uidvalidity, uid, size, raw, problems, accepted_at, created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s)
    ON CONFLICT (account_id, message_id, content_sha256) DO NOTHING
    RETURNING id
"""


def _source_store(
    account: ChannelAccount,
    *,
    raw: bytes,
    message_id: str,
    sha: str,
    external_id: str,
    kind: str,
    folder: str,
    uid: int | None,
    uidvalidity: int | None,
    problems: list[str],
) -> EmailSource:
    """Insert the raw bytes, race-safe on the dedupe key (the stored row wins).

    One statement (INSERT … ON CONFLICT DO NOTHING) instead of a savepoint, an insert and a
    release: this runs once per mail, and an initial import reads thousands.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _SOURCE_INSERT,
            [
                account.organization_id,
                account.pk,
                EmailSource.Direction.INBOUND,
                message_id,
                sha,
                external_id,
                kind,
                folder,
                uidvalidity,
                uid,
                len(raw),
                raw,
                json.dumps(problems),
                timezone.now(),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return EmailSource.objects.defer("raw").get(
            account=account, message_id=message_id, content_sha256=sha
        )
    return EmailSource(
        pk=row[0],
        account=account,
        message_id=message_id,
        content_sha256=sha,
        external_id=external_id,
        kind=kind,
    )


# --- bounces ------------------------------------------------------------------------------------


def bounce_reason(parsed: ParsedEmail, raw: bytes) -> str:
    """The recipient server's own words (Diagnostic-Code), else the DSN status, else the first line."""
    match = _DIAGNOSTIC.search(raw[:500_000])
    if match:
        text = _UNFOLD.sub(b" ", match.group(1)).decode("utf-8", "replace").strip()
    else:
        status = _STATUS.search(raw[:500_000])
        text = status.group(1).decode() if status else ""
        if not text:
            text = next((line.strip() for line in parsed.full_text.splitlines() if line.strip()), "")
    return _("The recipient's mail server returned the mail: %(reason)s") % {"reason": text[:400]}


def _bounce_apply(account: ChannelAccount, parsed: ParsedEmail, raw: bytes) -> None:
    """Mark the replies this bounce returns as failed (idempotent: a failed reply stays as it is)."""
    keys = [message_key(i) for i in parsed.bounced_message_ids]
    uuids = _valid_uuids(_replydesk_keys(raw))
    replies = Message.objects.filter(account=account, direction=Message.Direction.OUTBOUND)
    statuses: dict[int, str] = {}
    if keys:
        statuses.update(replies.filter(external_id__in=keys).values_list("pk", "delivery_status"))
    if uuids:
        statuses.update(replies.filter(idempotency_key__in=uuids).values_list("pk", "delivery_status"))
    reason = None
    for pk, status in statuses.items():
        if status == Message.DeliveryStatus.FAILED:
            continue
        reason = reason or bounce_reason(parsed, raw)
        if status == Message.DeliveryStatus.DELIVERED:
            inbox_services.message_mark_bounced(pk, reason=reason)
        else:
            inbox_services.message_mark_failed(pk, reason=reason)


# --- mapping ------------------------------------------------------------------------------------


def _created_at(parsed: ParsedEmail, received_at: datetime | None) -> tuple[datetime, str]:
    """When the mail reached the mailbox: INTERNALDATE (what a reply clock must use; a sender's Date
    can be wrong), else the Date header (not in the future), else now."""
    now = timezone.now()
    if received_at is not None and timezone.is_aware(received_at):
        return min(received_at, now), ""
    if parsed.date is not None and parsed.date.year >= 1990:
        if parsed.date > now + timedelta(minutes=5):
            return now, "Date header in the future; the receiving time was used"
        return parsed.date, ""
    return now, ""


def _inbound_item(
    account: ChannelAccount,
    parsed: ParsedEmail,
    *,
    mailbox: MailboxSettings,
    kind: EmailKind,
    message_id: str,
    external_id: str,
    raw: bytes,
    received_at: datetime | None,
    folder: str,
    uid: int | None,
    uidvalidity: int | None,
    source_id: int,
    problems: list[str],
    context: ThreadContext | None,
) -> InboundMessage:
    created_at, date_problem = _created_at(parsed, received_at)
    if date_problem:
        problems.append(date_problem)
    outbound, contact_address, order_id, masked = _counterpart(parsed, mailbox)
    if masked:
        _link_masked_identity(account, contact_address, order_id, context=context)
    if kind is EmailKind.BOUNCE:
        contact_address = ""  # a mail system is not a buyer

    match = thread_resolve(
        account,
        message_id=message_id,
        thread_ids=parsed.thread_ids,
        own_candidate_ids=parsed.bounced_message_ids if kind is EmailKind.BOUNCE else (),
        replydesk_keys=_valid_uuids(_replydesk_keys(raw)) if kind is EmailKind.BOUNCE else (),
        subject=parsed.subject,
        contact_address=contact_address,
        order_id=order_id,
        at=created_at,
        outbound=outbound,
        context=context,
    )
    classification = CLASSIFICATION.get(kind, Message.Classification.HUMAN)
    if outbound:
        author_type = Message.AuthorType.AGENT if kind is EmailKind.HUMAN else Message.AuthorType.AUTOMATION
    else:
        author_type = Message.AuthorType.BUYER
    return InboundMessage(
        external_id=external_id,
        conversation_external_id=match.conversation_external_id,
        conversation_kind=Conversation.Kind.EMAIL,
        direction=Message.Direction.OUTBOUND if outbound else Message.Direction.INBOUND,
        author_type=author_type,
        author_name=(parsed.from_name or parsed.from_email)[:200],
        created_at=created_at,
        text=parsed.text,
        subject=parsed.subject[:500],
        html=parsed.html,
        classification=classification,
        buyer_email=contact_address,
        order_id=order_id,
        attachments=tuple(
            InboundAttachment(
                filename=att.filename or "attachment",
                content_type=att.content_type,
                size=att.size,
                content_id=att.content_id,
                payload=att.payload,  # checked (refused or stored) by inbox.attachments
            )
            for att in parsed.attachments
        ),
        raw={
            "message_id": message_id,
            "in_reply_to": parsed.in_reply_to,
            "references": parsed.references[-_MAX_REFERENCES_KEPT:],
            "from": parsed.from_email,
            "from_name": parsed.from_name,
            "reply_to": parsed.reply_to,
            "to": parsed.to[:20],
            "cc": parsed.cc[:20],
            "kind": str(kind),
            "reasons": parsed.reasons[:10],
            "thread_rule": match.rule,
            "folder": folder,
            "uid": uid,
            "uidvalidity": uidvalidity,
            "source_id": source_id,
        },
        problems=tuple(problems),
    )


def _counterpart(parsed: ParsedEmail, mailbox: MailboxSettings) -> tuple[bool, str, str, bool]:
    """(written by the seller, the buyer's address, the order id, masked address?): the buyer is
    the sender, or the first recipient outside the mailbox for mail the seller wrote elsewhere; a
    masked `…+txid@allegromail.pl` address is the buyer's without the `+txid`, which is the order."""
    own = mailbox.own_addresses
    outbound = parsed.from_email in own or (
        parsed.header_from_email in own and bool(parsed.header_from_email)
    )
    if outbound:
        counterpart = next((a for a in [*parsed.to, *parsed.cc] if a not in own), "")
    else:
        counterpart = parsed.from_email
    masked = parse_allegro_masked_address(counterpart)
    if masked is not None:
        return outbound, f"{masked.buyer_hash}@{masked.domain}", masked.transaction_id, True
    return outbound, counterpart, "", False


def _link_masked_identity(
    account: ChannelAccount, address: str, order_id: str, *, context: ThreadContext | None = None
) -> None:
    """A masked address seen for the first time with an order we know from Allegro: attach it to
    that order's buyer, so the mail shows in the buyer's timeline (rules.md §1)."""
    if not order_id:
        return
    kind, value = contact_identity_of(address)
    if ContactIdentity.objects.filter(
        organization_id=account.organization_id, kind=kind, value=value
    ).exists():
        return
    known = (
        Conversation.objects.filter(
            organization_id=account.organization_id, order_id=order_id, contact__isnull=False
        )
        .exclude(kind=Conversation.Kind.EMAIL)
        .select_related("contact")
        .first()
    )
    if known is not None:
        inbox_services.contact_identity_add(known.contact, kind=kind, value=value)
        if context is not None and context.lookups is not None:
            context.lookups.identity_added((kind, value))


def _thread_lookups(
    account: ChannelAccount,
    mailbox: MailboxSettings,
    message_ids: list[str],
    mails: list[tuple[ParsedEmail, datetime | None]],
) -> ThreadLookups:
    """`thread_resolve`'s lookups for a batch: what its mails' ids, senders and orders name."""
    lookups = ThreadLookups(account)
    ids, addresses, orders, dates = list(message_ids), [], [], []
    for parsed, received_at in mails:
        ids += parsed.thread_ids
        ids += parsed.bounced_message_ids
        _outbound, address, order_id, _masked = _counterpart(parsed, mailbox)
        addresses.append(address)
        orders.append(order_id)
        dates.append(_created_at(parsed, received_at)[0])
    since = min(dates) - SUBJECT_WINDOW if dates else None
    lookups.prefetch(message_ids=ids, addresses=addresses, order_ids=orders, since=since)
    return lookups


def _store_in_batch(
    account: ChannelAccount,
    item: InboundMessage,
    receive_batch: inbox_services.ReceiveBatch,
    lookups: ThreadLookups,
) -> bool:
    """`message_receive` in a batch, and threading told what it stored; True for a new message."""
    key = (item.conversation_kind, item.conversation_external_id)
    if item.raw["thread_rule"] == "new" and lookups.conversations.get(key[1], 0) is None:
        # Threading found no such conversation (nor did the batch create it): the store need not
        # look for it either.
        receive_batch.absent_conversations.add(key)
    message, created = inbox_services.message_receive(account, item, batch=receive_batch)
    if created:
        lookups.stored(message, contact_address=item.buyer_email)
    return created


@dataclass(frozen=True)
class Fetched:
    """One raw mail as a mailbox gave it (IMAP: its folder, UID, UIDVALIDITY and INTERNALDATE)."""

    raw: bytes
    folder: str = ""
    uid: int | None = None
    uidvalidity: int | None = None
    received_at: datetime | None = None


@dataclass(frozen=True)
class Received:
    """What `email_receive_batch` did with one mail: `created` is True for a new message, False for
    one stored before (or a mail that is no message: our own, a duplicate), None when storing it
    failed (the error is logged; the caller decides what the seller sees)."""

    ingested: Ingested
    created: bool | None


def email_receive_batch(
    account: ChannelAccount,
    mails: list[Fetched],
    *,
    mailbox: MailboxSettings,
    context: ThreadContext,
    timings: dict[str, float] | None = None,
) -> list[Received]:
    """Ingest and store a batch of mails in ONE transaction, in their order; see `email_import`.

    Per mail it is the sync's path (`email_ingest`, then `inbox.services.message_receive`); what can
    be looked up for the whole batch is looked up once: the stored raw mails of its Message-IDs,
    which of its messages are new (`ReceiveBatch`, which also keeps the conversations it locked)
    and what threading reads (`ThreadLookups`, kept current with what the batch stores, so mail N+1
    is threaded after mail N is stored, as one by one).

    If the batch fails — a concurrent writer (a sync of the same mailbox) stored one of its mails
    meanwhile, or one mail trips a bug — it is rolled back and done again mail by mail, each in its
    own transaction (savepoint): the raw bytes are kept, the other mails are stored, and a mail that
    cannot be stored comes back with `created=None`. Storing the same mails again stores nothing twice.
    `timings`, if given, collects the seconds spent in "ingest" and in "store" (the benchmark).
    """
    clock = time.perf_counter

    def timed(key: str, started: float) -> float:
        now = clock()
        if timings is not None:
            timings[key] = timings.get(key, 0.0) + now - started
        return now

    started = clock()
    prepared = [(mail, content_sha256(mail.raw), parse_email(mail.raw)) for mail in mails]
    timed("ingest", started)

    def ingest(mail: Fetched, sha: str, parsed: ParsedEmail) -> Ingested:
        started = clock()
        done = email_ingest(
            account,
            mail.raw,
            mailbox=mailbox,
            folder=mail.folder,
            uid=mail.uid,
            uidvalidity=mail.uidvalidity,
            received_at=mail.received_at,
            context=context,
            prepared=(sha, parsed),
        )
        timed("ingest", started)
        return done

    def batched() -> list[Received]:
        results = []
        try:
            started = clock()
            ids = [parsed.message_id or synthetic_message_id(sha) for _mail, sha, parsed in prepared]
            found = _sources_stored(account, ids)
            context.sources = {message_id: found.get(message_id, []) for message_id in ids}
            # A mail's message key: its Message-ID, or with its hash when another mail has the id.
            keys = {message_key(i) for i in ids}
            keys |= {
                message_key(f"{i}#{sha[:16]}") for i, (_mail, sha, _p) in zip(ids, prepared, strict=True)
            }
            receive_batch = inbox_services.ReceiveBatch()
            receive_batch.prefetch(account, keys)
            lookups = context.lookups = _thread_lookups(
                account, mailbox, ids, [(parsed, mail.received_at) for mail, _sha, parsed in prepared]
            )
            timed("ingest", started)
            for mail, sha, parsed in prepared:
                done = ingest(mail, sha, parsed)
                created = False
                if done.item is not None:
                    started = clock()
                    created = _store_in_batch(account, done.item, receive_batch, lookups)
                    timed("store", started)
                results.append(Received(done, created))
        finally:  # what was read for this transaction only
            context.sources = {}
            context.lookups = None
        return results

    def one_by_one() -> list[Received]:
        results = []
        for mail, sha, parsed in prepared:
            with transaction.atomic():
                done = ingest(mail, sha, parsed)
            created: bool | None = False
            if done.item is not None:
                started = clock()
                try:
                    with transaction.atomic():
                        _message, created = inbox_services.message_receive(account, done.item)
                except (OperationalError, InterfaceError):
                    raise  # the database itself: nothing else can be stored either
                except Exception:
                    logger.exception("mailbox %s: mail %s not stored", account.pk, done.item.external_id)
                    created = None
                timed("store", started)
            results.append(Received(done, created))
        return results

    threaded = dict(context.by_message_id)
    try:
        with transaction.atomic():
            return batched()
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        level = logging.INFO if isinstance(exc, IntegrityError) else logging.WARNING
        logger.log(level, "mailbox %s: the batch failed (%r); again, mail by mail", account.pk, exc)
        context.by_message_id = threaded
        return one_by_one()


def email_import(
    account: ChannelAccount,
    raws: Iterable[bytes],
    *,
    mailbox: MailboxSettings | None = None,
    batch_size: int = 200,
    timings: dict[str, float] | None = None,
) -> tuple[int, int]:
    """Ingest and store many raw mails (an export, an archive, the benchmark): (seen, new).

    `email_receive_batch` per `batch_size` mails: the same path per mail as a sync, one transaction
    per batch. Importing the same mails again stores nothing twice.
    """
    mailbox = mailbox or MailboxSettings.from_account(account)
    context = ThreadContext()
    seen = new = 0
    batch: list[Fetched] = []

    def flush() -> None:
        nonlocal seen, new
        results = email_receive_batch(account, batch, mailbox=mailbox, context=context, timings=timings)
        seen += len(results)
        new += sum(1 for r in results if r.created)
        batch.clear()

    for raw in raws:
        batch.append(Fetched(raw))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return seen, new
