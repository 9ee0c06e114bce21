"""SLA engine benchmark on PostgreSQL: one beat tick at 1,000,000 open clocks, and 30-day metrics.

    .venv/bin/python bench/sla_tick.py [--clocks 1000000] [--due 1000] [--records 200000] [--runs 5]

Creates (drops first) the database `replydesk_bench` on postgres://postgres@127.0.0.1:5432 (override
with BENCH_SERVER_URL), migrates it, and bulk-loads with `generate_series` SQL:

* organization "bench-tick": N conversations, each with an open marketplace clock; `--due` of them past
  their due instant (and their warnings), the rest due within the next 10 days; two leads; 10 % assigned.
* organization "bench-metrics": 50,000 conversations with `--records` response records spread over the
  last 30 days (4 accounts, 4 kinds, 6 agents), their daily rollups (built by the engine's own
  rollup rebuild), and 2,000 open clocks (a quarter overdue).

Then it times `sla.services.sla_clocks_check` (the beat) and `sla.selectors.sla_metrics` /
`sla_metrics_board`, counting queries, and the inbox list sorted by deadline. Targets: a tick
< 200 ms with a bounded number of queries; 30-day metrics < 300 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("BENCH_SERVER_URL", "postgres://postgres@127.0.0.1:5432")
DB_NAME = "replydesk_bench"


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("DEBUG", "false")
    import django

    django.setup()


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def timed(fn, runs: int, reset=None):
    """(median ms, min ms, queries of the last run, result of the last run)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries, result = [], 0, None
    for _ in range(runs):
        if reset:
            reset()
        connection.queries_log.clear()  # the log holds 9,000 entries: count this run only
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            result = fn()
            times.append((time.perf_counter() - start) * 1000)
        queries = len(ctx)
    return statistics.median(times), min(times), queries, result


def sql(statement: str, params=None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def load_tick_org(n_clocks: int, n_due: int):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from inbox.models import ChannelAccount, Membership, Organization

    org = Organization.objects.create(name="Bench tick", slug="bench-tick")
    account = ChannelAccount.objects.create(organization=org, kind="allegro", name="Tick", external_id="t1")
    users = []
    for name, role in (("tick-owner", "owner"), ("tick-lead", "lead"), ("tick-agent", "agent")):
        user = get_user_model().objects.create(username=name)
        Membership.objects.create(organization=org, user=user, role=role)
        users.append(user)
    now = timezone.now()
    t0 = time.perf_counter()
    # Conversations: all waiting; conversation g started waiting g seconds ago (mod 1 day).
    sql(
        """
        INSERT INTO inbox_conversation (organization_id, account_id, kind, external_id, subject, status,
            order_id, offer_id, marketplace_state, reply_blocked_reason, details, created_at,
            last_message_at, last_inbound_at, awaiting_reply_since, assignee_id)
        SELECT %(org)s, %(account)s, 'message', 't-' || g, '', 'open', '', '', '', '', '{}'::jsonb, %(now)s,
               %(now)s - make_interval(secs => g %% 86400), %(now)s - make_interval(secs => g %% 86400),
               %(now)s - make_interval(secs => g %% 86400),
               CASE WHEN g %% 10 = 0 THEN %(agent)s END
        FROM generate_series(1, %(n)s) AS g
        """,
        {"org": org.pk, "account": account.pk, "now": now, "n": n_clocks, "agent": users[2].pk},
    )
    # One open marketplace clock each. The first n_due are past due (and past both warnings);
    # the others are due between 5 h and 10 days from now, warnings 4 h before (not yet passed).
    sql(
        """
        WITH c AS (
            SELECT id, row_number() OVER (ORDER BY id) AS rn
            FROM inbox_conversation WHERE organization_id = %(org)s
        ), d AS (
            SELECT id, rn,
                   CASE WHEN rn <= %(due)s THEN %(now)s - make_interval(secs => rn)
                        ELSE %(now)s + make_interval(secs => 18000 + (rn * 7919) %% 864000) END AS due_at
            FROM c
        )
        INSERT INTO sla_slaclock (organization_id, conversation_id, kind, started_at, due_at, next_warn_at,
            warned_levels, policy_snapshot, created_at)
        SELECT %(org)s, id, 'marketplace', due_at - interval '24 hours', due_at,
               due_at - interval '4 hours', 0,
               jsonb_build_object('kind', 'marketplace', 'limit_minutes', 1440, 'calendar', 'calendar_hours',
                   'windows', '', 'days_off', '[]'::jsonb, 'tz', 'Europe/Warsaw', 'country', 'PL',
                   'warn_minutes', '[240, 60]'::jsonb,
                   'warn_at', jsonb_build_array(to_jsonb(due_at - interval '4 hours'),
                                                to_jsonb(due_at - interval '1 hour'))),
               %(now)s
        FROM d
        """,
        {"org": org.pk, "now": now, "due": n_due},
    )
    load_s = time.perf_counter() - t0
    return org, now, load_s


def load_metrics_org(n_records: int):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from inbox.models import ChannelAccount, Membership, Organization
    from sla.models import ResponseRecord
    from sla.services import _rollups_rebuild

    org = Organization.objects.create(name="Bench metrics", slug="bench-metrics")
    accounts = [
        ChannelAccount.objects.create(
            organization=org, kind="allegro", name=f"Konto {i}", external_id=f"m{i}"
        )
        for i in range(4)
    ]
    agents = []
    for i in range(6):
        user = get_user_model().objects.create(
            username=f"metrics-agent-{i}", first_name="Agent", last_name=str(i)
        )
        Membership.objects.create(organization=org, user=user, role="agent")
        agents.append(user.pk)
    now = timezone.now()
    n_conversations = 50_000
    t0 = time.perf_counter()
    sql(
        """
        INSERT INTO inbox_conversation (organization_id, account_id, kind, external_id, subject, status,
            order_id, offer_id, marketplace_state, reply_blocked_reason, details, created_at, assignee_id)
        SELECT %(org)s, (%(accounts)s::bigint[])[1 + g %% 4],
               (ARRAY['message','discussion','claim','email'])[1 + (g / 4) %% 4], 'm-' || g, '', 'open',
               '', '', '', '', '{}'::jsonb, %(now)s, (%(agents)s::int[])[1 + g %% 6]
        FROM generate_series(1, %(n)s) AS g
        """,
        {
            "org": org.pk,
            "accounts": [a.pk for a in accounts],
            "agents": agents,
            "now": now,
            "n": n_conversations,
        },
    )
    # Records: received at spread over the last 30 days; reply after 1 min .. ~30 h (policy ≈ wall);
    # the marketplace deadline 24 h after receipt, so ~ 1 in 16 is late.
    sql(
        """
        WITH c AS (
            SELECT id, account_id, kind, assignee_id, row_number() OVER (ORDER BY id) AS rn
            FROM inbox_conversation WHERE organization_id = %(org)s
        ), r AS (
            SELECT c.*, g,
                   %(now)s - interval '30 days'
                       + make_interval(secs => (g * 12.9)::int %% 2592000) AS received,
                   60 + ((g * 7919) %% 104400) AS wall
            FROM generate_series(1, %(n)s) AS g JOIN c ON c.rn = 1 + (g %% %(nc)s)
        )
        INSERT INTO sla_responserecord (organization_id, conversation_id, account_id, conversation_kind,
            channel, agent_id, received_at, replied_at, wall_seconds, marketplace_due_at, marketplace_seconds,
            marketplace_met, team_due_at, team_seconds, team_met, no_reply_needed, no_reply_reason,
            decided_at, day, created_at)
        SELECT %(org)s, id, account_id, kind, 'allegro', assignee_id, received,
               received + make_interval(secs => wall), wall, received + interval '24 hours', wall,
               wall <= 86400, received + interval '2 hours', wall / 2, wall <= 7200, false, '',
               LEAST(received + make_interval(secs => wall), received + interval '24 hours'),
               (LEAST(received + make_interval(secs => wall), received + interval '24 hours')
                   AT TIME ZONE 'Europe/Warsaw')::date,
               %(now)s
        FROM r
        WHERE LEAST(received + make_interval(secs => wall), received + interval '24 hours') <= %(now)s
        ON CONFLICT DO NOTHING
        """,
        {"org": org.pk, "now": now, "n": int(n_records * 1.25), "nc": n_conversations},
    )
    # Keep exactly n_records (some were in the future or collided).
    sql(
        "DELETE FROM sla_responserecord WHERE id IN "
        "(SELECT id FROM sla_responserecord WHERE organization_id = %s ORDER BY id OFFSET %s)",
        [org.pk, n_records],
    )
    # 2,000 open clocks, a quarter of them overdue.
    sql(
        """
        INSERT INTO sla_slaclock (organization_id, conversation_id, kind, started_at, due_at, next_warn_at,
            warned_levels, policy_snapshot, created_at)
        SELECT %(org)s, id, 'marketplace', %(now)s - make_interval(secs => (id %% 2000) * 60),
               %(now)s + make_interval(secs => ((id %% 2000) - 500) * 60), NULL, 2, '{}'::jsonb, %(now)s
        FROM inbox_conversation WHERE organization_id = %(org)s ORDER BY id LIMIT 2000
        """,
        {"org": org.pk, "now": now},
    )
    records_s = time.perf_counter() - t0
    days = set(ResponseRecord.objects.filter(organization=org).values_list("day", flat=True).distinct())
    t1 = time.perf_counter()
    _rollups_rebuild(org.pk, days)
    rollup_s = time.perf_counter() - t1
    return org, now, records_s, rollup_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clocks", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="time again on the data a previous run loaded")
    args = parser.parse_args()

    if not args.reuse:
        recreate_database()
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(f"database {DB_NAME}: PostgreSQL {connection.pg_version // 10000} on {os.cpu_count()} CPU(s)")

    from inbox.models import Membership
    from inbox.selectors import conversation_counts, conversation_list
    from sla.models import Alert, ResponseRecord, SlaClock, SlaDailyRollup, SlaEvent
    from sla.selectors import sla_metrics, sla_metrics_board
    from sla.services import sla_clocks_check

    if args.reuse:
        from inbox.models import Organization

        tick_org = Organization.objects.get(slug="bench-tick")
        metrics_org = Organization.objects.get(slug="bench-metrics")
        tick_now = SlaClock.objects.filter(organization=tick_org).values_list("created_at", flat=True).first()
        metrics_now = ResponseRecord.objects.filter(organization=metrics_org).values_list(
            "created_at", flat=True
        )[0]
        load_s = records_s = rollup_s = 0.0
    else:
        tick_org, tick_now, load_s = load_tick_org(args.clocks, args.due)
        metrics_org, metrics_now, records_s, rollup_s = load_metrics_org(args.records)
    t0 = time.perf_counter()
    sql("VACUUM ANALYZE")
    print(
        f"loaded {args.clocks:,} open clocks in {load_s:.1f} s; "
        f"{args.records:,} records in {records_s:.1f} s; rollups rebuilt in {rollup_s * 1000:.0f} ms; "
        f"VACUUM ANALYZE {time.perf_counter() - t0:.1f} s"
    )
    open_count = SlaClock.objects.filter(organization=tick_org, satisfied_at__isnull=True).count()
    records = ResponseRecord.objects.filter(organization=metrics_org).count()
    rollups = SlaDailyRollup.objects.filter(organization=metrics_org).count()
    print(f"  open clocks: {open_count:,}; records: {records:,}; rollup rows: {rollups:,}")

    # --- the beat ---------------------------------------------------------------------------------
    due_ids = list(
        SlaClock.objects.filter(organization=tick_org, due_at__lte=tick_now).values_list("id", flat=True)
    )

    def reset_tick() -> None:
        """Unmark the due clocks (untimed). VACUUM, as autovacuum would between real ticks: each reset
        leaves 1,000 dead versions in the partial index's scanned range, which a real clock (marked
        once) does not."""
        Alert.objects.all().delete()
        SlaEvent.objects.all().delete()
        SlaClock.objects.filter(pk__in=due_ids).update(breached_at=None, warned_levels=0)
        sql(
            "UPDATE sla_slaclock SET next_warn_at = due_at - interval '4 hours' WHERE id = ANY(%s)", [due_ids]
        )
        sql("VACUUM sla_slaclock, sla_alert, sla_slaevent")

    from sla import signals as sla_signals

    receivers = {sig: sig.receivers[:] for sig in (sla_signals.sla_breached, sla_signals.sla_warning)}
    connected = sum(len(r) for r in receivers.values())
    for sig in receivers:  # the engine alone: marks, events, in-app alerts, commit
        sig.receivers = []
        sig.sender_receivers_cache.clear()
    median, best, queries, result = timed(lambda: sla_clocks_check(now=tick_now), args.runs, reset=reset_tick)
    print(
        f"\nbeat tick, {len(due_ids):,} due of {open_count:,} open clocks (no signal receivers): "
        f"median {median:.0f} ms, best {best:.0f} ms, {queries} statements "
        f"(BEGIN, SET LOCAL jit, mark+events+alerts, claim warnings, COMMIT) -> {result}"
    )
    for sig, saved in receivers.items():
        sig.receivers = saved
        sig.sender_receivers_cache.clear()
    if connected:
        median, best, queries, result = timed(
            lambda: sla_clocks_check(now=tick_now), max(3, args.runs // 2), reset=reset_tick
        )
        print(
            f"  with the {connected} sla.signals receivers connected in this checkout: "
            f"median {median:.0f} ms, {queries} statements (receivers run after commit, once per mark)"
        )
    reset_tick()
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT id FROM sla_slaclock WHERE breached_at IS NULL "
            "AND satisfied_at IS NULL AND cancelled_at IS NULL AND due_at <= %s ORDER BY due_at LIMIT 2000",
            [tick_now],
        )
        plan = [row[0] for row in cursor.fetchall()]
    print("  breach candidates plan: " + " | ".join(line.strip() for line in plan[:6]))
    sla_clocks_check(now=tick_now)
    sql("VACUUM sla_slaclock")
    median, best, queries, result = timed(lambda: sla_clocks_check(now=tick_now), args.runs)
    print(f"idle beat tick (nothing due): median {median:.1f} ms, {queries} queries -> {result}")
    alerts = Alert.objects.count()
    print(f"  alerts written per tick: {alerts:,} (two leads each, plus the assignee of 1 in 10)")

    # --- the inbox list at 1M waiting conversations -------------------------------------------------
    lead = Membership.objects.filter(organization=tick_org, role="lead").get().user
    for label, kwargs in (("awaiting, due soonest", {}), ("breaching within 4 h", {"due_within": 4})):
        median, best, queries, rows = timed(
            lambda kw=kwargs: list(conversation_list(organization=tick_org, user=lead, now=tick_now, **kw)),
            args.runs,
        )
        print(
            f"inbox list ({label}) over {args.clocks:,} waiting: median {median:.1f} ms, {queries} queries, "
            f"{len(rows)} rows"
        )
    from datetime import timedelta

    from inbox.models import Conversation
    from sla.selectors import sla_open_marketplace_count

    awaiting = Conversation.objects.filter(organization=tick_org, awaiting_reply_since__isnull=False).exclude(
        status="closed"
    )
    median, best, queries, due_soon = timed(
        lambda: sla_open_marketplace_count(
            organization=tick_org, due_before=tick_now + timedelta(hours=4), conversations=awaiting
        ),
        args.runs,
    )
    print(f"due-soon count alone (open-clock index): median {median:.1f} ms, {queries} query -> {due_soon:,}")
    median, best, queries, counts = timed(
        lambda: conversation_counts(organization=tick_org, user=lead, now=tick_now), args.runs
    )
    print(
        f"inbox filter counts (the existing per-filter aggregate over all conversations, plus due-soon): "
        f"median {median:.0f} ms, {queries} queries -> due_soon={counts['due_soon']:,}"
    )

    # --- metrics -------------------------------------------------------------------------------------
    median, best, queries, rows = timed(
        lambda: sla_metrics(organization=metrics_org, now=metrics_now), args.runs
    )
    total = rows[0]
    print(
        f"\n30-day metrics, organization with {records:,} records: median {median:.0f} ms, "
        f"best {best:.0f} ms, {queries} queries"
    )
    print(
        f"  on time {total.on_time_rate:.1%} ({total.on_time:,}/{total.due:,}), "
        f"avg {total.avg_policy_seconds:.0f} s, p50 {total.p50_policy_seconds:.0f} s, "
        f"p90 {total.p90_policy_seconds:.0f} s, breaches {total.breaches:,}, waiting {total.waiting_now:,}"
    )
    median, best, queries, _board = timed(
        lambda: sla_metrics_board(organization=metrics_org, now=metrics_now), args.runs
    )
    print(
        f"30-day board (total + by account, kind, channel, agent, day): median {median:.0f} ms, "
        f"best {best:.0f} ms, {queries} queries"
    )


if __name__ == "__main__":
    main()
