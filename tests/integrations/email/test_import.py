"""`email_import`: many mails in one transaction per batch, with shared lookups (`ReceiveBatch`).

The batch path must store exactly what the per-mail path of a sync stores (message by message,
each in its own transaction), and a concurrent writer must cost a redo, never a duplicate.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connections, transaction
from django.db.models import Count
from django.utils import timezone

from inbox import services as inbox_services
from inbox.models import ChannelAccount, Conversation, Message
from integrations.email.ingest import Fetched, email_import, email_ingest, email_receive_batch
from integrations.email.mailbox import NONE, MailboxSettings, ServerSettings
from integrations.email.threads import ThreadContext
from sla.models import SlaClock
from tests.locks import wait_until_a_session_waits_on_a_lock

from .corpus import CORPUS_DIR, require_corpus
from .mails import mail, new_id

SETTINGS = MailboxSettings(
    imap=ServerSettings("127.0.0.1", 1, NONE, "sklep@example.com", "x"),
    smtp=ServerSettings("127.0.0.1", 1, NONE, "", ""),
    from_email="sklep@example.com",
)


def _mailbox(org, name: str) -> ChannelAccount:
    return ChannelAccount.objects.create(
        organization=org,
        kind="email",
        name=name,
        external_id=f"{name}@example.com",
        credentials=SETTINGS.as_credentials(),
        health="ok",
    )


def _ago(hours: int):
    return timezone.now() - timedelta(hours=hours)


def _mails() -> list[bytes]:
    """The corpus (its own threads, duplicate Message-IDs, bounces, auto-replies) plus a Polish
    thread with a question, the seller's answer from his own mail client, and a follow-up."""
    require_corpus()
    raws = [p.read_bytes() for p in sorted(CORPUS_DIR.iterdir()) if p.suffix == ".eml"]
    first = new_id()
    raws.append(
        mail(
            subject="Zwrot zamówienia", body="Dzień dobry, jak zwrócić buty?", message_id=first, date=_ago(3)
        )
    )
    answer = new_id()
    raws.append(
        mail(
            subject="Re: Zwrot zamówienia",
            body="Prosimy odesłać na adres sklepu.",
            sender="sklep@example.com",
            to="kupujacy@example.pl",
            message_id=answer,
            in_reply_to=first,
            date=_ago(2),
        )
    )
    raws.append(
        mail(
            subject="Re: Zwrot zamówienia",
            body="Dziękuję, a paragon?",
            message_id=new_id(),
            in_reply_to=answer,
            date=_ago(1),
        )
    )
    return raws + raws[:5]  # the same mails again: stored once


def _snapshot(account: ChannelAccount) -> dict:
    """What the inbox holds for a mailbox, independent of ids and of the order of storing."""
    conversations = {
        c.pk: c.external_id for c in Conversation.objects.filter(account=account).only("external_id")
    }
    return {
        "messages": sorted(
            (
                m.external_id,
                conversations[m.conversation_id],
                m.direction,
                m.classification,
                m.raw["thread_rule"],
            )
            for m in Message.objects.filter(account=account)
        ),
        "conversations": sorted(
            Conversation.objects.filter(account=account).values_list(
                "external_id", "status", "awaiting_reply_since", "last_message_at", "last_reply_at", "subject"
            )
        ),
        "clocks": sorted(
            (conversations[c.conversation_id], c.kind, c.started_at, c.due_at, c.satisfied_at, c.cancelled_at)
            for c in SlaClock.objects.filter(conversation__account=account)
        ),
    }


def _one_by_one(account: ChannelAccount, raws: list[bytes]) -> None:
    """The sync's path: each mail ingested and stored in its own transaction."""
    context = ThreadContext()
    for raw in raws:
        with transaction.atomic():
            done = email_ingest(account, raw, mailbox=SETTINGS, context=context)
            if done.item is not None:
                inbox_services.message_receive(account, done.item)


@pytest.mark.django_db
def test_a_batched_import_stores_what_mail_by_mail_storing_does(org) -> None:
    raws = _mails()
    batched, single = _mailbox(org, "batched"), _mailbox(org, "single")

    with time_machine.travel(timezone.now(), tick=False):  # a mail without a Date is stored at "now"
        seen, new = email_import(batched, raws, mailbox=SETTINGS, batch_size=7)  # batches split threads
        _one_by_one(single, raws)

    assert seen == len(raws)
    assert new == Message.objects.filter(account=batched).count() > 40
    assert _snapshot(batched) == _snapshot(single)
    waiting = Conversation.objects.get(account=batched, subject="Zwrot zamówienia")
    assert waiting.messages.count() == 3
    assert waiting.awaiting_reply_since is not None  # the follow-up waits for an answer
    assert SlaClock.objects.filter(conversation=waiting, satisfied_at__isnull=False).exists()


def _same_subject_mails() -> tuple[list[bytes], list[bytes]]:
    """Mails threaded by rule 4 (same buyer or order, same subject, 14 days), none naming another:
    what the mailbox held before, and a batch whose mails thread into those, into each other, or
    into nothing (too old)."""
    anna, jan, ewa = "Anna <anna@example.pl>", "Jan <jan@example.pl>", "Ewa <ewa@example.pl>"
    before = [
        mail(sender=anna, subject="Pytanie o zwrot", date=_ago(5 * 24)),
        mail(sender=jan, subject="Faktura", date=_ago(20 * 24)),
        mail(sender="kupujacy <abc123+55501@allegromail.pl>", subject="Zamówienie 55501", date=_ago(30)),
    ]
    batch = [
        mail(sender=anna, subject="Re: Pytanie o zwrot", date=_ago(4)),  # into the earlier one
        mail(sender=ewa, subject="Dostawa", date=_ago(3)),  # a new buyer…
        mail(sender=ewa, subject="Odp: Dostawa", date=_ago(2)),  # …writing again in the batch
        mail(sender="sklep@example.com", to=ewa, subject="Re: Dostawa", body="Wysłane.", date=_ago(1)),
        mail(sender=jan, subject="Faktura", date=_ago(3)),  # 20 days later: a new conversation
        mail(sender=jan, subject="RE: Faktura", date=_ago(2)),
        mail(sender=jan, subject="Faktura", date=_ago(10 * 24)),  # late: both within its 14 days
        mail(sender="kupujacy <abc123+55501@allegromail.pl>", subject="Re: Zamówienie 55501", date=_ago(2)),
        # Another buyer of the same order, then of another order.
        mail(sender="inny <xyz789+55501@allegromail.pl>", subject="PD: Zamówienie 55501", date=_ago(1)),
        mail(sender="inny <xyz789+55502@allegromail.pl>", subject="Zamówienie 55501", date=_ago(1)),
        mail(sender=anna, subject="Pytanie o zwrot", date=_ago(1)),
    ]
    return before, batch


@pytest.mark.django_db
@pytest.mark.parametrize("batch_size", [1, 2, 50])
def test_a_batched_import_threads_by_subject_as_mail_by_mail_storing_does(org, batch_size) -> None:
    before, batch = _same_subject_mails()
    batched, single = _mailbox(org, "batched"), _mailbox(org, "single")
    with time_machine.travel(timezone.now(), tick=False):
        _one_by_one(batched, before)
        _one_by_one(single, before)
        email_import(batched, batch, mailbox=SETTINGS, batch_size=batch_size)
        _one_by_one(single, batch)

    assert _snapshot(batched) == _snapshot(single)
    rules = sorted(m.raw["thread_rule"] for m in Message.objects.filter(account=batched))
    assert rules.count("subject") == 8 and rules.count("new") == 6
    threads = sorted(
        Conversation.objects.filter(account=batched).annotate(n=Count("messages")).values_list("subject", "n")
    )
    assert threads == [
        ("Dostawa", 3),
        ("Faktura", 1),
        ("Faktura", 3),
        ("Pytanie o zwrot", 3),
        ("Zamówienie 55501", 1),  # another buyer, another order: only the subject is the same
        ("Zamówienie 55501", 3),
    ]


@pytest.mark.django_db
def test_mails_received_at_one_instant_thread_as_one_by_one(org) -> None:
    """An IMAP folder filled at once: every mail has the same INTERNALDATE, so conversations of one
    buyer and subject tie on their last activity; both paths must then pick the same (the newer)."""
    raws = _mails()
    rounds = [raw.replace(b"Message-ID: <", f"Message-ID: <r{n}.".encode()) for n in range(3) for raw in raws]
    at = timezone.now() - timedelta(minutes=1)
    batched, single = _mailbox(org, "batched"), _mailbox(org, "single")
    context = ThreadContext()
    fetched = [Fetched(raw, "INBOX", uid, 1, at) for uid, raw in enumerate(rounds, start=1)]
    for start in range(0, len(fetched), 50):
        email_receive_batch(batched, fetched[start : start + 50], mailbox=SETTINGS, context=context)
    context = ThreadContext()
    for mail_ in fetched:
        with transaction.atomic():
            done = email_ingest(single, mail_.raw, mailbox=SETTINGS, received_at=at, context=context)
            if done.item is not None:
                inbox_services.message_receive(single, done.item)

    assert _snapshot(batched) == _snapshot(single)
    assert Message.objects.filter(account=batched, raw__thread_rule="subject").count() > 20


@pytest.mark.django_db
def test_importing_the_same_mails_again_stores_nothing(org) -> None:
    raws = _mails()
    account = _mailbox(org, "again")
    email_import(account, raws, mailbox=SETTINGS, batch_size=50)
    before = _snapshot(account)

    assert email_import(account, raws, mailbox=SETTINGS, batch_size=50) == (len(raws), 0)
    assert _snapshot(account) == before


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_writer_costs_a_redo_never_a_duplicate(org, caplog) -> None:
    """Another worker holds one of the batch's mails, uncommitted, when the batch looks it up: the
    batch sees it as new, waits on the unique index, then redoes the batch mail by mail."""
    question = mail(subject="Faktura", body="Proszę o fakturę VAT.", message_id=new_id())
    others = [mail(subject=f"Pytanie {n}", body=f"Treść {n}", message_id=new_id()) for n in range(5)]
    account = _mailbox(org, "race")
    holding, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                email_import(account, [question], mailbox=SETTINGS)
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    caplog.set_level(logging.INFO, logger="integrations.email.ingest")
    worker = threading.Thread(target=other_worker)
    worker.start()
    assert holding.wait(30)
    result: dict = {}

    def importer() -> None:
        try:
            result["counts"] = email_import(account, [*others[:2], question, *others[2:]], mailbox=SETTINGS)
        finally:
            connections.close_all()

    ours = threading.Thread(target=importer)
    ours.start()
    wait_until_a_session_waits_on_a_lock()
    release.set()
    worker.join(30)
    ours.join(60)

    assert "the batch failed" in caplog.text and "again, mail by mail" in caplog.text  # the redo ran
    assert result["counts"] == (6, 5)  # the question was the other worker's
    assert Message.objects.filter(account=account).count() == 6
    assert Message.objects.filter(account=account, text__contains="fakturę").count() == 1
