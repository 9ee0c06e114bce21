from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from inbox import services
from inbox.models import Conversation, ConversationEvent, Message
from integrations.contracts import InboundMessage
from tests.factories import ChannelAccountFactory


def inbound(
    ext: str, *, thread: str = "t-1", minutes_ago: int = 30, direction: str = "in", **kw
) -> InboundMessage:
    return InboundMessage(
        external_id=ext,
        conversation_external_id=thread,
        conversation_kind="message",
        direction=direction,
        author_type="buyer" if direction == "in" else "agent",
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
        text=kw.pop("text", "Dzień dobry, kiedy wysyłka?"),
        buyer_login=kw.pop("buyer_login", "kupujacy_jan"),
        **kw,
    )


def test_it_stores_a_buyer_message_as_a_waiting_conversation(account):
    item = inbound("m-1", order_id="ord-1")
    message, created = services.message_receive(account, item)
    assert created
    conv = message.conversation
    assert conv.kind == Conversation.Kind.MESSAGE
    assert conv.awaiting_reply_since == item.created_at
    assert conv.order_id == "ord-1"
    assert conv.contact.identities.get().value == "kupujacy_jan"
    assert ConversationEvent.objects.filter(conversation=conv, kind="created").count() == 1


def test_it_ignores_duplicate_external_id(account):
    services.message_receive(account, inbound("m-1"))
    _msg, created = services.message_receive(account, inbound("m-1"))
    assert not created
    assert Message.objects.count() == 1


def test_waiting_starts_at_the_earliest_unanswered_message_and_a_delivered_reply_stops_it(account):
    first, _ = services.message_receive(account, inbound("m-1", minutes_ago=50))
    services.message_receive(account, inbound("m-2", minutes_ago=40))
    conv = Conversation.objects.get()
    assert conv.awaiting_reply_since == first.source_created_at
    # A reply written by the seller elsewhere (synced as outbound) stops the wait.
    services.message_receive(account, inbound("m-3", minutes_ago=20, direction="out"))
    conv.refresh_from_db()
    assert conv.awaiting_reply_since is None
    assert conv.last_reply_at is not None
    # The next buyer message starts a new wait.
    later, _ = services.message_receive(account, inbound("m-4", minutes_ago=5))
    conv.refresh_from_db()
    assert conv.awaiting_reply_since == later.source_created_at


def test_automatic_messages_neither_start_nor_stop_the_wait(account):
    services.message_receive(account, inbound("m-1", classification="auto_reply"))
    conv = Conversation.objects.get()
    assert conv.awaiting_reply_since is None
    services.message_receive(account, inbound("m-2", minutes_ago=10))
    auto = inbound("m-3", minutes_ago=5, direction="out")
    services.message_receive(account, auto.__class__(**{**auto.__dict__, "author_type": "automation"}))
    conv.refresh_from_db()
    assert conv.awaiting_reply_since is not None


def test_a_buyer_message_reopens_a_closed_conversation(account, alice):
    msg, _ = services.message_receive(account, inbound("m-1", minutes_ago=60))
    services.message_receive(account, inbound("m-2", minutes_ago=50, direction="out"))
    services.conversation_close(msg.conversation, acting_user=alice)
    services.message_receive(account, inbound("m-3", minutes_ago=1))
    conv = Conversation.objects.get()
    assert conv.status == Conversation.Status.OPEN
    assert list(conv.events.values_list("kind", flat=True)) == ["created", "closed", "reopened"]


def test_reply_is_stored_pending_and_enqueued_only_after_commit(
    account, alice, django_capture_on_commit_callbacks
):
    msg, _ = services.message_receive(account, inbound("m-1"))
    with django_capture_on_commit_callbacks() as callbacks:
        reply, created = services.message_reply_create(
            msg.conversation, text="Wysyłamy dziś.", acting_user=alice
        )
    assert created
    assert reply.delivery_status == Message.DeliveryStatus.PENDING
    assert len(callbacks) == 1
    # The agent who replied becomes the assignee of an unassigned conversation.
    assert Conversation.objects.get().assignee == alice
    # The wait continues until the reply is delivered.
    assert Conversation.objects.get().awaiting_reply_since is not None


def test_reply_with_the_same_idempotency_key_is_stored_once(account, alice):
    import uuid

    msg, _ = services.message_receive(account, inbound("m-1"))
    key = uuid.uuid4()
    first, c1 = services.message_reply_create(
        msg.conversation, text="A", acting_user=alice, idempotency_key=key
    )
    second, c2 = services.message_reply_create(
        msg.conversation, text="A", acting_user=alice, idempotency_key=key
    )
    assert (c1, c2) == (True, False)
    assert first.pk == second.pk


def test_delivery_stops_the_wait_and_folds_a_synced_copy(account, alice):
    msg, _ = services.message_receive(account, inbound("m-1"))
    reply, _ = services.message_reply_create(msg.conversation, text="Już wysłane.", acting_user=alice)
    # A sync stored Allegro's copy of our reply before the delivery task recorded its id.
    services.message_receive(
        account, inbound("allegro-id-9", minutes_ago=0, direction="out", text="Już wysłane.")
    )
    services.message_mark_delivered(reply.pk, external_id="allegro-id-9", delivered_at=timezone.now())
    assert Message.objects.filter(direction="out").count() == 1
    reply.refresh_from_db()
    assert reply.delivery_status == Message.DeliveryStatus.DELIVERED
    assert reply.external_id == "allegro-id-9"
    assert Conversation.objects.get().awaiting_reply_since is None


def test_blocked_conversation_refuses_replies(account, alice):
    msg, _ = services.message_receive(account, inbound("m-1"))
    Conversation.objects.update(reply_blocked_reason="Czat zamknięty przez Allegro")
    msg.conversation.refresh_from_db()
    with pytest.raises(PermissionError):
        services.message_reply_create(msg.conversation, text="x", acting_user=alice)


def test_assign_refuses_a_user_from_another_organization(account, alice, charlie):
    msg, _ = services.message_receive(account, inbound("m-1"))
    with pytest.raises(PermissionError):
        services.conversation_assign(msg.conversation, assignee=charlie, acting_user=alice)


@pytest.mark.django_db(transaction=True)
def test_two_workers_storing_the_same_messages_at_once_store_each_once():
    account = ChannelAccountFactory()
    items = [inbound(f"m-{i}", thread=f"t-{i % 7}", minutes_ago=100 - i) for i in range(60)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait()
            for item in items:
                services.message_receive(account, item)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Message.objects.count() == 60
    assert Conversation.objects.count() == 7
