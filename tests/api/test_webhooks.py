"""Outbound webhooks against a real HTTP receiver on 127.0.0.1 that verifies every signature.

The receiver checks the scheme documented in docs/webhooks.md with its own code (not ours):
`Replydesk-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from inbox import services
from integrations import tasks, webhooks
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from tests.sla.helpers import buyer_writes, waw

from .conftest import buyer_message

ALL_EVENTS = [e.value for e in WebhookSubscription.Event]


def verify(secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = 300) -> bool:
    """A receiver's verification, written from the documentation."""
    parts = [p.split("=", 1) for p in header.split(",")]
    timestamps = [v for k, v in parts if k == "t"]
    signatures = [v for k, v in parts if k == "v1"]
    if len(timestamps) != 1 or not signatures:
        return False
    t = int(timestamps[0])
    if abs((now or time.time()) - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


class Receiver:
    """A threaded HTTP server: records each POST, answers with the next queued status (200 at the end)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[tuple[int, dict]] = []
        self.secrets: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                header = self.headers.get("Replydesk-Signature", "")
                receiver.requests.append(
                    {
                        "headers": dict(self.headers),
                        "body": body,
                        "json": json.loads(body),
                        "verified_by": [s for s in receiver.secrets if verify(s, header, body)],
                    }
                )
                status, headers = receiver.statuses.pop(0) if receiver.statuses else (200, {})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status < 300 else b"nope")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/replydesk"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def subscription(org, bob, receiver):
    sub, secret = webhooks.webhook_subscription_create(
        organization=org, url=receiver.url, events=ALL_EVENTS, acting_user=bob
    )
    receiver.secrets.append(secret)
    return sub


def _deliver_all() -> list[str]:
    ids = WebhookDelivery.objects.filter(status="pending").order_by("id").values_list("id", flat=True)
    return [tasks.webhook_deliver(i) for i in ids]


def test_a_buyer_message_is_delivered_signed_with_its_conversation(
    subscription, receiver, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        message = buyer_message(account, text="Czy pralka jest dostępna?")
    assert callbacks  # enqueued after commit
    deliveries = WebhookDelivery.objects.filter(subscription=subscription).order_by("id")
    assert [d.event_type for d in deliveries] == ["conversation.created", "message.received"]
    assert _deliver_all() == ["delivered", "delivered"]

    created, received = receiver.requests
    assert created["verified_by"] == receiver.secrets and received["verified_by"] == receiver.secrets
    assert received["headers"]["Replydesk-Event"] == "message.received"
    assert received["headers"]["Content-Type"] == "application/json"
    body = received["json"]
    assert body["type"] == "message.received" and body["id"] == received["headers"]["Replydesk-Event-Id"]
    assert body["organization"]["slug"] == "alicja"
    assert body["data"]["message"]["id"] == message.pk
    assert body["data"]["message"]["text"] == "Czy pralka jest dostępna?"
    assert body["data"]["conversation"]["id"] == message.conversation_id
    assert body["data"]["conversation"]["sla_clocks"][0]["kind"] == "marketplace"
    assert created["json"]["data"]["conversation"]["id"] == message.conversation_id
    attempt = WebhookAttempt.objects.get(delivery=deliveries[1])
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, "delivered", 200)
    assert deliveries[1].__class__.objects.get(pk=deliveries[1].pk).delivered_at is not None


def test_a_delivered_reply_is_message_sent_and_events_are_filtered(org, bob, receiver, account):
    _sub, secret = webhooks.webhook_subscription_create(
        organization=org, url=receiver.url, events=["message.sent"], acting_user=bob
    )
    receiver.secrets.append(secret)
    conversation = buyer_message(account).conversation
    assert not WebhookDelivery.objects.exists()  # not subscribed to received/created
    reply, _ = services.message_reply_create(conversation, text="Tak, jest dostępna.", acting_user=bob)
    assert not WebhookDelivery.objects.exists()  # queued is not sent
    services.message_mark_delivered(reply.pk, external_id="allegro-1", delivered_at=timezone.now())
    services.message_mark_delivered(reply.pk, external_id="allegro-1", delivered_at=timezone.now())  # again
    assert _deliver_all() == ["delivered"]
    (request,) = receiver.requests
    assert request["json"]["type"] == "message.sent"
    assert request["json"]["data"]["message"]["delivery_status"] == "delivered"
    assert request["verified_by"] == [secret]


def test_emitting_the_same_event_twice_stores_one_delivery(subscription, account):
    message = buyer_message(account)
    webhooks.webhooks_emit("message.received", message)  # a retried service, say
    assert WebhookDelivery.objects.filter(event_type="message.received").count() == 1


def test_a_temporary_failure_is_parked_in_the_database_and_retried_by_the_sweep(
    subscription, receiver, account
):
    receiver.statuses = [(503, {})]
    buyer_message(account)
    delivery = WebhookDelivery.objects.get(event_type="message.received")
    WebhookDelivery.objects.exclude(pk=delivery.pk).delete()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert tasks.webhook_deliver(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_error == "HTTP 503"
    assert start + timedelta(seconds=15) <= delivery.next_attempt_at <= start + timedelta(seconds=30)
    with time_machine.travel(start + timedelta(seconds=10), tick=False):
        assert webhooks.webhook_deliveries_sweep() == []  # not due yet
        assert tasks.webhook_deliver(delivery.pk) == "skipped"  # an early task does nothing
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
        assert webhooks.webhook_deliveries_sweep() == [delivery.pk]
        assert tasks.webhook_deliver(delivery.pk) == "delivered"
    assert list(delivery.attempt_rows.order_by("number").values_list("status_code", "outcome")) == [
        (503, "transient"),
        (200, "delivered"),
    ]
    # Both POSTs carried the same event id: receivers dedupe on it.
    assert len({r["headers"]["Replydesk-Event-Id"] for r in receiver.requests}) == 1


def test_retry_after_is_honoured_and_backoff_grows(subscription, receiver, account):
    receiver.statuses = [(429, {"Retry-After": "120"}), (500, {}), (500, {})]
    buyer_message(account)
    delivery = WebhookDelivery.objects.get(event_type="message.received")
    now = timezone.now()
    waits = []
    for _ in range(3):
        with time_machine.travel(now, tick=False):
            assert tasks.webhook_deliver(delivery.pk) == "retry"
        delivery.refresh_from_db()
        waits.append((delivery.next_attempt_at - now).total_seconds())
        now = delivery.next_attempt_at
    assert waits[0] >= 120
    assert 30 <= waits[1] <= 60 and 60 <= waits[2] <= 120  # 60 s and 120 s bases, jittered


def test_after_the_last_attempt_a_delivery_fails(subscription, receiver, account, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.statuses = [(500, {}), (500, {})]
    buyer_message(account)
    delivery = WebhookDelivery.objects.get(event_type="message.received")
    assert tasks.webhook_deliver(delivery.pk) == "retry"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert tasks.webhook_deliver(delivery.pk) == "failed"
    delivery.refresh_from_db()
    subscription.refresh_from_db()
    assert delivery.status == "failed" and subscription.consecutive_failures == 1


def test_a_permanent_answer_fails_at_once(subscription, receiver, account):
    receiver.statuses = [(410, {})]
    buyer_message(account)
    delivery = WebhookDelivery.objects.get(event_type="message.received")
    assert tasks.webhook_deliver(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.last_error == "HTTP 410" and delivery.attempts == 1


def test_an_unreachable_endpoint_is_a_temporary_failure(org, bob, account):
    _sub, _secret = webhooks.webhook_subscription_create(
        organization=org, url="http://127.0.0.1:9/nothing", events=ALL_EVENTS, acting_user=bob
    )
    buyer_message(account)
    delivery = WebhookDelivery.objects.get(event_type="message.received")
    assert tasks.webhook_deliver(delivery.pk) == "retry"
    attempt = delivery.attempt_rows.get()
    assert attempt.status_code is None and attempt.error.startswith("Connection failed")


def test_repeated_permanent_failures_disable_the_subscription(subscription, receiver, account, settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    receiver.statuses = [(404, {})] * 2 + [(200, {})] + [(404, {})] * 3
    for i in range(6):
        buyer_message(account, thread=f"t{i}", external_id=f"m{i}")
    ids = list(
        WebhookDelivery.objects.filter(event_type="message.received")
        .order_by("id")
        .values_list("id", flat=True)
    )
    WebhookDelivery.objects.exclude(pk__in=ids).delete()
    outcomes = [tasks.webhook_deliver(i) for i in ids]
    # Two failures, a success (resets the count), then three failures: disabled after the third.
    assert outcomes == ["failed", "failed", "delivered", "failed", "failed", "failed"]
    subscription.refresh_from_db()
    assert subscription.is_active is False
    assert subscription.disabled_reason.startswith("Disabled after 3 failed deliveries in a row")
    buyer_message(account, thread="later", external_id="later")
    assert not WebhookDelivery.objects.filter(payload__data__message__external_id="later").exists()
    # Enabling it again resets the count.
    webhooks.webhook_subscription_set_active(subscription, active=True, acting_user=subscription.created_by)
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.consecutive_failures == 0


def test_a_delivery_left_sending_by_a_killed_worker_is_sent_again(subscription, receiver, account):
    buyer_message(account)
    delivery = WebhookDelivery.objects.get(event_type="message.received")
    stale = timezone.now() - timedelta(minutes=5)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="sending", sending_started_at=stale, attempts=1
    )
    assert delivery.pk in webhooks.webhook_deliveries_sweep()
    assert tasks.webhook_deliver(delivery.pk) == "delivered"


def test_after_a_rotation_both_secrets_sign_for_a_day(subscription, receiver, account, bob):
    old = receiver.secrets[0]
    new = webhooks.webhook_subscription_rotate_secret(subscription, acting_user=bob)
    receiver.secrets.append(new)
    buyer_message(account)
    assert set(_deliver_all()) == {"delivered"}
    assert receiver.requests[-1]["verified_by"] == [old, new]
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        delivery = WebhookDelivery.objects.get(event_type="message.received")
        webhooks.webhook_delivery_redeliver(delivery, acting_user=bob)
        assert tasks.webhook_deliver(delivery.pk) == "delivered"
        assert receiver.requests[-1]["verified_by"] == [new]
        assert receiver.requests[-1]["headers"]["Replydesk-Signature"].count("v1=") == 1


def test_a_stale_timestamp_does_not_verify(subscription, receiver, account):
    buyer_message(account)
    _deliver_all()
    request = receiver.requests[0]
    header = request["headers"]["Replydesk-Signature"]
    assert verify(receiver.secrets[0], header, request["body"])
    assert not verify(receiver.secrets[0], header, request["body"], now=time.time() + 600)
    assert not verify(receiver.secrets[0], header, request["body"] + b" ")


def test_sla_breaches_and_warnings_become_webhooks(
    subscription, receiver, account, django_capture_on_commit_callbacks
):
    from sla.services import sla_clocks_check

    message = buyer_writes(account, waw(2026, 3, 4, 10), thread="sla")
    with django_capture_on_commit_callbacks(execute=True):
        sla_clocks_check(now=waw(2026, 3, 5, 9, 30))  # 30 min before the 24 h working-day limit
        sla_clocks_check(now=waw(2026, 3, 5, 10, 1))
    types = list(
        WebhookDelivery.objects.filter(subscription=subscription).values_list("event_type", flat=True)
    )
    assert types.count("sla.warning") >= 1 and types.count("sla.breached") >= 1
    breach = WebhookDelivery.objects.filter(event_type="sla.breached").first()
    assert breach.payload["data"]["conversation"]["id"] == message.conversation_id
    assert breach.payload["data"]["clock"]["kind"] in ("marketplace", "team")
    assert tasks.webhook_deliver(breach.pk) == "delivered"
    assert receiver.requests[-1]["json"]["type"] == "sla.breached"


def test_the_beat_task_enqueues_what_is_due(subscription, receiver, account):
    buyer_message(account)
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    assert tasks.webhook_deliveries_retry() == 2


# --- the pages ---------------------------------------------------------------------------------


def test_a_lead_creates_a_webhook_and_sees_its_secret_once(client, bob, org, receiver):
    client.force_login(bob)
    response = client.post(
        reverse("webhooks:webhook-list"),
        {"url": receiver.url, "events": ["message.received", "sla.breached"]},
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    secret = re.search(r'id="new-secret">(whsec_[^<]+)<', response.content.decode()).group(1)
    sub = WebhookSubscription.objects.get(organization=org)
    assert sub.events == ["message.received", "sla.breached"] and sub.secrets["current"] == secret
    assert secret not in client.get(reverse("webhooks:webhook-detail", args=[sub.pk])).content.decode()
    bad = client.post(reverse("webhooks:webhook-list"), {"url": "ftp://example", "events": []})
    assert bad.status_code == 422


def test_the_subscription_page_shows_every_attempt_and_redelivers(
    client, bob, subscription, receiver, account
):
    receiver.statuses = [(500, {})]
    buyer_message(account)
    delivery = WebhookDelivery.objects.get(event_type="message.received")
    tasks.webhook_deliver(delivery.pk)
    client.force_login(bob)
    page = client.get(reverse("webhooks:webhook-detail", args=[subscription.pk])).content.decode()
    assert f'id="delivery-{delivery.pk}" data-status="pending"' in page
    assert "HTTP 500" in page and 'data-outcome="transient"' in page
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")
    client.post(reverse("webhooks:webhook-redeliver", args=[delivery.pk]))
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 0
    assert tasks.webhook_deliver(delivery.pk) == "delivered"
    assert delivery.attempt_rows.count() == 2


def test_ping_toggle_and_delete(client, bob, subscription, receiver):
    client.force_login(bob)
    client.post(reverse("webhooks:webhook-ping", args=[subscription.pk]))
    ping = WebhookDelivery.objects.get(event_type="ping")
    assert tasks.webhook_deliver(ping.pk) == "delivered"
    assert receiver.requests[-1]["verified_by"] == receiver.secrets
    client.post(reverse("webhooks:webhook-toggle", args=[subscription.pk]))
    subscription.refresh_from_db()
    assert subscription.is_active is False
    client.post(reverse("webhooks:webhook-delete", args=[subscription.pk]))
    assert not WebhookSubscription.objects.filter(pk=subscription.pk).exists()


def test_agents_and_outsiders_get_404_on_every_webhook_page(client, alice, charlie, subscription, account):
    buyer_message(account)
    delivery = WebhookDelivery.objects.filter(subscription=subscription).first()
    secret = subscription.secrets["current"]
    urls = [
        ("get", reverse("webhooks:webhook-detail", args=[subscription.pk])),
        ("post", reverse("webhooks:webhook-detail", args=[subscription.pk])),
        ("post", reverse("webhooks:webhook-toggle", args=[subscription.pk])),
        ("post", reverse("webhooks:webhook-rotate-secret", args=[subscription.pk])),
        ("post", reverse("webhooks:webhook-ping", args=[subscription.pk])),
        ("post", reverse("webhooks:webhook-delete", args=[subscription.pk])),
        ("post", reverse("webhooks:webhook-redeliver", args=[delivery.pk])),
    ]
    client.force_login(alice)
    assert client.get(reverse("webhooks:webhook-list")).status_code == 404
    for user in (alice, charlie):
        client.force_login(user)
        for method, url in urls:
            assert getattr(client, method)(url).status_code == 404, (user, method, url)
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.secrets["current"] == secret
    assert not WebhookDelivery.objects.filter(event_type="ping").exists()
