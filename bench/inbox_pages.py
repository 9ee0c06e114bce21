"""Inbox pages at scale: server time and SQL queries of the list and the conversation view.

    .venv/bin/python bench/inbox_pages.py [--conversations 1000000] [--runs 200] [--sample 200]

Against the data set of bench/dataset.py (built on first use, then reused), through Django's test
Client with the whole middleware stack, signed in as an agent of the big organization (`agent01`):

* the inbox list as the UI asks for it: awaiting reply, sorted by the marketplace deadline (due
  soonest), 50 rows — the full page (`GET /`) and the htmx partial that refreshes it
  (`HX-Target: conversation-list`); then once each for the other filters and a kind, to show the
  query count does not depend on what the page holds;
* the conversation view: the htmx pane (`GET /c/<pk>/`, `HX-Target: conversation-pane`) and the
  thread poll (`GET /c/<pk>/thread/`) of a random sample of conversations, a quarter of them the
  longest threads (40–150 messages).

For each: p50 / p95 / max server time over `--runs` requests, and the SQL queries per request
(min–max over the runs: equal means constant). Targets: p50 < 50 ms and p95 < 100 ms. Then EXPLAIN
(ANALYZE, BUFFERS) of the list's main query and of the thread query, asserting the index each uses.
Prints `BENCH-RESULT {json}` and appends to bench/results/inbox_pages.jsonl.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _django import record, setup  # noqa: E402
from dataset import ensure, read_marker  # noqa: E402

# The index each plan must walk (an assertion of this benchmark).
LIST_INDEX = "slaclock_org_open_due_idx"
THREAD_INDEX = "msg_conv_time_idx"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def measure(client, url: str, headers: dict, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries, sql, cpu = [], [], [], []
    for _ in range(runs):
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as ctx:
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(url, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries.append(len(ctx))
        sql.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)
    return summary(times, queries, sql, cpu)


def summary(times: list[float], queries: list, sql: list[float], cpu: list[float]) -> dict:
    """Wall time percentiles; the medians of the time spent in SQL (as the database driver saw it)
    and of this process's CPU time (Python: views, templates) tell a slow database from a busy CPU."""
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(pct(times, 0.95), 1),
        "max_ms": round(max(times), 1),
        "sql_p50_ms": round(statistics.median(sql), 1),
        "cpu_p50_ms": round(statistics.median(cpu), 1),
        "queries": min(queries) if min(queries) == max(queries) else f"{min(queries)}-{max(queries)}",
    }


def explain(qs) -> str:
    return qs.explain(analyze=True, buffers=True)


def plan_uses(plan: str, index: str) -> bool:
    return re.search(rf"\b(Index|Index Only) Scan( Backward)? using {index}\b", plan) is not None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--sample", type=int, default=200, help="conversations opened in the view")
    parser.add_argument("--quiet-plans", action="store_true", help="print only the plans' summaries")
    args = parser.parse_args()

    t0 = time.perf_counter()
    name = ensure(args.conversations)
    dataset_s = time.perf_counter() - t0
    marker = read_marker(name) or {}
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    setup(name)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import Count
    from django.test import Client

    from inbox import selectors
    from inbox.models import Conversation, Organization

    org = Organization.objects.get(slug="bench")
    agent = get_user_model().objects.get(username="agent01")
    client = Client()
    client.force_login(agent)
    rng = random.Random(7)

    # The conversations opened: random ones of the big organization and the longest threads.
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM inbox_conversation")
        max_id = cursor.fetchone()[0]
        cursor.execute(
            "SELECT conversation_id FROM inbox_message TABLESAMPLE SYSTEM (5) WHERE organization_id = %s "
            "GROUP BY conversation_id HAVING count(*) >= 5 ORDER BY count(*) DESC LIMIT %s",
            [org.pk, max(1, args.sample // 4)],
        )
        long_ids = [row[0] for row in cursor.fetchall()]
    random_ids = list(
        Conversation.objects.filter(
            organization=org, pk__in=[rng.randrange(1, max_id + 1) for _ in range(args.sample * 2)]
        ).values_list("pk", flat=True)
    )[: args.sample - len(long_ids)]
    sample = long_ids + random_ids
    message_counts = dict(
        Conversation.objects.filter(pk__in=sample).values_list("pk").annotate(n=Count("messages"))
    )

    list_partial = {
        "HX-Request": "true",
        "HX-Target": "conversation-list",
        "HX-Current-URL": "http://testserver/",
    }
    pane = {"HX-Request": "true", "HX-Target": "conversation-pane"}
    thread = {"HX-Request": "true", "HX-Target": "message-thread"}
    for _ in range(5):  # warm-up: connections, template loading, caches
        client.get("/?filter=awaiting")
        client.get(f"/c/{sample[0]}/", headers=pane)

    figures: dict = {
        "conversations": marker.get("counts", {}).get("conversations"),
        "messages": marker.get("counts", {}).get("messages"),
        "awaiting": marker.get("counts", {}).get("awaiting"),
    }
    figures["list_page"] = measure(client, "/?filter=awaiting", {}, args.runs)
    figures["list_partial"] = measure(client, "/?filter=awaiting", list_partial, args.runs)

    # One request per other list variant: the query count must not change with the content.
    variants = {}
    for query in (
        "filter=mine",
        "filter=unassigned",
        "filter=all",
        "filter=closed",
        "kind=claim",
        "due_within=4",
    ):
        variants[query] = measure(client, f"/?{query}", list_partial, max(3, args.runs // 10))
    figures["list_variants"] = {
        k: {"p50_ms": v["p50_ms"], "sql_p50_ms": v["sql_p50_ms"], "queries": v["queries"]}
        for k, v in variants.items()
    }

    def over_sample(url_for, headers) -> dict:
        times, queries, sql, cpu, per_length = [], [], [], [], {}
        for i in range(args.runs):
            pk = sample[i % len(sample)]
            one = measure(client, url_for(pk), headers, 1)
            times.append(one["p50_ms"])
            sql.append(one["sql_p50_ms"])
            cpu.append(one["cpu_p50_ms"])
            queries.append(one["queries"])
            per_length.setdefault(message_counts.get(pk, 0), set()).add(one["queries"])
        result = summary(times, queries, sql, cpu)
        lengths = sorted(per_length)
        result["messages_min_max"] = f"{lengths[0]}-{lengths[-1]}"
        return result

    figures["conversation_pane"] = over_sample(lambda pk: f"/c/{pk}/", pane)
    figures["conversation_thread"] = over_sample(lambda pk: f"/c/{pk}/thread/", thread)

    # Plans of the two main queries.
    list_qs = selectors.conversation_list(organization=org, user=agent, filter_name="awaiting")
    longest = Conversation.objects.get(pk=long_ids[0]) if long_ids else Conversation.objects.get(pk=sample[0])
    thread_qs = selectors.message_list_for_conversation(longest)
    plans = {"list": (explain(list_qs), LIST_INDEX), "thread": (explain(thread_qs), THREAD_INDEX)}
    figures["plans"] = {}
    for key, (plan, index) in plans.items():
        uses = plan_uses(plan, index)
        execution = re.search(r"Execution Time: ([\d.]+) ms", plan)
        node = next((line.strip() for line in plan.splitlines() if f"using {index}" in line), "")
        figures["plans"][key] = {
            "index": index,
            "uses_index": uses,
            "node": re.sub(r"\(cost=[^)]*\) ", "", node),
            "execution_ms": float(execution.group(1)) if execution else None,
        }
        print(f"\n--- EXPLAIN (ANALYZE, BUFFERS) {key} query: {'uses' if uses else 'DOES NOT USE'} {index}")
        if not args.quiet_plans:
            print(plan)

    figures["dataset_db"] = name
    figures["dataset_ready_s"] = round(dataset_s, 1)
    figures["dataset_build_s"] = marker.get("build_s")
    targets_met = all(
        figures[k]["p50_ms"] < 50 and figures[k]["p95_ms"] < 100
        for k in ("list_page", "list_partial", "conversation_pane", "conversation_thread")
    )
    constant = (
        all(
            isinstance(figures[k]["queries"], int)
            for k in ("list_page", "list_partial", "conversation_pane", "conversation_thread")
        )
        and len({v["queries"] for v in variants.values()}) == 1
    )
    figures["targets_met"] = targets_met
    figures["constant_queries"] = constant
    figures["plans_use_indexes"] = all(p["uses_index"] for p in figures["plans"].values())
    print()
    record("inbox_pages", figures)
    return 0 if figures["plans_use_indexes"] and constant else 1


if __name__ == "__main__":
    raise SystemExit(main())
