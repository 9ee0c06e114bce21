"""/healthz, /readyz, /metrics, the beat heartbeat, task failure counts, structured logs, deploy checks."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from config import ops
from config.celery import app as celery_app
from config.celery import beat_heartbeat
from config.logging import ContextFilter, JsonFormatter, redact
from inbox import services
from integrations import tasks
from tests.sla.helpers import buyer_writes, waw

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def heartbeat():
    beat_heartbeat()  # what beat schedules every 30 s
    yield
    cache.delete(ops.HEARTBEAT_KEY)


def test_healthz_needs_nothing_but_the_process():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_database_cache_broker_and_beat_and_reports_syncs(db, account, heartbeat):
    account.last_synced_at = timezone.now() - timedelta(seconds=20)
    account.save()
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert {k: v["ok"] for k, v in body["checks"].items()} == {
        "database": True, "cache": True, "broker": True, "beat": True,
    }  # fmt: skip
    (row,) = [a for a in body["accounts"] if a["id"] == account.pk]
    assert row["state"] == "ok" and 19 <= row["lag_seconds"] <= 60 and row["channel"] == "allegro"


def test_a_stale_sync_is_reported_but_does_not_fail_readiness(db, account, heartbeat):
    account.last_synced_at = timezone.now() - timedelta(hours=2)
    account.save()
    body = Client().get("/readyz").json()
    assert body["status"] == "ok"
    assert [a["state"] for a in body["accounts"] if a["id"] == account.pk] == ["stale"]


def test_readyz_fails_without_a_beat_heartbeat_or_with_an_old_one(db):
    cache.delete(ops.HEARTBEAT_KEY)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == {"ok": False, "error": "no heartbeat yet"}
    beat_heartbeat()
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        response = Client().get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["beat"]["ok"] is False
    cache.delete(ops.HEARTBEAT_KEY)


def test_readyz_fails_when_the_broker_is_down(db, settings, heartbeat):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    started = time.monotonic()
    response = Client().get("/readyz")
    assert time.monotonic() - started < 10
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_with_a_metrics_token_details_and_metrics_need_it(db, settings, heartbeat):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    assert Client().get("/readyz").json() == {"status": "ok"}
    assert Client().get("/metrics").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer wrong").get("/metrics").status_code == 401
    authorized = Client(HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert "checks" in authorized.get("/readyz").json()
    assert authorized.get("/metrics").status_code == 200


def _metrics() -> dict[str, list]:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(response.content.decode())}


def _value(samples, name: str, **labels) -> float | None:
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return None


def test_metrics_from_the_database_at_scrape_time(db, org, account, bob, heartbeat):
    buyer_writes(account, waw(2026, 3, 2, 10), thread="old")  # due Tue 10:00: breached by Thursday
    buyer_writes(account, waw(2026, 3, 5, 9), thread="fresh")
    buyer_writes(account, waw(2026, 3, 5, 9), thread="mail", kind="email")
    closed = buyer_writes(account, waw(2026, 3, 5, 9), thread="closed").conversation
    services.conversation_close(closed, acting_user=bob)
    reply, _ = services.message_reply_create(closed, text="Hej", acting_user=bob)
    account.last_synced_at = waw(2026, 3, 5, 11, 59)
    account.consecutive_failures = 2
    account.save()
    labels = {"organization": org.slug, "account": str(account.pk), "channel": "allegro"}
    with time_machine.travel(waw(2026, 3, 5, 12), tick=False):
        metrics = _metrics()
    waiting = metrics["replydesk_conversations_waiting"]
    assert _value(waiting, "replydesk_conversations_waiting", kind="message", **labels) == 2
    assert _value(waiting, "replydesk_conversations_waiting", kind="email", **labels) == 1
    oldest = metrics["replydesk_conversations_oldest_wait_seconds"]
    assert (
        _value(oldest, "replydesk_conversations_oldest_wait_seconds", kind="message", **labels)
        == 3 * 86400 + 2 * 3600
    )
    breached = metrics["replydesk_conversations_breached"]
    assert (
        _value(breached, "replydesk_conversations_breached", kind="message", clock="marketplace", **labels)
        == 1
    )
    assert _value(metrics["replydesk_sync_lag_seconds"], "replydesk_sync_lag_seconds", **labels) == 60
    assert (
        _value(
            metrics["replydesk_sync_consecutive_failures"], "replydesk_sync_consecutive_failures", **labels
        )
        == 2
    )
    assert _value(metrics["replydesk_account_health"], "replydesk_account_health", state="ok", **labels) == 1
    depth = metrics["replydesk_outbox_depth"]
    assert _value(depth, "replydesk_outbox_depth", outbox="replies", status="pending") == 1
    assert _value(depth, "replydesk_outbox_depth", outbox="webhooks", status="pending") == 0
    assert (
        _value(metrics["replydesk_beat_heartbeat_age_seconds"], "replydesk_beat_heartbeat_age_seconds")
        is not None
    )
    assert reply.pk


def test_celery_task_failures_are_counted_through_the_signal(db):
    def failures() -> float:
        samples = _metrics()["replydesk_celery_task_failures"]
        return _value(
            samples, "replydesk_celery_task_failures_total", task="integrations.tasks.channel_account_sync"
        )

    before = failures()
    result = tasks.channel_account_sync.apply(args=["not-an-id"])  # a real failure inside the task
    assert result.failed()
    assert failures() == before + 1


def test_the_beat_schedule_has_the_heartbeat_and_the_webhook_sweep():
    celery_app.loader.import_default_modules()  # what a worker does at start: every app's tasks.py
    schedule = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"config.beat_heartbeat", "integrations.tasks.webhook_deliveries_retry"} <= schedule
    assert schedule <= set(celery_app.tasks), schedule - set(celery_app.tasks)


def test_the_procfile_runs_a_worker_for_every_queue_and_one_beat():
    procfile = (BASE_DIR / "Procfile").read_text()
    consumed = set()
    for line in procfile.splitlines():
        match = re.search(r"celery -A config worker .*?-Q (\S+)", line)
        if match:
            consumed |= set(match.group(1).split(","))
    routed = {route["queue"] for route in django_settings.CELERY_TASK_ROUTES.values()}
    assert routed | {django_settings.CELERY_TASK_DEFAULT_QUEUE} <= consumed
    assert len(re.findall(r"celery -A config beat", procfile)) == 1
    assert re.search(r"^web: gunicorn config\.wsgi", procfile, re.M)


# --- logs --------------------------------------------------------------------------------------


def _record(message: str, *args, exc=None) -> logging.LogRecord:
    return logging.LogRecord("replydesk.test", logging.WARNING, __file__, 1, message, args, exc)


def test_the_json_formatter_writes_one_object_per_line_with_ids_and_extras():
    record = _record("sync of account %s failed", 7)
    record.account_id = 7
    ContextFilter().filter(record)
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["message"] == "sync of account 7 failed" and entry["level"] == "WARNING"
    assert entry["account_id"] == 7 and entry["logger"] == "replydesk.test"


def test_secrets_are_masked_in_messages_and_tracebacks():
    assert redact("Authorization: Bearer rdk_abcdefghijklmnop") == "Authorization: Bearer [redacted]"
    assert "rdk_abcdefghij" not in redact("token rdk_abcdefghijklmnopq leaked")
    assert "whsec_" in redact("whsec_0123456789abcdef") and "0123456789" not in redact(
        "whsec_0123456789abcdef"
    )
    assert redact('{"access_token": "eyJhbGciOi", "x": 1}') == '{"access_token": "[redacted]", "x": 1}'
    assert redact("refresh_token=abc123&grant_type=x") == "refresh_token=[redacted]&grant_type=x"
    try:
        raise ValueError("refresh failed for refresh_token=zzz999")
    except ValueError:
        import sys as _sys

        record = _record("boom", exc=_sys.exc_info())
    ContextFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert "zzz999" not in entry["exc"] and "ValueError" in entry["exc"]


def test_every_request_gets_an_id_and_one_access_line(db, caplog):
    with caplog.at_level(logging.INFO, logger="replydesk.request"):
        response = Client().get("/healthz?secret=should-not-be-logged")
        echoed = Client(HTTP_X_REQUEST_ID="edge-42").get("/healthz")
        forged = Client(HTTP_X_REQUEST_ID="bad id\nINFO forged").get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert echoed["X-Request-ID"] == "edge-42"
    assert forged["X-Request-ID"] != "bad id\nINFO forged"
    lines = [r for r in caplog.records if r.name == "replydesk.request"]
    assert [r.status for r in lines] == [200, 200, 200]
    assert all("secret" not in r.getMessage() for r in lines)
    assert lines[1].path == "/healthz" and lines[1].duration_ms >= 0


def test_log_lines_inside_a_task_carry_its_id(db, account):
    from config.logging import task_id_var

    seen = {}
    handler = logging.Handler()
    handler.addFilter(ContextFilter())
    handler.emit = lambda record: seen.setdefault("entry", json.loads(JsonFormatter().format(record)))
    logger = logging.getLogger("integrations.services")
    logger.addHandler(handler)
    try:
        cache.set(f"sync-lock:{account.pk}", "1", 30)  # the task logs "already running"
        result = tasks.channel_account_sync.apply(args=[account.pk], task_id="task-abc")
    finally:
        logger.removeHandler(handler)
        cache.delete(f"sync-lock:{account.pk}")
    assert result.successful()
    assert seen["entry"]["task_id"] == "task-abc"
    assert seen["entry"]["task_name"] == "integrations.tasks.channel_account_sync"
    assert task_id_var.get() == ""  # reset after the task


# --- production settings -----------------------------------------------------------------------


@pytest.mark.slow
def test_check_deploy_is_clean_in_production_settings():
    # The browser tests allow sync ORM calls beside Playwright's loop here; a deployment never does.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REPLYDESK_PRODUCTION": "1",
        "SECRET_KEY": "k" * 20 + "Zq8!x2#Lm9@v7^Tn4&Rb6*Yc1(Wd3)Pf5-",
        "FIELD_ENCRYPTION_KEYS": "q8m3bbuLDTpD3xJmIwP0fS7U7k6tf3vJ-ZQ7p2G1K9A=",
        "ALLOWED_HOSTS": "replydesk.example.pl",
        "CSRF_TRUSTED_ORIGINS": "https://replydesk.example.pl",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/replydesk"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        "REPLYDESK_VAR_DIR": "/tmp/replydesk-check-deploy",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    # Production logs are JSON lines.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, logging; django.setup(); logging.getLogger('x').warning('hello')",
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(out.stderr.strip().splitlines()[-1])["message"] == "hello"
