"""Operations endpoints (issue #8): /healthz, /readyz, /metrics; beat heartbeat; task failure counts.

* `/healthz`: the process answers (no database). For a load balancer or a liveness probe.
* `/readyz`: database, cache, broker and the beat heartbeat must answer (503 otherwise); the last
  successful sync of every active account is reported but never fails readiness (a marketplace
  outage must not take the inbox offline). For monitors and deploy scripts.
* `/metrics`: Prometheus text format; a custom collector queries the database at scrape time
  (a handful of aggregate queries, whatever the number of conversations).

With `METRICS_TOKEN` set, /metrics and the details of /readyz need `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "ops:beat-heartbeat"
TASK_FAILURES_KEY = "ops:task-failures:{}"


# --- heartbeat and failure counters (written by Celery, read here) -------------------------------


def beat_heartbeat_write() -> None:
    cache.set(HEARTBEAT_KEY, time.time(), timeout=None)


def beat_heartbeat_age() -> float | None:
    try:
        value = cache.get(HEARTBEAT_KEY)
    except Exception:
        return None
    return None if value is None else max(0.0, time.time() - float(value))


def task_failure_count(task_name: str) -> None:
    """Celery's `task_failure` signal → a counter per task name in the shared cache (Redis)."""
    key = TASK_FAILURES_KEY.format(task_name)
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception:  # the cache being down must not hide the task's own failure
        logger.warning("could not count a failure of task %s", task_name)


def task_failure_counts() -> dict[str, int]:
    from config.celery import app

    names = sorted(name for name in app.tasks if not name.startswith("celery."))
    values = cache.get_many([TASK_FAILURES_KEY.format(n) for n in names])
    return {n: int(values.get(TASK_FAILURES_KEY.format(n), 0)) for n in names}


# --- access ----------------------------------------------------------------------------------


def _authorized(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    if not expected:
        return True
    header = request.headers.get("Authorization", "")
    return header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), expected.encode())


# --- /healthz --------------------------------------------------------------------------------


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


# --- /readyz ---------------------------------------------------------------------------------


def _check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def _check_cache() -> dict:
    cache.set("ops:readyz", "1", timeout=30)
    return {"ok": cache.get("ops:readyz") == "1"}


def _check_broker() -> dict:
    from kombu import Connection

    transport_options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}))
    with Connection(
        settings.CELERY_BROKER_URL, transport_options=transport_options, connect_timeout=3
    ) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
        if conn.transport_cls == "redis" or conn.transport.driver_type == "redis":
            conn.default_channel.client.ping()
    return {"ok": True}


def _check_beat() -> dict:
    age = beat_heartbeat_age()
    if age is None:
        return {"ok": False, "error": "no heartbeat yet"}
    return {"ok": age <= settings.OPS_BEAT_STALE_SECONDS, "age_seconds": round(age, 1)}


def _run(check) -> dict:
    try:
        return check()
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}


def _accounts_sync_state(now) -> list[dict]:
    from inbox.models import ChannelAccount

    rows = []
    accounts = ChannelAccount.objects.filter(is_active=True).order_by("pk")
    for a in accounts.values("pk", "kind", "health", "last_synced_at", "consecutive_failures"):
        lag = (now - a["last_synced_at"]).total_seconds() if a["last_synced_at"] else None
        if a["health"] in (ChannelAccount.Health.AUTH_FAILED, ChannelAccount.Health.ERROR):
            state = a["health"]
        elif a["health"] == ChannelAccount.Health.CONNECTING:
            state = "connecting"
        elif lag is None:
            state = "never"
        elif lag > settings.OPS_SYNC_STALE_SECONDS:
            state = "stale"
        else:
            state = "ok"
        rows.append(
            {
                "id": a["pk"],
                "channel": a["kind"],
                "state": state,
                "last_synced_at": a["last_synced_at"].isoformat() if a["last_synced_at"] else None,
                "lag_seconds": None if lag is None else round(lag, 1),
                "consecutive_failures": a["consecutive_failures"],
            }
        )
    return rows


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _run(_check_database),
        "cache": _run(_check_cache),
        "broker": _run(_check_broker),
        "beat": _run(_check_beat),
    }
    ok = all(c["ok"] for c in checks.values())
    body: dict = {"status": "ok" if ok else "unavailable"}
    if _authorized(request):
        body["checks"] = checks
        if checks["database"]["ok"]:
            body["accounts"] = _run(lambda: _accounts_sync_state(timezone.now()))
    return JsonResponse(body, status=200 if ok else 503)


# --- /metrics --------------------------------------------------------------------------------


class ReplydeskCollector:
    """Gauges computed from the database at scrape time; counters from the shared cache."""

    def collect(self):
        from inbox.models import ChannelAccount, Conversation, Message
        from integrations.models import WebhookDelivery, WebhookSubscription

        now = timezone.now()
        accounts = {
            a["pk"]: a
            for a in ChannelAccount.objects.values(
                "pk",
                "kind",
                "organization__slug",
                "is_active",
                "health",
                "last_synced_at",
                "consecutive_failures",
            )
        }

        def labels(account_id) -> list[str]:
            a = accounts.get(account_id, {})
            return [a.get("organization__slug", ""), str(account_id), a.get("kind", "")]

        base = ["organization", "account", "channel"]

        waiting = GaugeMetricFamily(
            "replydesk_conversations_waiting", "Open conversations awaiting a reply.", labels=[*base, "kind"]
        )
        oldest = GaugeMetricFamily(
            "replydesk_conversations_oldest_wait_seconds",
            "How long the longest-waiting conversation has waited.",
            labels=[*base, "kind"],
        )
        rows = (
            Conversation.objects.filter(awaiting_reply_since__isnull=False)
            .exclude(status=Conversation.Status.CLOSED)
            .values("account_id", "kind")
            .annotate(n=Count("id"), oldest=Min("awaiting_reply_since"))
            .order_by()
        )
        for row in rows:
            waiting.add_metric([*labels(row["account_id"]), row["kind"]], row["n"])
            oldest.add_metric(
                [*labels(row["account_id"]), row["kind"]], (now - row["oldest"]).total_seconds()
            )
        yield waiting
        yield oldest

        breached = GaugeMetricFamily(
            "replydesk_conversations_breached",
            "Open reply clocks past their deadline (clock: marketplace limit or team target).",
            labels=[*base, "kind", "clock"],
        )
        try:
            from sla.models import OPEN_Q, SlaClock
        except ImportError:  # pragma: no cover (sla is always installed)
            SlaClock = None
        if SlaClock is not None:
            rows = (
                SlaClock.objects.filter(OPEN_Q, due_at__lte=now)
                .values("conversation__account_id", "conversation__kind", "kind")
                .annotate(n=Count("id"))
                .order_by()
            )
            for row in rows:
                breached.add_metric(
                    [*labels(row["conversation__account_id"]), row["conversation__kind"], row["kind"]],
                    row["n"],
                )
        yield breached

        lag = GaugeMetricFamily(
            "replydesk_sync_lag_seconds", "Time since the account's last successful sync.", labels=base
        )
        failures = GaugeMetricFamily(
            "replydesk_sync_consecutive_failures", "Failed syncs in a row (0 after a success).", labels=base
        )
        health = GaugeMetricFamily(
            "replydesk_account_health", "1 for the account's current health state.", labels=[*base, "state"]
        )
        for pk, a in accounts.items():
            if not a["is_active"]:
                continue
            if a["last_synced_at"]:
                lag.add_metric(labels(pk), (now - a["last_synced_at"]).total_seconds())
            failures.add_metric(labels(pk), a["consecutive_failures"])
            health.add_metric([*labels(pk), a["health"]], 1)
        yield lag
        yield failures
        yield health

        from integrations.models import SyncProblem

        problems = GaugeMetricFamily(
            "replydesk_sync_problems",
            "Payloads a sync could not (fully) use and that are not resolved (issue #9), by code.",
            labels=[*base, "code"],
        )
        rows = (
            SyncProblem.objects.filter(resolved_at__isnull=True)
            .values("account_id", "code")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in rows:
            if accounts.get(row["account_id"], {}).get("is_active"):
                problems.add_metric([*labels(row["account_id"]), row["code"]], row["n"])
        yield problems

        depth = GaugeMetricFamily(
            "replydesk_outbox_depth", "Outbox rows not yet delivered.", labels=["outbox", "status"]
        )
        oldest_outbox = GaugeMetricFamily(
            "replydesk_outbox_oldest_seconds", "Age of the oldest undelivered outbox row.", labels=["outbox"]
        )
        for outbox, qs, created in (
            ("replies", Message.objects.filter(delivery_status__in=["pending", "sending"]), "created_at"),
            ("webhooks", WebhookDelivery.objects.filter(status__in=["pending", "sending"]), "created_at"),
        ):
            status_field = "delivery_status" if outbox == "replies" else "status"
            counts = {"pending": 0, "sending": 0}
            first = None
            for row in qs.values(status_field).annotate(n=Count("id"), oldest=Min(created)).order_by():
                counts[row[status_field]] = row["n"]
                first = row["oldest"] if first is None else min(first, row["oldest"])
            for state, n in counts.items():
                depth.add_metric([outbox, state], n)
            oldest_outbox.add_metric([outbox], (now - first).total_seconds() if first else 0)
        yield depth
        yield oldest_outbox

        disabled = GaugeMetricFamily(
            "replydesk_webhook_subscriptions", "Webhook subscriptions by state.", labels=["state"]
        )
        subs = dict(WebhookSubscription.objects.values_list("is_active").annotate(n=Count("id")).order_by())
        disabled.add_metric(["active"], subs.get(True, 0))
        disabled.add_metric(["disabled"], subs.get(False, 0))
        yield disabled

        task_failures = CounterMetricFamily(
            "replydesk_celery_task_failures", "Celery task failures (task_failure signal).", labels=["task"]
        )
        for name, n in task_failure_counts().items():
            task_failures.add_metric([name], n)
        yield task_failures

        heartbeat = GaugeMetricFamily(
            "replydesk_beat_heartbeat_age_seconds", "Seconds since the beat heartbeat task last ran."
        )
        age = beat_heartbeat_age()
        if age is not None:
            heartbeat.add_metric([], age)
        yield heartbeat


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        return HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReplydeskCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
