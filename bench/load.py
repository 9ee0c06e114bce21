"""The inbox under load: concurrent agents over loopback, bounded in time.

    .venv/bin/python bench/load.py [--conversations 1000000] [--users 20] [--duration 60]
                                   [--workers 3] [--threads 2] [--wait 0.5,1.5]

Against the data set of bench/dataset.py (built on first use), it starts gunicorn (gthread workers)
on a free loopback port with DEBUG off, then runs locust headless (bench/locustfile_inbox.py): each of
`--users` agents logs in through the login form, then with a think time of `--wait` seconds (uniform)
refreshes the "awaiting reply" list (the htmx partial), opens conversations from it (the htmx pane)
and replies to some (the reply waits in the outbox). Statistics start once every agent is signed in
and last `--duration` seconds. No Celery worker runs: replies are enqueued on a Redis database of
their own (BENCH_REDIS_URL, default redis://127.0.0.1:6379/14, emptied afterwards) and the Allegro API
points at a closed local port, so nothing leaves the machine. The replies written during the run are
deleted afterwards, so the data set stays as built.

Reports requests/s, p50/p95 per request type and overall, and the error count (must be 0; the
script fails otherwise). Prints `BENCH-RESULT {json}` and appends to bench/results/load.jsonl.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(HERE))

from _django import record  # noqa: E402
from dataset import SERVER, _django_env, ensure  # noqa: E402

REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not start")


def sql(name: str, statement: str, params=None) -> list:
    import psycopg

    with psycopg.connect(f"{SERVER}/{name}", autocommit=True) as conn:
        cursor = conn.execute(statement, params or [])
        return cursor.fetchall() if cursor.description else []


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=int, default=60, help="seconds measured, after the logins")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--wait", default="0.5,1.5", help="think time between actions, min,max seconds")
    args = parser.parse_args()

    name = ensure(args.conversations)
    last_message = sql(name, "SELECT coalesce(max(id), 0) FROM inbox_message")[0][0]
    last_event = sql(name, "SELECT coalesce(max(id), 0) FROM inbox_conversationevent")[0][0]
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **_django_env(name),
        "REDIS_URL": REDIS,
        "ALLEGRO_API_URL": "http://127.0.0.1:9",
        "ALLEGRO_AUTH_URL": "http://127.0.0.1:9",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_FORMAT": "plain",
    }
    gunicorn = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(Path(tempfile.gettempdir()) / f"bench-load-gunicorn-{port}.log", "w"),  # noqa: SIM115
    )
    figures: dict = {}
    try:
        wait_ready(host, gunicorn)
        with tempfile.TemporaryDirectory() as tmp:
            logins = Path(tmp) / "logins.json"
            locust_env = {
                **os.environ,
                "BENCH_USERS": str(args.users),
                "BENCH_WAIT": args.wait,
                "BENCH_LOGIN_TIMES": str(logins),
                "BENCH_DURATION": str(args.duration),
            }
            # The scenario stops `duration` seconds after the last login; this bounds the whole run
            # (the logins hash passwords with PBKDF2: up to a second each on a busy 2-core machine).
            run_time = args.duration + 30 + args.users
            cmd = [
                str(BIN / "locust"),
                "-f",
                str(HERE / "locustfile_inbox.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.users),
                "--run-time",
                f"{run_time}s",
                "--host",
                host,
                "--csv",
                str(Path(tmp) / "stats"),
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--exit-code-on-error",
                "0",
            ]
            print(
                f"locust: {args.users} agents, think time {args.wait} s, {run_time} s against {host}",
                flush=True,
            )
            proc = subprocess.run(
                cmd, env=locust_env, cwd=ROOT, capture_output=True, text=True, timeout=run_time + 60
            )
            if proc.returncode != 0:
                print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
                raise RuntimeError(f"locust failed ({proc.returncode})")
            with open(Path(tmp) / "stats_stats.csv") as fh:
                rows = list(csv.DictReader(fh))
            login_ms = json.loads(logins.read_text()) if logins.exists() else []
            failures_path = Path(tmp) / "stats_failures.csv"
            failure_rows = (
                list(csv.DictReader(failures_path.read_text().splitlines())) if failures_path.exists() else []
            )
    finally:
        gunicorn.terminate()
        try:
            gunicorn.wait(timeout=20)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
        # Leave the data set as built: drop the replies written by the agents and their enqueued tasks.
        try:
            sql(name, "DELETE FROM inbox_conversationevent WHERE id > %s", [last_event])
            sql(name, "DELETE FROM inbox_message WHERE id > %s", [last_message])
        except Exception as exc:  # the figures stand; the data set keeps a few replies
            print(f"could not delete the replies written during the run: {exc}")
        _redis_flush()

    per_type = {}
    total = None
    for row in rows:
        if int(row["Request Count"]) == 0:  # the logins, before the statistics were reset
            continue
        entry = {
            "requests": int(row["Request Count"]),
            "errors": int(row["Failure Count"]),
            "rps": round(float(row["Requests/s"]), 1),
            "p50_ms": float(row["50%"]),
            "p95_ms": float(row["95%"]),
            "max_ms": round(float(row["Max Response Time"]), 1),
        }
        if row["Name"] == "Aggregated":
            total = entry
        else:
            per_type[row["Name"]] = entry
    figures = {
        "conversations": args.conversations,
        "users": args.users,
        "think_s": args.wait,
        "duration_s": args.duration,
        "gunicorn": f"{args.workers} workers x {args.threads} threads (gthread)",
        "rps": total["rps"] if total else None,
        "p50_ms": total["p50_ms"] if total else None,
        "p95_ms": total["p95_ms"] if total else None,
        "errors": total["errors"] if total else None,
        "requests": total["requests"] if total else None,
        "per_type": per_type,
        "login_ms_max": round(max(login_ms), 1) if login_ms else None,
    }
    if failure_rows:
        print("failures:", failure_rows[:5])
    record("load", figures)
    return 0 if total and total["errors"] == 0 and total["requests"] > 0 else 1


def _redis_flush() -> None:
    try:
        import redis

        redis.Redis.from_url(REDIS).flushdb()
    except Exception as exc:  # best effort: the figures are already taken
        print(f"could not empty {REDIS}: {exc}")


if __name__ == "__main__":
    raise SystemExit(main())
