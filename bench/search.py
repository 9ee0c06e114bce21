"""Search benchmark (issue #9): `inbox.selectors.conversation_search` on the bench data set.

    .venv/bin/python bench/search.py [--conversations 1000000] [--runs 50] [--explain]

Uses `dataset.ensure(conversations)` (bench/dataset.py: replydesk_bench_<n>, Polish texts, 10 messages
per conversation; built when missing, so the first run at 1,000,000 takes a while). For each kind of
query — a common word, a product name (mid frequency), a rare word, a word typed without its Polish
letters, a fragment of an order id, a fragment of a buyer login, a two-word phrase, a query with no
hit — it times the selector (the inbox's first page: ranking, rows, clocks, snippets) `--runs` times,
cycling through several queries of the kind, after one untimed warm-up of each. Prints p50/p95 per
kind and overall, the queries per search, and EXPLAIN (ANALYZE, BUFFERS) of the statements of one
search per kind (with the indexes they use). Target: p95 < 200 ms.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _django import record, setup  # noqa: E402

WORDS = {
    "common_word": ["zwrot", "paczka", "faktura", "reklamacja", "przesyłka"],
    "product_word": ["wiertarka", "śpiwór", "termos", "patelnia", "perfumy"],
    "no_diacritics": ["zarowki", "spiwor turystyczny", "lozeczko", "pedzle", "zelazko parowe"],
    "phrase": ["formularz zwrotu", "zwrot pieniędzy", "numer śledzenia", "faktury VAT", "wadę fabryczną"],
    "no_hit": ["hulajnoga elektryczna", "qxzv", "teleskop", "wkxyz 123", "fortepian"],
}


def wait_for_dataset(timeout: float = 3600):
    """bench/dataset.py is written by another change; wait for it when it is not there yet."""
    deadline = time.monotonic() + timeout
    while not (HERE / "dataset.py").exists():
        if time.monotonic() > deadline:
            raise SystemExit("bench/dataset.py did not appear")
        print("waiting for bench/dataset.py …", flush=True)
        time.sleep(30)
    import dataset

    return dataset


def sample_queries(org, count: int = 10) -> dict[str, list[str]]:
    """Queries taken from the data: rare words (a buyer's login as it stands in a signature),
    fragments of order ids and of buyer logins (typed without Polish letters)."""
    from inbox.models import Conversation
    from inbox.search import fold

    rows = list(
        Conversation.objects.filter(organization=org)
        .exclude(order_id="")
        .exclude(details__buyer_login=None)
        .order_by("?")
        .values_list("order_id", "details__buyer_login")[: count * 3]
    )
    logins = [login for _order, login in rows if login and "_" in login][:count]
    return {
        # "nowakowska10128" of "paweł_nowakowska10128": a word found in one buyer's messages.
        "rare_word": [login.split("_", 1)[1] for login in logins],
        "order_fragment": [order[:8] for order, _login in rows[:count]],
        # "nowakowska1012": a fragment of the login, without Polish letters.
        "login_fragment": [fold(login.split("_", 1)[1])[:-1] for login in logins],
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
        return [row[0] for row in cursor.fetchall()]


def plan_summary(lines: list[str]) -> str:
    """The plan's scans (index names), and its execution time."""
    keep = [
        line.strip()
        for line in lines
        if any(w in line for w in ("Scan", "Limit", "Sort  (", "Execution Time", "Index Cond"))
    ]
    return " | ".join(keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--messages-per-conversation", type=float, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--db", help="an existing database instead of dataset.ensure() (development)")
    parser.add_argument("--explain", action="store_true", help="print the full plans, not a summary")
    args = parser.parse_args()

    db = args.db or wait_for_dataset().ensure(args.conversations, args.messages_per_conversation)
    setup(db)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inbox.models import Membership, Message, Organization
    from inbox.selectors import conversation_search

    org = Organization.objects.get(slug="bench")
    lead = Membership.objects.filter(organization=org, role="lead").select_related("user").first().user
    messages = Message.objects.filter(organization=org).count()
    print(
        f"database {db}: {messages:,} messages of organization {org.slug}; PostgreSQL {connection.pg_version}"
    )
    queries = {**WORDS, **sample_queries(org)}

    def search(q: str):
        return conversation_search(organization=org, user=lead, q=q)

    results: dict[str, dict] = {}
    all_times: list[float] = []
    max_queries = 0
    for kind, texts in queries.items():
        for q in texts:  # warm-up: one untimed search of each
            search(q)
        times, rows_seen = [], []
        for i in range(args.runs):
            q = texts[i % len(texts)]
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                rows = search(q)
                times.append((time.perf_counter() - start) * 1000)
            statements = [
                c for c in ctx.captured_queries if c["sql"].lstrip("(").startswith(("SELECT", "SET"))
            ]
            max_queries = max(max_queries, len(statements))
            rows_seen.append(len(rows))
        all_times += times
        results[kind] = {
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(percentile(times, 95), 1),
            "max_ms": round(max(times), 1),
            "rows": round(statistics.mean(rows_seen), 1),
            "queries": len(statements),
        }
        print(
            f"{kind:15} p50 {results[kind]['p50_ms']:7.1f} ms  p95 {results[kind]['p95_ms']:7.1f} ms  "
            f"max {results[kind]['max_ms']:7.1f} ms  {len(statements)} queries  "
            f"~{results[kind]['rows']:.0f} rows  "
            f"e.g. {texts[0]!r}",
            flush=True,
        )

    print("\nplans (EXPLAIN ANALYZE of the statements of one search per kind):")
    for kind, texts in queries.items():
        with CaptureQueriesContext(connection) as ctx:
            search(texts[0])
        print(f"\n== {kind}: {texts[0]!r}")
        for captured in ctx.captured_queries:
            if not captured["sql"].lstrip("(").startswith("SELECT"):
                continue  # BEGIN, SET LOCAL work_mem, COMMIT
            lines = explain(captured["sql"])
            if args.explain:
                print("  " + captured["sql"][:300])
                print("\n".join("    " + line for line in lines))
            else:
                print("  - " + plan_summary(lines)[:700])

    overall = {
        "p50_ms": round(statistics.median(all_times), 1),
        "p95_ms": round(percentile(all_times, 95), 1),
        "max_queries": max_queries,
    }
    print(
        f"\noverall: p50 {overall['p50_ms']} ms, p95 {overall['p95_ms']} ms, "
        f"at most {max_queries} queries per search"
    )
    record(
        "search",
        {
            "database": db,
            "messages": messages,
            "runs_per_kind": args.runs,
            "overall": overall,
            "kinds": {kind: {"p50_ms": r["p50_ms"], "p95_ms": r["p95_ms"]} for kind, r in results.items()},
        },
    )


if __name__ == "__main__":
    main()
