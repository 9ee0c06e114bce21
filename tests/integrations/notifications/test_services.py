"""Notification services over event sequences (database, no HTTP): suppress, merge, cap, channel,
repeated and out-of-order events, release/drop, the report, autoresponders and the loop guard."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from inbox.models import Conversation, Message
from integrations.contracts import InboundMessage
from integrations.models import AutoresponderLog, PlannedNotification
from integrations.notifications import planner, services
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db

S = PlannedNotification.State


def event(n, type_, order="order-1", login="kasia_zakupy88", guest=False, email="k@allegromail.pl"):
    return {
        "id": str(1_700_000_000_000_000 + n),
        "type": type_,
        "occurredAt": "2026-11-23T09:00:00Z",
        "order": {
            "seller": {"id": "1"},
            "buyer": {"id": "9", "email": email, "login": login, "guest": guest},
            "lineItems": [{"offer": {"id": "1", "name": "Kubek termiczny"}, "quantity": 2}],
            "checkoutForm": {"id": order, "revision": "a"},
            "marketplace": {"id": "allegro-pl"},
        },
    }


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def thread(account):
    return ConversationFactory(
        account=account, external_id="thread-kasia", details={"buyer_login": "kasia_zakupy88"}
    )


def states(org):
    return list(
        PlannedNotification.objects.filter(organization=org).order_by("id").values_list("kind", "state")
    )


def test_allegro_events_are_suppressed_and_counted(org, account, now):
    for n, t in enumerate(["BOUGHT", "FILLED_IN", "READY_FOR_PROCESSING", "FULFILLMENT_STATUS_CHANGED"]):
        services.order_event_ingest(account, event(n, t), now=now)
    assert states(org) == [
        ("purchase_confirmation", S.SUPPRESSED),
        ("payment_received", S.SUPPRESSED),
        ("parcel_status", S.SUPPRESSED),
    ]
    day = services.notification_report(org, days=1, now=now)[0]
    assert day.suppressed == 3 and day.saved == 3 and day.sent == 0


def test_a_repeated_event_is_stored_once(org, account, now):
    first = services.order_event_ingest(account, event(1, "BOUGHT"), now=now)
    again = services.order_event_ingest(account, event(1, "BOUGHT"), now=now)
    assert first.pk == again.pk
    assert PlannedNotification.objects.count() == 1


def test_packed_and_invoice_within_the_window_merge_into_one_message(org, account, thread, now):
    services.order_event_ingest(account, event(1, "BOUGHT"), now=now)
    packed = services.seller_trigger(org, kind="order_packed", order_id="order-1", now=now)
    invoice = services.seller_trigger(
        org, kind="invoice_issued", order_id="order-1", now=now + timedelta(minutes=5)
    )
    assert packed.buyer == "kasia_zakupy88" and packed.account == account
    assert services.notifications_flush(now=now + timedelta(minutes=29)) == 0
    assert services.notifications_flush(now=now + timedelta(minutes=31)) == 1
    packed.refresh_from_db()
    invoice.refresh_from_db()
    assert packed.state == S.SENT and invoice.state == S.MERGED and invoice.merged_into == packed
    message = packed.message
    assert message.conversation == thread
    assert message.author_type == Message.AuthorType.AUTOMATION
    assert message.delivery_status == Message.DeliveryStatus.PENDING  # in the outbox
    assert "spakowane" in message.text and "Faktura" in message.text and "Kubek termiczny × 2" in message.text
    assert message.text.count("Dzień dobry") == 1
    # Flushing again sends nothing more.
    assert services.notifications_flush(now=now + timedelta(hours=2)) == 0
    assert Message.objects.filter(direction="out").count() == 1


def test_cap_per_order_holds_the_third_message(org, account, thread, now):
    services.order_event_ingest(account, event(1, "BOUGHT"), now=now)
    for hours, kind in enumerate(("order_packed", "invoice_issued")):
        at = now + timedelta(hours=hours)
        services.seller_trigger(org, kind=kind, order_id="order-1", now=at)
        assert services.notifications_flush(now=at + timedelta(minutes=31)) == 1
    held = services.seller_trigger(
        org, kind="return_received", order_id="order-1", now=now + timedelta(hours=3)
    )
    assert held.state == S.HELD and held.reason == planner.R_CAP_ORDER
    assert Message.objects.filter(direction="out").count() == 2


def test_triggers_within_the_window_are_one_message_not_capped(org, account, thread, now):
    services.order_event_ingest(account, event(1, "BOUGHT"), now=now)
    for minutes, kind in enumerate(("order_packed", "invoice_issued", "return_received")):
        services.seller_trigger(org, kind=kind, order_id="order-1", now=now + timedelta(minutes=minutes))
    assert services.notifications_flush(now=now + timedelta(minutes=31)) == 1
    assert states(org)[1:] == [
        ("order_packed", S.SENT),
        ("invoice_issued", S.MERGED),
        ("return_received", S.MERGED),
    ]


def test_cancellation_after_planning_holds_the_planned(org, account, thread, now):
    services.order_event_ingest(account, event(1, "BOUGHT"), now=now)
    packed = services.seller_trigger(org, kind="order_packed", order_id="order-1", now=now)
    services.order_event_ingest(account, event(2, "BUYER_CANCELLED"), now=now + timedelta(minutes=1))
    packed.refresh_from_db()
    assert packed.state == S.HELD and packed.reason == planner.R_CANCELLED
    assert services.notifications_flush(now=now + timedelta(hours=1)) == 0


def test_compliance_holds_a_template_that_only_repeats_allegro(org, account, thread, now):
    services.template_save(org, kind="order_packed", language="pl", body="Twoja paczka została wysłana.")
    row = services.seller_trigger(
        org, kind="order_packed", order_id="o-9", buyer="kasia_zakupy88", account=account, now=now
    )
    services.notifications_flush(now=now + timedelta(hours=1))
    row.refresh_from_db()
    assert row.state == S.HELD and row.reason.startswith(planner.R_COMPLIANCE)
    assert "dispatch" in row.reason
    # The seller releases it: it skips the check and goes.
    row = services.notification_release(row, acting_user=None, now=now + timedelta(hours=1))
    assert row.state == S.SENT and row.message.author_type == "automation"


def test_guest_buyer_with_an_email_conversation_gets_an_email(org, account, now):
    mail_account = account.__class__.objects.create(
        organization=org, kind="email", name="Sklep", external_id="sklep@example.com"
    )
    from inbox.services import message_receive

    mail, _ = message_receive(
        mail_account,
        InboundMessage(
            external_id="<m1@example.com>",
            conversation_external_id="<m1@example.com>",
            conversation_kind="email",
            direction="in",
            author_type="buyer",
            created_at=now,
            text="Pytanie",
            buyer_email="guest@example.com",
        ),
    )
    services.order_event_ingest(
        account, event(1, "BOUGHT", login="", guest=True, email="guest@example.com"), now=now
    )
    row = services.seller_trigger(org, kind="order_packed", order_id="order-1", now=now)
    assert row.buyer == "guest@example.com"
    services.notifications_flush(now=now + timedelta(hours=1))
    row.refresh_from_db()
    assert row.state == S.SENT and row.message.conversation == mail.conversation


def test_no_channel_is_held_then_dropped(org, now):
    row = services.seller_trigger(
        org, kind="order_packed", order_id="o-1", buyer="guest@example.com", now=now
    )
    services.notifications_flush(now=now + timedelta(hours=1))
    row.refresh_from_db()
    assert row.state == S.HELD and row.reason == planner.R_NO_CHANNEL
    row = services.notification_drop(row)
    assert row.state == S.DROPPED
    assert services.notification_report(org, days=1, now=now)[0].saved == 1


def test_report_command(org, account, now):
    services.order_event_ingest(account, event(1, "BOUGHT"), now=now)
    out = StringIO()
    call_command("notification_report", "--org", org.slug, "--days", "3", stdout=out)
    assert "mails saved: 1" in out.getvalue()
    assert org.slug in out.getvalue()


def test_report_command_unknown_org(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("notification_report", "--org", "nope", stdout=StringIO())


# --- autoresponders ----------------------------------------------------------------------------------


def inbound(account, thread_id, text, *, n, at, classification="human"):
    from inbox.services import message_receive

    msg, _ = message_receive(
        account,
        InboundMessage(
            external_id=f"in-{n}",
            conversation_external_id=thread_id,
            conversation_kind="message",
            direction="in",
            author_type="buyer",
            created_at=at,
            text=text,
            buyer_login="kasia_zakupy88",
            classification=classification,
        ),
    )
    Message.objects.filter(pk=msg.pk).update(created_at=at)
    msg.refresh_from_db()
    return msg


@pytest.fixture
def ack_on(org):
    return services.settings_update(
        org, autoresponder_enabled=True, autoresponder_text="Dziękujemy, odpowiemy do 24 h."
    )


def test_autoresponder_is_off_by_default(org, account, now):
    msg = inbound(account, "t1", "Czy wyślecie dziś?", n=1, at=now)
    assert services.autoresponder_consider(msg.pk, now=now) is None


def test_autoresponder_once_per_period_and_marked_automatic(org, account, ack_on, now):
    first = inbound(account, "t1", "Czy wyślecie dziś?", n=1, at=now)
    log = services.autoresponder_consider(first.pk, now=now)
    assert log.outcome == AutoresponderLog.Outcome.SENT
    assert log.reply.author_type == Message.AuthorType.AUTOMATION
    conv = Conversation.objects.get(pk=first.conversation_id)
    assert conv.awaiting_reply_since is not None  # the SLA clock keeps running
    second = inbound(account, "t1", "Halo?", n=2, at=now + timedelta(hours=1))
    assert services.autoresponder_consider(second.pk, now=now + timedelta(hours=1)).outcome == "skipped"
    # Idempotent per inbound message.
    assert services.autoresponder_consider(first.pk, now=now).pk == log.pk
    assert Message.objects.filter(author_type="automation").count() == 1


def test_autoresponder_never_answers_automatic_mail(org, account, ack_on, now):
    msg = inbound(account, "t1", "Out of office", n=1, at=now, classification="auto_reply")
    log = services.autoresponder_consider(msg.pk, now=now)
    assert log.outcome == AutoresponderLog.Outcome.SKIPPED
    assert not Message.objects.filter(author_type="automation").exists()


def test_loop_guard_stops_after_the_first_exchange(org, account, ack_on, now):
    first = inbound(account, "t1", "Czy wyślecie dziś?", n=1, at=now)
    assert services.autoresponder_consider(first.pk, now=now).outcome == "sent"
    Message.objects.filter(author_type="automation").update(created_at=now)
    bot = inbound(
        account,
        "t1",
        "To jest automatyczna odpowiedź: jestem poza biurem.",
        n=2,
        at=now + timedelta(seconds=30),
    )
    log = services.autoresponder_consider(bot.pk, now=now + timedelta(seconds=30))
    assert log.outcome == AutoresponderLog.Outcome.LOOP
    conv = Conversation.objects.get(pk=first.conversation_id)
    assert conv.details["automation_loop"]
    # Even after the period, the flagged conversation gets no more acknowledgements.
    later = inbound(account, "t1", "Halo, jest ktoś?", n=3, at=now + timedelta(days=2))
    assert services.autoresponder_consider(later.pk, now=now + timedelta(days=2)).outcome == "skipped"
    assert Message.objects.filter(author_type="automation").count() == 1


def test_autoresponders_run_sweeps_recent_messages(org, account, ack_on, now):
    inbound(account, "t1", "Pytanie o rozmiar", n=1, at=now)
    inbound(account, "t2", "Pytanie o kolor", n=2, at=now)
    assert services.autoresponders_run(now=now) == 2
    assert services.autoresponders_run(now=now) == 0


# --- reply check hook ----------------------------------------------------------------------------------


def test_reply_check_warns_about_a_bare_template(org, account, ack_on, now):
    msg = inbound(account, "t1", "Czy kurtka jest wodoodporna?", n=1, at=now)
    conv = msg.conversation
    assert services.reply_check(conv, "Dziękujemy, odpowiemy do 24 h.") == [
        "This reply is an unedited template and says nothing about the buyer's question."
    ]
    assert services.reply_check(conv, "Tak, kurtka jest wodoodporna.") == []
    services.settings_update(org, template_warning_enabled=False)
    assert services.reply_check(conv, "Dziękujemy, odpowiemy do 24 h.") == []


# --- pages ------------------------------------------------------------------------------------------


def test_pages_for_leads(client, org, bob, account, now):
    row = services.seller_trigger(
        org, kind="order_packed", order_id="o-1", buyer="guest@example.com", now=now
    )
    services.notifications_flush(now=now + timedelta(hours=1))
    client.force_login(bob)
    page = client.get(reverse("notifications:notification-list"))
    assert page.status_code == 200
    assert f"notification-{row.pk}" in page.content.decode()
    assert client.get(reverse("notifications:notification-settings")).status_code == 200
    assert client.get(reverse("notifications:template-list")).status_code == 200
    response = client.post(reverse("notifications:notification-drop", args=[row.pk]))
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.state == S.DROPPED


def test_settings_form_saves(client, org, bob):
    client.force_login(bob)
    response = client.post(
        reverse("notifications:notification-settings"),
        {
            "enabled": "on",
            "merge_window_minutes": 15,
            "cap_per_order": 2,
            "cap_per_buyer_day": 3,
            "autoresponder_period_hours": 24,
            "undo_seconds": 10,
            "return_address": "ul. Polna 1",
        },
    )
    assert response.status_code == 302
    assert services.settings_for(org).merge_window_minutes == 15


def test_template_form_saves(client, org, bob):
    client.force_login(bob)
    response = client.post(
        reverse("notifications:template-list"),
        {"kind": "order_packed", "language": "en", "body": "Packed: {order_id}"},
    )
    assert response.status_code == 302
    assert services.template_text(org.pk, "order_packed", "en") == "Packed: {order_id}"


def test_agents_and_outsiders_get_404(client, org, alice, charlie, now):
    row = services.seller_trigger(
        org, kind="order_packed", order_id="o-1", buyer="guest@example.com", now=now
    )
    services.notifications_flush(now=now + timedelta(hours=1))
    client.force_login(alice)
    assert client.get(reverse("notifications:notification-list")).status_code == 404
    client.force_login(charlie)
    assert client.post(reverse("notifications:notification-release", args=[row.pk])).status_code == 404
    assert client.post(reverse("notifications:notification-drop", args=[row.pk])).status_code == 404
    row.refresh_from_db()
    assert row.state == S.HELD


def test_an_acknowledgement_that_repeats_allegro_is_not_sent(org, account, now):
    services.settings_update(org, autoresponder_enabled=True, autoresponder_text="Dziękujemy za zakup!")
    msg = inbound(account, "t1", "Czy wyślecie dziś?", n=1, at=now)
    log = services.autoresponder_consider(msg.pk, now=now)
    assert log.outcome == AutoresponderLog.Outcome.SKIPPED and log.reason.startswith(planner.R_COMPLIANCE)
    assert not Message.objects.filter(author_type="automation").exists()


def test_reply_check_warns_about_a_marketplace_duplicate(org, account, now):
    conv = inbound(account, "t1", "Kiedy wyślecie?", n=1, at=now).conversation
    assert services.reply_check(conv, "Twoja paczka została wysłana.") == [planner.R_COMPLIANCE]


def test_settings_form_refuses_a_duplicate_acknowledgement(client, org, bob):
    client.force_login(bob)
    response = client.post(
        reverse("notifications:notification-settings"),
        {
            "enabled": "on",
            "merge_window_minutes": 30,
            "cap_per_order": 2,
            "cap_per_buyer_day": 4,
            "autoresponder_enabled": "on",
            "autoresponder_text": "Dziękujemy za zakup!",
            "autoresponder_period_hours": 24,
            "undo_seconds": 10,
        },
    )
    assert response.status_code == 422
    assert not services.settings_for(org).autoresponder_enabled


def test_no_acknowledgement_in_discussions(org, account, ack_on, now):
    from inbox.services import message_receive

    msg, _ = message_receive(
        account,
        InboundMessage(
            external_id="d-1",
            conversation_external_id="issue-1",
            conversation_kind="discussion",
            direction="in",
            author_type="buyer",
            created_at=now,
            text="Produkt uszkodzony",
            buyer_login="kasia",
        ),
    )
    assert services.autoresponder_consider(msg.pk, now=now) is None


def test_buyers_of_other_marketplaces_get_english(org, account, now):
    cz = event(1, "BOUGHT", login="pavel_cz")
    cz["order"]["marketplace"]["id"] = "allegro-cz"
    services.order_event_ingest(account, cz, now=now)
    ConversationFactory(account=account, external_id="thread-pavel", details={"buyer_login": "pavel_cz"})
    row = services.seller_trigger(org, kind="order_packed", order_id="order-1", now=now)
    assert row.language == "en"
    services.notifications_flush(now=now + timedelta(minutes=31))
    row.refresh_from_db()
    assert row.message.text.startswith("Hello") and "packed" in row.message.text


@pytest.mark.parametrize("kind", sorted(services.DEFAULT_TEMPLATES))
@pytest.mark.parametrize("language", ["pl", "en"])
def test_default_templates_pass_the_compliance_check(org, kind, language):
    from integrations.notifications import compliance

    text = services.template_preview(org, kind=kind, language=language)
    assert not compliance.check(text).held, text
    assert "{" not in text
