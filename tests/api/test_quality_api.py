"""Quality snapshots in the API and the `quality.updated` webhook."""

from __future__ import annotations

from datetime import date

from integrations.models import WebhookDelivery
from integrations.webhooks import webhook_subscription_create
from sla.quality_services import quality_snapshots_store

DAYS = [
    {
        "day": date(2026, 11, 21),
        "score": 180.0,
        "grade": "GOOD",
        "max_score": 500.0,
        "metrics": [{"code": "BUYER_SATISFACTION", "name": "Zadowolenie", "score": 20, "max_score": 50}],
    },
    {"day": date(2026, 11, 22), "score": 190.0, "grade": "GOOD", "max_score": 500.0, "metrics": []},
]


def test_snapshots_are_listed_newest_first_and_scoped(api, outsider_api, account):
    quality_snapshots_store(account, DAYS)
    body = api.get("/api/v1/quality/snapshots/").json()
    assert [(r["day"], r["score"], r["grade"]) for r in body["results"]] == [
        ("2026-11-22", 190.0, "GOOD"),
        ("2026-11-21", 180.0, "GOOD"),
    ]
    assert body["results"][1]["metrics"][0]["code"] == "BUYER_SATISFACTION"
    assert api.get("/api/v1/quality/snapshots/?since=2026-11-22").json()["results"][0]["day"] == "2026-11-22"
    assert outsider_api.get("/api/v1/quality/snapshots/").json()["results"] == []


def test_an_import_announces_quality_updated_once_per_change(org, bob, account):
    webhook_subscription_create(
        organization=org, url="http://127.0.0.1:9/hook", events=["quality.updated"], acting_user=bob
    )
    quality_snapshots_store(account, DAYS)
    quality_snapshots_store(account, DAYS)  # the same figures again: nothing new to announce
    deliveries = WebhookDelivery.objects.filter(event_type="quality.updated")
    assert deliveries.count() == 1
    assert deliveries.get().payload["data"]["day"] == "2026-11-22"
    quality_snapshots_store(account, [{**DAYS[1], "score": 150.0}])
    assert deliveries.count() == 2


def test_notification_events_are_listed_and_scoped(api, outsider_api, org, account):
    from integrations.notifications.services import notification_plan

    notification_plan(
        org.pk,
        kind="purchase_confirmation",
        source="allegro",
        order_id="ord-1",
        buyer="kupujacy_x",
        account=account,
        event_id="e1",
    )
    notification_plan(
        org.pk,
        kind="payment_received",
        source="allegro",
        order_id="ord-1",
        buyer="kupujacy_x",
        account=account,
        event_id="e2",
    )
    body = api.get("/api/v1/notifications/events/").json()
    assert [r["kind"] for r in body["results"]] == ["payment_received", "purchase_confirmation"]
    assert all(r["state"] == "suppressed" for r in body["results"])  # Allegro sends those itself
    assert api.get("/api/v1/notifications/events/?state=sent").json()["results"] == []
    assert outsider_api.get("/api/v1/notifications/events/").json()["results"] == []
