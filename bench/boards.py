"""The leads' boards at scale: server time and SQL queries of the reply-times and quality boards.

    .venv/bin/python bench/boards.py [--conversations 100000] [--runs 5]

Against the data set of bench/dataset.py (built on first use, then reused; organization "bench"),
through Django's test Client with the whole middleware stack, signed in as its lead (`bench-lead`),
the htmx partial each board polls with (`HX-Request`):

* cold: the board cache emptied before each request (what one request in SLA_BOARD_CACHE_SECONDS
  pays; the heat map's own 5-minute cache emptied too);
* warm: served from the board cache (what every other poll of every other lead pays).

Medians of `--runs`; queries of the last run. Also the inbox list sorted by "score at risk" (agent01,
awaiting, 50 rows). Prints `BENCH-RESULT {json}` and appends to bench/results/boards.jsonl.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _django import record, setup  # noqa: E402
from dataset import ensure  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    name = ensure(args.conversations)
    setup(name)

    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from inbox.models import Organization
    from sla import board_selectors

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.SLA_BOARD_CACHE_SECONDS = 300  # long enough for the warm runs; cleared for the cold ones
    org = Organization.objects.get(slug="bench")
    lead = org.memberships.get(user__username="bench-lead").user
    agent = org.memberships.get(user__username="agent01").user

    def forget() -> None:
        # Exactly this organization's keys (never a flush: the Redis is shared).
        db = str(connection.settings_dict.get("NAME"))
        keys = [f"sla:board:{board}:{db}:{org.pk}" for board in ("quality", "lost")]
        keys.append(f"sla:board:metrics:{db}:{org.pk}:30")
        keys.append(f"sla:heatmap:{org.pk}:30:{time.strftime('%Y%m%d%H', time.gmtime())}")
        cache.delete_many(keys)

    def measure(client, url, params, *, cold: bool):
        times, queries = [], 0
        for _ in range(args.runs):
            if cold:
                forget()
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                response = client.get(url, params, HTTP_HX_REQUEST="true")
                times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.status_code
            queries = len(ctx)
        return {"ms": round(statistics.median(times), 1), "queries": queries}

    lead_client = Client()
    lead_client.force_login(lead)
    figures = {"conversations": args.conversations, "cache_seconds": board_selectors.board_cache_seconds()}
    for label, url in (
        ("reply_times", reverse("inbox:sla-metrics")),
        ("quality", reverse("inbox:sla-quality")),
    ):
        lead_client.get(url, HTTP_HX_REQUEST="true")  # warm the connection and the code
        figures[label] = {
            "cold": measure(lead_client, url, {}, cold=True),
            "warm": measure(lead_client, url, {}, cold=False),
        }
    agent_client = Client()
    agent_client.force_login(agent)
    figures["inbox_risk_sort"] = measure(
        agent_client, reverse("inbox:conversation-list"), {"filter": "awaiting", "sort": "risk"}, cold=False
    )
    figures["inbox_due_sort"] = measure(
        agent_client, reverse("inbox:conversation-list"), {"filter": "awaiting"}, cold=False
    )
    record("boards", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
