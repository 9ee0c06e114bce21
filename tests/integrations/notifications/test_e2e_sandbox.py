"""End to end through the local Allegro sandbox: order events → planner → outbox → Allegro.

A purchase → paid → packed → shipped sequence yields exactly the messages the rules allow
(rules.md §5): Allegro already tells the buyer about the purchase, the payment and the parcel,
so the buyer gets one message from the seller — "packed, no more changes" (with the invoice
merged into it when both are due within the window).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import Conversation, Message
from integrations import services as integration_services
from integrations.models import OrderEventCursor, PlannedNotification
from integrations.notifications import planner, services

pytestmark = pytest.mark.django_db

S = PlannedNotification.State
BUYER = "kasia_zakupy88"


def kinds(org):
    return list(
        PlannedNotification.objects.filter(organization=org).order_by("id").values_list("kind", "state")
    )


def test_first_poll_starts_after_the_latest_event(org, connected_account, allegro_sandbox):
    allegro_sandbox.order_create(BUYER, status="READY_FOR_PROCESSING")
    assert services.order_events_poll(connected_account.pk) == 0
    cursor = OrderEventCursor.objects.get(account=connected_account)
    assert cursor.last_event_id and cursor.polled_at
    assert not PlannedNotification.objects.exists()


def test_purchase_paid_packed_shipped_sends_one_message(org, connected_account, allegro_sandbox):
    now = timezone.now()
    services.order_events_poll(connected_account.pk, now=now)  # the account's first poll
    created = allegro_sandbox.order_create(BUYER, status="READY_FOR_PROCESSING", fulfillmentStatus="NEW")
    order_id = created["order"]["id"]
    assert [e["type"] for e in created["events"]] == ["BOUGHT", "FILLED_IN", "READY_FOR_PROCESSING"]

    # Purchase and payment: Allegro told the buyer already.
    assert services.order_events_poll(connected_account.pk, now=now) == 3
    assert kinds(org) == [("purchase_confirmation", S.SUPPRESSED), ("payment_received", S.SUPPRESSED)]
    cursor = OrderEventCursor.objects.get(account=connected_account)
    assert cursor.last_event_id == created["events"][-1]["id"]

    # The seller packs the order and issues the invoice (buyer and items come from the order).
    packed = services.seller_trigger(
        org, kind="order_packed", order_id=order_id, account=connected_account, now=now
    )
    assert packed.state == S.PLANNED and packed.buyer == BUYER
    product = created["order"]["lineItems"][0]["offer"]["name"]
    assert product in packed.context["items"]
    invoice = services.seller_trigger(
        org,
        kind="invoice_issued",
        order_id=order_id,
        account=connected_account,
        now=now + timedelta(minutes=3),
    )

    # Shipped: a parcel status event, which Allegro and the carrier announce themselves.
    allegro_sandbox.order_event(order_id, "FULFILLMENT_STATUS_CHANGED")
    assert services.order_events_poll(connected_account.pk, now=now) == 1
    # Polling again reads nothing new (stored cursor), and nothing is sent before the window ends.
    assert services.order_events_poll(connected_account.pk, now=now) == 0
    assert services.notifications_flush(now=now + timedelta(minutes=10)) == 0
    assert allegro_sandbox.sent(kind="message") == []

    assert services.notifications_flush(now=now + timedelta(minutes=31)) == 1
    sent = allegro_sandbox.sent(kind="message")
    assert len(sent) == 1
    assert "spakowane" in sent[0]["text"] and "Faktura" in sent[0]["text"]
    packed.refresh_from_db()
    invoice.refresh_from_db()
    assert packed.state == S.SENT and invoice.state == S.MERGED
    assert packed.message.author_type == Message.AuthorType.AUTOMATION
    assert packed.message.conversation.details.get("buyer_login") == BUYER
    assert kinds(org) == [
        ("purchase_confirmation", S.SUPPRESSED),
        ("payment_received", S.SUPPRESSED),
        ("order_packed", S.SENT),
        ("invoice_issued", S.MERGED),
        ("parcel_status", S.SUPPRESSED),
    ]
    day = services.notification_report(org, days=1, now=now)[0]
    assert (day.sent, day.merged, day.suppressed, day.saved) == (1, 1, 3, 4)
    # Nothing else leaves later.
    assert services.notifications_flush(now=now + timedelta(hours=3)) == 0
    assert len(allegro_sandbox.sent(kind="message")) == 1


def test_an_existing_thread_is_answered_through_the_outbox(org, connected_account, allegro_sandbox):
    now = timezone.now()
    services.order_events_poll(connected_account.pk, now=now)
    created = allegro_sandbox.order_create(BUYER, status="READY_FOR_PROCESSING")
    order_id = created["order"]["id"]
    allegro_sandbox.buyer_writes(
        BUYER, "Czy mogę jeszcze zmienić rozmiar?", order_id=order_id, seller="SklepTest"
    )
    integration_services.channel_account_sync(connected_account.pk)
    conversation = Conversation.objects.get(account=connected_account, details__buyer_login=BUYER)

    services.order_events_poll(connected_account.pk, now=now)
    row = services.seller_trigger(
        org, kind="order_packed", order_id=order_id, account=connected_account, now=now
    )
    assert services.notifications_flush(now=now + timedelta(minutes=31)) == 1
    row.refresh_from_db()
    message = row.message
    assert message.conversation == conversation
    assert message.delivery_status == Message.DeliveryStatus.PENDING
    # The reply outbox delivers it (what the task does after commit).
    assert integration_services.outbound_message_deliver(message.pk) == "delivered"
    sent = allegro_sandbox.sent(kind="message")
    assert len(sent) == 1 and "spakowane" in sent[0]["text"]
    conversation.refresh_from_db()
    # An automatic message never answers the buyer for the SLA.
    assert conversation.awaiting_reply_since is not None


def test_repeated_and_out_of_order_events(org, connected_account, allegro_sandbox):
    now = timezone.now()
    services.order_events_poll(connected_account.pk, now=now)
    created = allegro_sandbox.order_create(BUYER, status="READY_FOR_PROCESSING")
    order_id = created["order"]["id"]
    services.order_events_poll(connected_account.pk, now=now)
    row = services.seller_trigger(
        org, kind="order_packed", order_id=order_id, account=connected_account, now=now
    )
    # The buyer cancels before the window ends: the planned message waits for the seller.
    allegro_sandbox.order_event(order_id, "BUYER_CANCELLED")
    services.order_events_poll(connected_account.pk, now=now)
    # The same page read again (a cursor moved back) stores nothing twice.
    OrderEventCursor.objects.filter(account=connected_account).update(last_event_id="")
    services.order_events_poll(connected_account.pk, now=now)
    assert PlannedNotification.objects.filter(organization=org).count() == 4
    assert services.notifications_flush(now=now + timedelta(hours=1)) == 0
    row.refresh_from_db()
    assert row.state == S.HELD
    assert allegro_sandbox.sent(kind="message") == []


def test_template_preview_with_a_real_order(org, connected_account, allegro_sandbox):
    created = allegro_sandbox.order_create(BUYER, status="READY_FOR_PROCESSING")
    order = created["order"]
    text = services.template_preview(
        org, kind="order_packed", language="en", account=connected_account, order_id=order["id"]
    )
    assert order["id"] in text
    assert order["lineItems"][0]["offer"]["name"] in text
    assert order["buyer"]["firstName"] in text


def test_templates_page_previews_a_real_order(client, org, bob, connected_account, allegro_sandbox):
    from django.urls import reverse

    order = allegro_sandbox.order_create(BUYER, status="READY_FOR_PROCESSING")["order"]
    client.force_login(bob)
    page = client.get(
        reverse("notifications:template-list"), {"account": connected_account.pk, "order_id": order["id"]}
    )
    assert page.status_code == 200
    assert order["lineItems"][0]["offer"]["name"] in page.content.decode()


def test_the_beat_task_polls_flushes_and_acknowledges(org, connected_account, allegro_sandbox):
    from integrations.tasks import notifications_tick

    assert notifications_tick() == 0  # first poll: the cursor is placed
    allegro_sandbox.order_create(BUYER, status="READY_FOR_PROCESSING")
    assert notifications_tick() == 0
    assert PlannedNotification.objects.filter(organization=org, state=S.SUPPRESSED).count() == 2


def test_a_failed_first_message_is_held_never_sent_twice(org, connected_account, allegro_sandbox):
    now = timezone.now()
    order_id = allegro_sandbox.order_create(BUYER, status="READY_FOR_PROCESSING")["order"]["id"]
    row = services.seller_trigger(
        org, kind="order_packed", order_id=order_id, account=connected_account, now=now
    )
    allegro_sandbox.inject_fault(drop=True, path="/messaging/messages", method="POST")
    assert services.notifications_flush(now=now + timedelta(minutes=31)) == 0
    row.refresh_from_db()
    assert row.state == S.HELD and row.reason == planner.R_UNKNOWN
    # Nothing is retried behind the seller's back…
    assert services.notifications_flush(now=now + timedelta(hours=2)) == 0
    # …until the seller, having checked, sends it anyway.
    row = services.notification_release(row, acting_user=None, now=now + timedelta(hours=2))
    assert row.state == S.SENT
    assert len(allegro_sandbox.sent(kind="message")) == 1


def test_trigger_and_release_from_the_page(client, org, bob, connected_account, allegro_sandbox):
    from django.urls import reverse

    order_id = allegro_sandbox.order_create(BUYER, status="READY_FOR_PROCESSING")["order"]["id"]
    services.template_save(
        org, kind="order_packed", language="pl", body="Paczka wysłana, numer przesyłki {tracking_number}."
    )
    client.force_login(bob)
    response = client.post(
        reverse("notifications:notification-trigger"),
        {"kind": "order_packed", "account": connected_account.pk, "order_id": order_id, "language": "pl"},
    )
    assert response.status_code == 302
    row = PlannedNotification.objects.get(organization=org, kind="order_packed")
    assert row.state == S.PLANNED and row.buyer == BUYER
    # Due after the window; the template only repeats the parcel mail, so it is held.
    services.notifications_flush(now=timezone.now() + timedelta(minutes=31))
    row.refresh_from_db()
    assert row.state == S.HELD
    page = client.get(reverse("notifications:notification-list"))
    assert "Powtarza powiadomienie z Allegro" in page.content.decode()
    client.post(reverse("notifications:notification-release", args=[row.pk]))
    row.refresh_from_db()
    assert row.state == S.SENT
    assert len(allegro_sandbox.sent(kind="message")) == 1
