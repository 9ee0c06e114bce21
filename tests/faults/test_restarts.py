"""Issue #9, faults: PostgreSQL and Redis restarted under a running app.

The app is gunicorn (as in the Procfile; persistent database connections with health checks, the
production default) and a Celery worker, both pointed at a PostgreSQL cluster and a Redis server of
this test's own — the machine's shared servers are never touched. While a dependency is down,
`/readyz` answers 503 naming it; when it is back, the same processes recover by themselves.
"""

from __future__ import annotations

import sys

import httpx
import pytest

from .conftest import Proc, celery_broker, free_port, stack_env, start_worker, wait_for

pytestmark = pytest.mark.slow


def _readyz(base: str) -> tuple[int, dict]:
    try:
        response = httpx.get(f"{base}/readyz", timeout=10)
    except httpx.HTTPError as exc:
        return 0, {"error": repr(exc)}
    return response.status_code, response.json()


def _failed(body: dict) -> set[str]:
    return {name for name, check in body.get("checks", {}).items() if not check["ok"]}


def _heartbeat(redis_url: str) -> None:
    """What beat does every 30 s: a task on the default queue that the worker runs."""
    with celery_broker(redis_url) as app:
        app.send_task("config.beat_heartbeat")


def test_readyz_and_worker_survive_postgres_and_redis_restarts(private_postgres, private_redis, tmp_path):
    env = stack_env(redis_url=private_redis.url, database_url=private_postgres.url, DEBUG="0")
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = Proc(
        [
            *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "30"),
        ],
        env,
        tmp_path / "web.log",
    )
    worker = start_worker(env, tmp_path / "worker.log", queues="celery", name="restarts")
    try:
        _heartbeat(private_redis.url)
        wait_for(lambda: _readyz(base)[0] == 200, 30, what="the app to be ready")
        web_pid = web.popen.pid

        # --- PostgreSQL down: not ready, and the body says it is the database ---------------------
        private_postgres.stop()
        status, body = _readyz(base)
        assert status == 503 and body["status"] == "unavailable"
        assert _failed(body) == {"database"}, body
        private_postgres.start()
        status, body = wait_for(lambda: (r := _readyz(base))[0] == 200 and r, 15, what="recovery from PG")
        assert web.popen.poll() is None and web.popen.pid == web_pid  # the same process, not restarted

        # --- Redis down: cache and broker fail (the heartbeat lives in the cache, so beat too) -----
        private_redis.stop()
        status, body = _readyz(base)
        assert status == 503
        assert {"cache", "broker"} <= _failed(body), body
        assert "database" not in _failed(body)
        private_redis.start()  # same port, empty (no persistence): the heartbeat is gone with it
        # The worker reconnects to the broker by itself and runs the next heartbeat.
        _heartbeat(private_redis.url)
        wait_for(lambda: _readyz(base)[0] == 200, 60, interval=0.5, what="recovery from a Redis restart")
        assert web.popen.poll() is None and worker.popen.poll() is None
        assert "beat_heartbeat" in worker.text().split("Connection to broker lost")[-1]
    finally:
        web.stop()
        worker.stop()
