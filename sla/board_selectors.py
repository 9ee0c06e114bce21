"""Extra figures of the response-time board (leads): the queue now per account/agent, the 7-day
on-time rate, today's replies and breaches, the daily chart series and the inbound heat map.

Scoped by organization; aggregates only (the open clocks' partial index, the daily rollups, one
grouped count of the window's inbound messages).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, F, Min, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from inbox.models import Message, Organization

from .models import OPEN_Q, SlaClock
from .policy import MARKETPLACE
from .selectors import LOCAL_TZ, Window, sla_metrics

HEATMAP_CACHE_SECONDS = 300
QUEUE_COLUMN = {"account": "conversation__account_id", "agent": "conversation__assignee_id"}


def sla_queue_now(*, organization: Organization, group_by: str, now: datetime) -> dict[object, dict]:
    """Per account or assignee: waiting now, oldest waiting, due within 1 h / 4 h, overdue (one query)."""
    rows = (
        SlaClock.objects.filter(organization=organization, kind=MARKETPLACE)
        .filter(OPEN_Q)
        .annotate(g=F(QUEUE_COLUMN[group_by]))
        .values("g")
        .annotate(
            waiting=Count("id"),
            oldest=Min("started_at"),
            due_1h=Count("id", filter=Q(due_at__gt=now, due_at__lte=now + timedelta(hours=1))),
            due_4h=Count("id", filter=Q(due_at__gt=now, due_at__lte=now + timedelta(hours=4))),
            overdue=Count("id", filter=Q(due_at__lte=now)),
        )
        .order_by()
    )
    return {row.pop("g"): row for row in rows}


def sla_board_extra(*, organization: Organization, board: dict, now: datetime | None = None) -> dict:
    """Adds to `sla_metrics_board`'s rows (by account and by agent) the queue, today's and 7-day
    figures under `row.extra`; returns the chart series and the heat map."""
    now = now or timezone.now()
    for group in ("account", "agent"):
        rows = board[f"by_{group}"]
        queue = sla_queue_now(organization=organization, group_by=group, now=now)
        today = {r.key: r for r in sla_metrics(organization=organization, days=1, group_by=group, now=now)}
        week = {r.key: r for r in sla_metrics(organization=organization, days=7, group_by=group, now=now)}
        for row in rows:
            q = queue.get(row.key, {})
            row.extra.update(
                due_1h=q.get("due_1h", 0),
                due_4h=q.get("due_4h", 0),
                replies_today=today[row.key].replied if row.key in today else 0,
                breached_today=today[row.key].breaches if row.key in today else 0,
                on_time_7=week[row.key].on_time_rate if row.key in week else None,
            )
    return {"heatmap": sla_inbound_heatmap(organization=organization, days=board["days"], now=now)}


def sla_inbound_heatmap(*, organization: Organization, days: int, now: datetime) -> dict:
    """Inbound buyer messages by Europe/Warsaw weekday (1 = Monday) × hour over the window.

    One query grouped by UTC hour (≤ 24 × days groups; cheaper than extracting local parts per row),
    turned into local weekday × hour here; cached for `HEATMAP_CACHE_SECONDS` per organization and
    hour, because the board polls and a 30-day histogram does not need to be fresher.
    """
    window = Window.rolling(days, now)
    key = f"sla:heatmap:{organization.pk}:{days}:{now:%Y%m%d%H}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    counts = (
        Message.objects.filter(
            organization=organization,
            direction=Message.Direction.INBOUND,
            author_type=Message.AuthorType.BUYER,
            source_created_at__gte=window.start,
            source_created_at__lte=now,
        )
        .annotate(hour=TruncHour("source_created_at", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("id"))
        .order_by()
    )
    grid = [[0] * 24 for _ in range(7)]
    for row in counts:
        local = timezone.localtime(row["hour"], LOCAL_TZ)
        grid[local.isoweekday() - 1][local.hour] += row["n"]
    peak = max((n for line in grid for n in line), default=0)
    result = {"grid": grid, "peak": peak, "total": sum(sum(line) for line in grid)}
    cache.set(key, result, HEATMAP_CACHE_SECONDS)
    return result
