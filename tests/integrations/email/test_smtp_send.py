"""Replies through a real SMTP server (aiosmtpd): headers, threading, idempotency, refusals."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.utils import timezone

from inbox import services as inbox_services
from inbox.models import Conversation, Message
from integrations.contracts import outbound_from_message
from integrations.email.adapter import EmailAdapter
from integrations.models import DeliveryAttempt, EmailSource
from integrations.services import channel_account_sync, outbound_message_deliver, outbound_messages_sweep

from .mails import mail, new_id


def _buyer_mail(imap_user, account, *, when=None, **kwargs) -> Message:
    imap_user.append(mail(**kwargs), when=when)
    run = channel_account_sync(account.pk)
    assert run.ok, run.error
    return Message.objects.filter(direction="in").latest("id")


def _reply(conversation, user, text="Dzień dobry, paczka wyjdzie jutro.") -> Message:
    reply, _created = inbox_services.message_reply_create(conversation, text=text, acting_user=user)
    return reply


def test_a_reply_goes_out_with_our_message_id_and_threading_headers(mailbox, imap_user, smtp_server, alice):
    root = new_id()
    parent_id = new_id()
    inbound = _buyer_mail(
        imap_user,
        mailbox,
        sender="Anna Nowak <anna.nowak@example.pl>",
        subject="Re: Pytanie o zamówienie 123",
        message_id=parent_id,
        in_reply_to=root,
        references=[root],
    )
    conversation = inbound.conversation
    reply = _reply(conversation, alice)
    assert outbound_message_deliver(reply.pk) == "delivered", (
        DeliveryAttempt.objects.filter(message=reply).first().error
    )

    reply.refresh_from_db()
    assert reply.delivery_status == Message.DeliveryStatus.DELIVERED
    assert len(smtp_server.received) == 1
    sent = smtp_server.received[0]
    headers = sent.message
    assert sent.recipients == ["anna.nowak@example.pl"]
    assert headers["Message-ID"] == f"<{reply.external_id}>"
    assert reply.external_id.endswith("@" + imap_user.login.split("@")[1])  # our domain: the From address's
    assert headers["In-Reply-To"] == f"<{parent_id}>"
    assert headers["References"].split() == [f"<{root}>", f"<{parent_id}>"]
    assert headers["X-Replydesk-Id"] == str(reply.idempotency_key)
    assert headers["Subject"] == f"Re: Pytanie o zamówienie 123 [#RD-{conversation.pk}]"
    assert "Auto-Submitted" not in headers
    assert imap_user.login in headers["From"]
    assert "paczka wyjdzie jutro" in sent.data.decode("utf-8", "replace")
    source = EmailSource.objects.get(direction=EmailSource.Direction.OUTBOUND)
    assert source.accepted_at is not None and source.external_id == reply.external_id
    conversation.refresh_from_db()
    assert conversation.awaiting_reply_since is None  # a delivered human reply stops the wait


def test_the_buyers_answer_to_our_reply_lands_in_the_same_conversation(
    mailbox, imap_user, smtp_server, alice
):
    inbound = _buyer_mail(imap_user, mailbox, subject="Faktura do zamówienia")
    reply = _reply(inbound.conversation, alice)
    outbound_message_deliver(reply.pk)
    reply.refresh_from_db()
    sent_headers = smtp_server.received[0].message

    # The buyer's client answers with In-Reply-To our Message-ID and a fresh subject line.
    answer = _buyer_mail(
        imap_user,
        mailbox,
        subject="Odp: " + sent_headers["Subject"],
        in_reply_to=reply.external_id,
        references=[inbound.external_id, reply.external_id],
        when=timezone.now() + timedelta(seconds=2),  # INTERNALDATE has whole seconds: be after the reply
    )
    assert answer.conversation_id == inbound.conversation_id
    assert answer.raw["thread_rule"] == "own"
    assert Conversation.objects.count() == 1
    assert list(
        inbound.conversation.messages.order_by("source_created_at", "id").values_list("direction", flat=True)
    ) == [
        "in",
        "out",
        "in",
    ]


def test_automatic_mail_carries_auto_submitted(mailbox, imap_user, smtp_server):
    inbound = _buyer_mail(imap_user, mailbox)
    reply, _ = inbox_services.message_reply_create(
        inbound.conversation,
        text="Dziękujemy, odpowiemy wkrótce.",
        acting_user=None,
        author_type=Message.AuthorType.AUTOMATION,
    )
    assert outbound_message_deliver(reply.pk) == "delivered"
    assert smtp_server.received[0].message["Auto-Submitted"] == "auto-replied"


def test_a_refused_recipient_fails_the_reply_with_the_servers_reason(org, imap_user, smtp_rejecting, alice):
    from integrations.email.services import mailbox_create

    from .conftest import mailbox_settings

    account = mailbox_create(organization=org, name="S", mailbox=mailbox_settings(imap_user, smtp_rejecting))
    inbound = _buyer_mail(imap_user, account, sender="Ktoś <nieznany@example.net>")
    reply = _reply(inbound.conversation, alice)
    assert outbound_message_deliver(reply.pk) == "failed"
    reply.refresh_from_db()
    assert reply.delivery_status == Message.DeliveryStatus.FAILED
    assert "nieznany@example.net" in reply.failure_reason
    assert "550" in reply.failure_reason
    assert "odrzucił odbiorcę" in reply.failure_reason  # Polish for the agent
    attempt = DeliveryAttempt.objects.get(message=reply)
    assert attempt.outcome == DeliveryAttempt.Outcome.PERMANENT
    assert smtp_rejecting.received == []
    conversation = inbound.conversation
    conversation.refresh_from_db()
    assert conversation.awaiting_reply_since is not None  # still waiting for a reply
    assert conversation.events.filter(kind="reply_failed").exists()


def test_an_interrupted_send_is_never_sent_twice(mailbox, imap_user, smtp_server, alice):
    """The worker dies after the SMTP server took the mail, before it was marked delivered."""
    inbound = _buyer_mail(imap_user, mailbox)
    reply = _reply(inbound.conversation, alice)
    Message.objects.filter(pk=reply.pk).update(
        delivery_status=Message.DeliveryStatus.SENDING, sending_started_at=timezone.now(), attempts=1
    )
    reply.refresh_from_db()
    EmailAdapter(mailbox).send(outbound_from_message(reply))  # …and here the worker was killed
    assert len(smtp_server.received) == 1

    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert reply.pk in outbound_messages_sweep()
        assert outbound_message_deliver(reply.pk) == "delivered"
    reply.refresh_from_db()
    assert reply.delivery_status == Message.DeliveryStatus.DELIVERED
    assert len(smtp_server.received) == 1
    assert DeliveryAttempt.objects.filter(message=reply).latest("number").outcome == "reconciled"


def test_find_sent_looks_in_the_sent_folder(org, imap_user, smtp_server, alice):
    """No record of the SMTP acceptance (e.g. the crash came before it): the Sent folder tells."""
    from integrations.email.services import mailbox_create

    from .conftest import mailbox_settings

    account = mailbox_create(
        organization=org, name="S", mailbox=mailbox_settings(imap_user, smtp_server, sent_folder="Sent")
    )
    inbound = _buyer_mail(imap_user, account)
    reply = _reply(inbound.conversation, alice)
    adapter = EmailAdapter(account)
    assert adapter.find_sent(outbound_from_message(reply)) is None  # no Message-ID yet: never sent
    adapter.send(outbound_from_message(reply))
    EmailSource.objects.filter(direction=EmailSource.Direction.OUTBOUND).delete()
    reply.refresh_from_db()
    assert adapter.find_sent(outbound_from_message(reply)) is None  # not in Sent either
    imap_user.append(smtp_server.received[0].data, folder="Sent")  # the provider saved it there
    receipt = adapter.find_sent(outbound_from_message(reply))
    assert receipt is not None and receipt.external_id == reply.external_id


def test_a_copy_goes_to_the_sent_folder_and_is_not_synced_as_a_new_message(
    org, imap_user, smtp_server, alice
):
    from integrations.email.services import mailbox_create

    from .conftest import mailbox_settings

    account = mailbox_create(
        organization=org,
        name="S",
        mailbox=mailbox_settings(
            imap_user, smtp_server, folders=("INBOX", "Sent"), sent_folder="Sent", append_to_sent=True
        ),
    )
    inbound = _buyer_mail(imap_user, account)
    reply = _reply(inbound.conversation, alice)
    assert outbound_message_deliver(reply.pk) == "delivered"
    reply.refresh_from_db()
    copies = imap_user.messages("Sent")
    assert len(copies) == 1 and f"<{reply.external_id}>".encode() in copies[0]
    assert all(rb"\Seen" in flags for flags in imap_user.flags("Sent").values())

    run = channel_account_sync(account.pk)  # the Sent folder is watched: our copy is recognised
    assert run.ok, run.error
    assert Message.objects.filter(conversation=inbound.conversation).count() == 2


def test_a_reply_written_in_the_sellers_own_mail_client_stops_the_wait(org, imap_user, smtp_server):
    from integrations.email.services import mailbox_create

    from .conftest import mailbox_settings

    account = mailbox_create(
        organization=org,
        name="S",
        mailbox=mailbox_settings(imap_user, smtp_server, folders=("INBOX", "Sent")),
    )
    inbound = _buyer_mail(imap_user, account, sender="anna.nowak@example.pl")
    assert inbound.conversation.awaiting_reply_since is not None
    imap_user.append(
        mail(
            sender=f"Sklep <{imap_user.login}>",
            to="anna.nowak@example.pl",
            subject="Re: Pytanie o zamówienie 123",
            body="Wysłane z Thunderbirda.",
            in_reply_to=inbound.external_id,
            references=[inbound.external_id],
        ),
        folder="Sent",
    )
    assert channel_account_sync(account.pk).ok
    own = Message.objects.get(direction="out")
    assert own.conversation_id == inbound.conversation_id
    assert own.author_type == Message.AuthorType.AGENT
    conversation = Conversation.objects.get(pk=inbound.conversation_id)
    assert conversation.awaiting_reply_since is None
