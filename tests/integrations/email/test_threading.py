"""Which conversation a synced mail joins (threads.py), and what its classification does.

Every mail goes through dovecot: APPENDed over IMAP, synced by the app.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from inbox import selectors
from inbox import services as inbox_services
from inbox.models import ContactIdentity, Conversation, Message
from integrations.contracts import InboundMessage
from integrations.services import channel_account_sync, outbound_message_deliver
from sla.models import ResponseRecord, SlaClock

from .mails import bounce, mail, new_id

FIXTURES = Path(__file__).parent / "fixtures"


def deliver(imap_user, account, raw: bytes, *, when=None) -> Message | None:
    """APPEND one mail and sync; the message it became (None if it became none)."""
    before = set(Message.objects.values_list("id", flat=True))
    imap_user.append(raw, when=when)
    run = channel_account_sync(account.pk)
    assert run.ok, run.error
    created = Message.objects.exclude(id__in=before).order_by("id")
    return created.last()


def _sent_reply(mailbox, conversation, user, smtp_server) -> Message:
    reply, _ = inbox_services.message_reply_create(conversation, text="Paczka wyszła dziś.", acting_user=user)
    assert outbound_message_deliver(reply.pk) == "delivered"
    reply.refresh_from_db()
    return reply


# --- rules 1 and 2: our Message-IDs, In-Reply-To and References ---------------------------------


def test_references_naming_our_reply_thread_even_without_in_reply_to(mailbox, imap_user, smtp_server, alice):
    first = deliver(imap_user, mailbox, mail(subject="Zwrot towaru"))
    reply = _sent_reply(mailbox, first.conversation, alice, smtp_server)
    later = timezone.now() + timedelta(seconds=2)
    answer = deliver(
        imap_user, mailbox, mail(subject="Inny temat", references=[reply.external_id]), when=later
    )
    assert answer.conversation_id == first.conversation_id
    assert answer.raw["thread_rule"] == "own"


def test_a_shared_thread_root_joins_mails_even_when_the_root_was_never_seen(mailbox, imap_user):
    root = new_id()
    b = deliver(imap_user, mailbox, mail(subject="Re: Oferta", in_reply_to=root, references=[root]))
    unknown = new_id()
    c = deliver(
        imap_user, mailbox, mail(subject="Re: Oferta", in_reply_to=unknown, references=[root, unknown])
    )
    assert c.conversation_id == b.conversation_id
    assert b.conversation.external_id == root
    assert c.raw["thread_rule"] == "references"


def test_a_reply_that_arrives_before_its_parent_still_joins_it(mailbox, imap_user):
    parent_id = new_id()
    reply = deliver(
        imap_user, mailbox, mail(subject="Re: Gwarancja", in_reply_to=parent_id, references=[parent_id])
    )
    parent = deliver(imap_user, mailbox, mail(subject="Gwarancja", message_id=parent_id))
    assert parent.conversation_id == reply.conversation_id
    assert Conversation.objects.count() == 1


def test_in_reply_to_a_mail_of_the_same_sync_batch(mailbox, imap_user):
    parent_id = new_id()
    imap_user.append(mail(subject="Pytanie", message_id=parent_id))
    imap_user.append(mail(subject="Jeszcze jedno", in_reply_to=parent_id))
    assert channel_account_sync(mailbox.pk).new_messages == 2
    assert Conversation.objects.count() == 1


# --- rule 3: the subject token -------------------------------------------------------------------


def test_the_subject_token_threads_a_new_mail_from_the_same_buyer(mailbox, imap_user):
    first = deliver(imap_user, mailbox, mail(sender="anna@example.pl", subject="Reklamacja"))
    token = f"[#RD-{first.conversation_id}]"
    again = deliver(
        imap_user, mailbox, mail(sender="Anna <ANNA@example.pl>", subject=f"Jeszcze w sprawie {token}")
    )
    assert again.conversation_id == first.conversation_id
    assert again.raw["thread_rule"] == "token"


def test_the_subject_token_from_a_stranger_starts_a_new_conversation(mailbox, imap_user):
    first = deliver(imap_user, mailbox, mail(sender="anna@example.pl", subject="Reklamacja"))
    stranger = deliver(
        imap_user,
        mailbox,
        mail(sender="obcy@example.org", subject=f"Re: Reklamacja [#RD-{first.conversation_id}]"),
    )
    assert stranger.conversation_id != first.conversation_id


# --- rule 4: same contact, same normalised subject, within 14 days -------------------------------


def test_same_buyer_and_subject_within_14_days_is_one_conversation(mailbox, imap_user):
    now = timezone.now()
    first = deliver(
        imap_user,
        mailbox,
        mail(sender="jan@example.pl", subject="Zamówienie 5512"),
        when=now - timedelta(days=10),
    )
    again = deliver(
        imap_user, mailbox, mail(sender="jan@example.pl", subject="RE: Odp: zamówienie  5512"), when=now
    )
    assert again.conversation_id == first.conversation_id
    assert again.raw["thread_rule"] == "subject"
    other_subject = deliver(imap_user, mailbox, mail(sender="jan@example.pl", subject="Faktura"), when=now)
    assert other_subject.conversation_id != first.conversation_id
    other_buyer = deliver(
        imap_user, mailbox, mail(sender="ewa@example.pl", subject="Zamówienie 5512"), when=now
    )
    assert other_buyer.conversation_id != first.conversation_id


def test_the_same_subject_after_14_days_is_a_new_conversation(mailbox, imap_user):
    now = timezone.now()
    first = deliver(
        imap_user,
        mailbox,
        mail(sender="jan@example.pl", subject="Zamówienie 5512"),
        when=now - timedelta(days=20),
    )
    later = deliver(
        imap_user, mailbox, mail(sender="jan@example.pl", subject="Re: Zamówienie 5512"), when=now
    )
    assert later.conversation_id != first.conversation_id
    assert later.conversation.contact_id == first.conversation.contact_id  # still one buyer


def test_the_same_allegro_order_threads_by_subject_across_masked_addresses(mailbox, imap_user):
    first = deliver(
        imap_user, mailbox, mail(sender="8awgqyk6a5+cub31c122@allegromail.pl", subject="Pytanie o dostawę")
    )
    # Same order (txid), the subject thread continues even if the hash part were different.
    again = deliver(
        imap_user, mailbox, mail(sender="zz11yy22+cub31c122@allegromail.pl", subject="Re: Pytanie o dostawę")
    )
    assert again.conversation_id == first.conversation_id


# --- masked Allegro addresses ----------------------------------------------------------------------


def test_a_masked_allegro_sender_is_an_allegromail_contact_with_the_order(mailbox, imap_user):
    message = deliver(imap_user, mailbox, (FIXTURES / "allegro_masked_buyer.eml").read_bytes())
    conversation = message.conversation
    assert conversation.order_id == "cub31c122"
    identity = conversation.contact.identities.get()
    assert (identity.kind, identity.value) == (ContactIdentity.Kind.ALLEGROMAIL, "8awgqyk6a5@allegromail.pl")
    assert message.author_name == "Jan Kowalski"
    assert "kiedy wyślecie paczkę" in message.text

    # Another order of the same buyer: another conversation, the same contact.
    other = deliver(
        imap_user, mailbox, mail(sender="8awgqyk6a5+dd998877@allegromail.pl", subject="Inna sprawa")
    )
    assert other.conversation_id != conversation.pk
    assert other.conversation.contact_id == conversation.contact_id
    assert other.conversation.order_id == "dd998877"
    assert other.conversation in selectors.contact_conversations(conversation)


def test_masked_mail_shows_in_the_timeline_of_the_allegro_buyer_of_that_order(
    org, account, mailbox, imap_user
):
    allegro_message, _ = inbox_services.message_receive(
        account,
        InboundMessage(
            external_id="allegro-1",
            conversation_external_id="thread-9",
            conversation_kind="message",
            direction="in",
            author_type="buyer",
            created_at=timezone.now() - timedelta(days=1),
            text="Dzień dobry",
            buyer_login="pani_ania",
            order_id="cub31c122",
        ),
    )
    message = deliver(imap_user, mailbox, (FIXTURES / "allegro_masked_buyer.eml").read_bytes())
    assert message.conversation.contact_id == allegro_message.conversation.contact_id
    assert allegro_message.conversation in selectors.contact_conversations(message.conversation)


# --- classification ---------------------------------------------------------------------------------


def test_an_auto_reply_is_stored_but_starts_no_wait_and_reopens_nothing(
    mailbox, imap_user, smtp_server, alice, bob
):
    first = deliver(imap_user, mailbox, mail(sender="anna@example.pl", subject="Pytanie"))
    reply = _sent_reply(mailbox, first.conversation, alice, smtp_server)
    conversation = Conversation.objects.get(pk=first.conversation_id)
    inbox_services.conversation_close(conversation, acting_user=bob)
    ooo = deliver(
        imap_user,
        mailbox,
        mail(
            sender="anna@example.pl",
            subject="Automatyczna odpowiedź: Re: Pytanie",
            body="Jestem na urlopie do 15 sierpnia.",
            in_reply_to=reply.external_id,
            headers={"Auto-Submitted": "auto-replied"},
        ),
        when=timezone.now() + timedelta(seconds=2),
    )
    assert ooo.classification == Message.Classification.AUTO_REPLY
    assert ooo.conversation_id == first.conversation_id
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.CLOSED
    assert conversation.awaiting_reply_since is None


def test_bulk_mail_starts_no_wait(mailbox, imap_user):
    message = deliver(imap_user, mailbox, (FIXTURES / "newsletter_pl.eml").read_bytes())
    assert message.classification == Message.Classification.BULK
    assert message.conversation.awaiting_reply_since is None


def test_a_human_answer_reopens_a_closed_conversation(mailbox, imap_user, smtp_server, alice, bob):
    first = deliver(imap_user, mailbox, mail(subject="Pytanie"))
    reply = _sent_reply(mailbox, first.conversation, alice, smtp_server)
    inbox_services.conversation_close(first.conversation, acting_user=bob)
    deliver(
        imap_user,
        mailbox,
        mail(subject="Re: Pytanie", in_reply_to=reply.external_id),
        when=timezone.now() + timedelta(seconds=2),
    )
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.status == Conversation.Status.OPEN
    assert conversation.awaiting_reply_since is not None


def test_a_bounce_fails_the_delivered_reply_and_reopens_nothing(mailbox, imap_user, smtp_server, alice, bob):
    first = deliver(imap_user, mailbox, mail(sender="anna@example.pl", subject="Pytanie o fakturę"))
    reply = _sent_reply(mailbox, first.conversation, alice, smtp_server)
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.awaiting_reply_since is None
    inbox_services.conversation_close(conversation, acting_user=bob)

    returned = deliver(
        imap_user,
        mailbox,
        bounce(original=smtp_server.received[0].data, recipient="anna@example.pl"),
        when=timezone.now() + timedelta(seconds=2),
    )
    assert returned.classification == Message.Classification.BOUNCE
    assert returned.conversation_id == conversation.pk  # threaded by the returned Message-ID
    reply.refresh_from_db()
    assert reply.delivery_status == Message.DeliveryStatus.FAILED
    assert "550 5.1.1" in reply.failure_reason and "User unknown" in reply.failure_reason
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.CLOSED  # a bounce never reopens
    assert conversation.awaiting_reply_since == first.source_created_at  # the buyer still has no answer
    assert conversation.last_reply_at is None
    # The reply had stopped the reply clocks; they run again from the buyer's mail, unanswered.
    open_clocks = SlaClock.objects.filter(conversation=conversation, satisfied_at__isnull=True)
    assert {c.started_at for c in open_clocks} == {first.source_created_at}
    assert not ResponseRecord.objects.filter(conversation=conversation).exists()
    event = conversation.events.get(kind="reply_failed")
    assert event.data["bounced"] is True and event.data["message_id"] == reply.pk

    # The same bounce seen again (another folder, a resync) changes nothing.
    channel_account_sync(mailbox.pk)
    assert conversation.events.filter(kind="reply_failed").count() == 1


def test_a_bounce_for_a_reply_still_on_its_way_marks_it_failed(mailbox, imap_user, smtp_server, alice):
    first = deliver(imap_user, mailbox, mail(sender="anna@example.pl"))
    reply, _ = inbox_services.message_reply_create(first.conversation, text="Odpowiedź", acting_user=alice)
    # Sent, but the worker stopped before recording the delivery (the reply is still SENDING).
    from integrations.contracts import outbound_from_message
    from integrations.email.adapter import EmailAdapter

    Message.objects.filter(pk=reply.pk).update(delivery_status=Message.DeliveryStatus.SENDING)
    EmailAdapter(mailbox).send(outbound_from_message(reply))
    deliver(imap_user, mailbox, bounce(original=smtp_server.received[0].data, recipient="anna@example.pl"))
    reply.refresh_from_db()
    assert reply.delivery_status == Message.DeliveryStatus.FAILED
    assert "User unknown" in reply.failure_reason


def test_our_own_mail_coming_back_is_not_a_new_message(mailbox, imap_user, smtp_server, alice):
    first = deliver(imap_user, mailbox, mail(subject="Pytanie"))
    _sent_reply(mailbox, first.conversation, alice, smtp_server)
    count = Message.objects.count()
    # The seller BCCs himself: our own mail (X-Replydesk-Id, our Message-ID) arrives in INBOX.
    assert deliver(imap_user, mailbox, smtp_server.received[0].data) is None
    assert Message.objects.count() == count


def test_another_replydesks_mail_is_an_ordinary_human_mail(mailbox, imap_user):
    """A seller who uses Replydesk too writes to us: its X-Replydesk-Id is not ours."""
    message = deliver(
        imap_user,
        mailbox,
        mail(
            sender="hurtownia@example.com", headers={"X-Replydesk-Id": "0b7c8a62-4f7e-4b0e-9a1c-2d3e4f5a6b7c"}
        ),
    )
    assert message is not None
    assert message.classification == Message.Classification.HUMAN
    assert message.conversation.awaiting_reply_since is not None


def test_an_own_loop_from_the_mailbox_address_is_kept_raw_but_not_stored(org, imap_user, smtp_server):
    """fixtures/own_loop_autoack.eml: our auto-acknowledgement, sent to our own address."""
    from dataclasses import replace

    from integrations.email.services import mailbox_create
    from integrations.models import EmailSource

    from .conftest import mailbox_settings

    settings = replace(mailbox_settings(imap_user, smtp_server), from_email="kontakt@elektro-max.pl")
    account = mailbox_create(organization=org, name="Elektro-Max", mailbox=settings)
    assert deliver(imap_user, account, (FIXTURES / "own_loop_autoack.eml").read_bytes()) is None
    assert Message.objects.count() == 0
    source = EmailSource.objects.get(account=account)
    assert (source.kind, source.external_id) == ("own_loop", "")
