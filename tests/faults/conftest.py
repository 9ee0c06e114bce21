"""Fault fixtures: throw-away Redis and PostgreSQL servers, and Celery processes we may kill.

The shared PostgreSQL and Redis of the machine are never stopped: restart tests get their own
`redis-server` (no persistence) and their own PostgreSQL cluster (`initdb` into a temporary
directory, run as the `postgres` user when the tests run as root). Worker/beat subprocesses use a
private Redis too, so no other test run's worker can take our tasks (or we theirs).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class PrivateRedis:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.tmp)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_for(lambda: self._ping(client), 10, what="private redis")

    @staticmethod
    def _ping(client) -> bool:
        try:
            return client.ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class PrivatePostgres:
    """A PostgreSQL cluster of our own (trust auth on 127.0.0.1, fsync off)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rd-pg-"))
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.dir, "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def init(self) -> None:
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync"
        )

    def start(self) -> None:
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.dir / "data"),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        with suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_postgres():
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"{PG_BIN}/initdb is missing (PostgreSQL 15 server binaries; set PG_BIN)")
    server = PrivatePostgres()
    server.init()
    server.start()
    yield server
    server.destroy()


def stack_env(*, redis_url: str, database_url: str | None = None, **extra: str) -> dict[str, str]:
    """Environment of a web/worker/beat subprocess: production settings, the test database."""
    from django.conf import settings

    env = os.environ.copy()
    db = connection.settings_dict
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url or f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=redis_url,
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        ALLEGRO_API_URL=settings.ALLEGRO_API_URL,
        ALLEGRO_AUTH_URL=settings.ALLEGRO_AUTH_URL,
        ALLEGRO_REQUESTS_PER_MINUTE="100000",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Proc:
    """A subprocess in its own process group (SIGKILL reaches the worker and its pool children)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "a") as out:
            self.popen = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no ack, no `finally`."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def start_worker(env: dict[str, str], log: Path, queues: str = "celery,sync,outbound", name: str = "w"):
    """A prefork worker as in the Procfile (the pool children are in the same process group)."""
    proc = Proc(
        [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, "-c", "2"),
            *("--without-gossip", "--without-mingle", "-n", f"{name}-{os.getpid()}@%h", "--loglevel", "INFO"),
        ],
        env,
        log,
    )
    marker_from = len(proc.text())
    wait_for(
        lambda: "ready." in proc.text()[marker_from:] or proc.popen.poll() is not None,
        60,
        what="celery worker",
    )
    if proc.popen.poll() is not None:
        raise RuntimeError("celery worker did not start:\n" + proc.text()[-3000:])
    return proc


def start_beat(env: dict[str, str], log: Path, schedule: Path) -> Proc:
    return Proc(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "-s", str(schedule), "--loglevel", "INFO"],
        env,
        log,
    )


@contextmanager
def celery_broker(url: str):
    """Point this process's Celery app (which enqueues after commit) at `url` for a while."""
    from celery import current_app

    app = current_app._get_current_object()
    old = app.conf.broker_url
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield app
    finally:  # kombu keeps its pools per URL; they go with the process
        app.conf.broker_url = old
        app._pool = None
        app.amqp._producer_pool = None
