"""Shared set-up for benchmarks: Django against a dedicated PostgreSQL database (never the dev one)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def setup(db_name: str = "replydesk_bench") -> None:
    """Point Django at `db_name` on the local PostgreSQL (created and migrated if needed)."""
    sys.path.insert(0, str(ROOT))
    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    os.environ["DATABASE_URL"] = f"{base}/{db_name}"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "q8m3bbuLDTpD3xJmIwP0fS7U7k6tf3vJ-ZQ7p2G1K9A=")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Measured as in production: DEBUG off (no query log kept per statement).
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone():
            conn.execute(f'CREATE DATABASE "{db_name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        cpu = model
    except (OSError, StopIteration):
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {cpu}, {mem_gb:.0f} GiB RAM, Python {platform.python_version()}"


def record(name: str, figures: dict) -> None:
    """Print the figures and append them to bench/results/<name>.jsonl (the history)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    row = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": machine(),
        **figures,
    }
    with open(RESULTS / f"{name}.jsonl", "a") as fh:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print("BENCH-RESULT " + json.dumps({"bench": name, **figures}, ensure_ascii=False))
