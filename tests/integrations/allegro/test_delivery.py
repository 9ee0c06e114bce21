"""The outbox: replies reach Allegro once, failures are shown to the agent."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from inbox import services as inbox_services
from inbox.models import Conversation, Message
from integrations import services
from integrations.models import DeliveryAttempt


def _waiting_conversation(account, sandbox, text="Czy mogę zmienić adres dostawy?") -> Conversation:
    sandbox.buyer_writes("marta_99", text)
    services.channel_account_sync(account.pk)
    return Conversation.objects.get()


def test_a_reply_reaches_allegro_and_stops_the_wait(connected_account, allegro_sandbox, alice):
    conv = _waiting_conversation(connected_account, allegro_sandbox)
    reply, _ = inbox_services.message_reply_create(
        conv, text="Tak, proszę podać nowy adres.", acting_user=alice
    )
    assert services.outbound_message_deliver(reply.pk) == "delivered"
    sent = allegro_sandbox.sent()
    assert [s["text"] for s in sent] == ["Tak, proszę podać nowy adres."]
    assert sent[0]["threadId"] == conv.external_id
    reply.refresh_from_db()
    assert reply.delivery_status == Message.DeliveryStatus.DELIVERED
    assert reply.external_id == sent[0]["messageId"]
    conv.refresh_from_db()
    assert conv.awaiting_reply_since is None
    # The next sync sees our message in the thread and does not store it again.
    services.channel_account_sync(connected_account.pk)
    assert Message.objects.filter(direction="out").count() == 1


def test_delivering_twice_sends_once(connected_account, allegro_sandbox, alice):
    conv = _waiting_conversation(connected_account, allegro_sandbox)
    reply, _ = inbox_services.message_reply_create(conv, text="Odpowiedź", acting_user=alice)
    assert services.outbound_message_deliver(reply.pk) == "delivered"
    assert services.outbound_message_deliver(reply.pk) == "skipped"
    assert len(allegro_sandbox.sent()) == 1


def test_a_permanent_error_fails_the_reply_with_allegros_message(connected_account, allegro_sandbox, alice):
    conv = _waiting_conversation(connected_account, allegro_sandbox)
    reply, _ = inbox_services.message_reply_create(conv, text="x" * 10, acting_user=alice)
    allegro_sandbox.inject_fault(
        status=422,
        path=f"/messaging/threads/{conv.external_id}/messages",
        method="POST",
        body={
            "errors": [
                {
                    "code": "VALIDATION_ERROR",
                    "message": "bad",
                    "details": None,
                    "path": "text",
                    "userMessage": "Wiadomość zawiera niedozwolone treści.",
                    "metadata": {},
                }
            ]
        },
    )
    assert services.outbound_message_deliver(reply.pk) == "failed"
    reply.refresh_from_db()
    assert reply.delivery_status == Message.DeliveryStatus.FAILED
    assert reply.failure_reason == "Wiadomość zawiera niedozwolone treści."
    assert DeliveryAttempt.objects.get(message=reply).outcome == "permanent"
    assert not allegro_sandbox.sent()
    conv.refresh_from_db()
    assert conv.awaiting_reply_since is not None  # the buyer still waits


def test_a_transient_error_parks_the_reply_for_a_later_attempt(
    connected_account, allegro_sandbox, alice, settings
):
    settings.ALLEGRO_MAX_RETRIES = 0
    conv = _waiting_conversation(connected_account, allegro_sandbox)
    reply, _ = inbox_services.message_reply_create(conv, text="Za chwilę", acting_user=alice)
    allegro_sandbox.inject_fault(
        status=503, count=1, path=f"/messaging/threads/{conv.external_id}/messages", method="POST"
    )
    assert services.outbound_message_deliver(reply.pk) == "retry"
    reply.refresh_from_db()
    assert reply.delivery_status == Message.DeliveryStatus.PENDING
    assert reply.next_attempt_at > timezone.now()
    # Not due yet: the sweep leaves it alone; once due it is picked up and delivered.
    assert reply.pk not in services.outbound_messages_sweep()
    Message.objects.filter(pk=reply.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert reply.pk in services.outbound_messages_sweep()
    assert services.outbound_message_deliver(reply.pk) == "delivered"
    assert len(allegro_sandbox.sent()) == 1


def test_an_interrupted_send_is_reconciled_not_repeated(connected_account, allegro_sandbox, alice):
    """A worker died after Allegro accepted the POST but before we recorded it."""
    conv = _waiting_conversation(connected_account, allegro_sandbox)
    reply, _ = inbox_services.message_reply_create(conv, text="Wysłane przed awarią", acting_user=alice)
    started = timezone.now() - timedelta(minutes=5)
    token = allegro_sandbox.mint_token(seller="SklepTest")["access_token"]
    allegro_sandbox.api(
        "POST",
        f"/messaging/threads/{conv.external_id}/messages",
        token,
        json={"text": "Wysłane przed awarią"},
    )
    Message.objects.filter(pk=reply.pk).update(
        delivery_status="sending", sending_started_at=started, attempts=1
    )
    ids = services.outbound_messages_sweep()
    assert reply.pk in ids
    assert services.outbound_message_deliver(reply.pk) == "delivered"
    assert len(allegro_sandbox.sent()) == 1
    assert DeliveryAttempt.objects.filter(message=reply).last().outcome == "reconciled"


def test_the_one_post_per_second_limit_is_respected(connected_account, allegro_sandbox, alice):
    conv = _waiting_conversation(connected_account, allegro_sandbox)
    replies = [
        inbox_services.message_reply_create(conv, text=f"Część {i}", acting_user=alice)[0] for i in range(3)
    ]
    for reply in replies:
        assert services.outbound_message_deliver(reply.pk) == "delivered"
    assert len(allegro_sandbox.sent()) == 3
    assert allegro_sandbox.request_counts()["byStatus"].get("429", 0) == 0
