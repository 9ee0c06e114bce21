"""Extra figures of the response-time board (leads): the queue now per account/agent, the 7-day
on-time rate, today's replies and breaches, the daily chart series and the inbound heat map.

Scoped by organization; aggregates only (the open clocks' partial index, the daily rollups, one
grouped count of the window's inbound messages).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from inbox.models import Message, Organization

from .models import OPEN_Q, SlaClock
from .policy import TEAM
from .selectors import (
    LOCAL_TZ,
    MetricsRow,
    Window,
    sla_board_data,
    sla_label,
    sla_metrics_board,
    sla_metrics_fold,
)

HEATMAP_CACHE_SECONDS = 300
# The boards poll every BOARD_POLL_SECONDS; what they show is computed at most SLA_BOARD_CACHE_SECONDS
# before, so a change in the data is on screen within the sum (≤ 15 s, issue #6).
BOARD_POLL_SECONDS = 10
# The open-clock cells' key (sla_board_data) for the queue tables.
QUEUE_KEY = {"account": "account", "agent": "assignee"}


def sla_team_now(*, organization: Organization, now: datetime) -> dict[tuple, dict]:
    """Team-target figures per (account, assignee) of the conversation, one grouped query:

    * `over_team_now`: open team clocks past their target — `breached_at` set by the beat, or the
      due instant passed before the beat ran (the same truth as the inbox badge, `sla_clock_state`);
    * `team_breached_today`: team clocks breached today (Europe/Warsaw), answered or not — `breached_at`
      is the due instant and a late reply or "no reply needed" marks it too, so a clock breached today is
      one due today that is marked, or still open and past due.
    """
    today = Window.rolling(1, now).start
    past_due = Q(breached_at__isnull=False) | Q(due_at__lte=now)
    rows = (
        SlaClock.objects.filter(organization=organization, kind=TEAM)
        .filter(OPEN_Q | Q(breached_at__isnull=False, due_at__gte=today))
        .values(account=F("conversation__account_id"), assignee=F("conversation__assignee_id"))
        .annotate(
            over_team_now=Count("id", filter=OPEN_Q & past_due),
            team_breached_today=Count("id", filter=Q(due_at__gte=today) & past_due),
        )
        .order_by()
    )
    return {(row.pop("account"), row.pop("assignee")): row for row in rows}


TEAM_FIGURES = ("over_team_now", "team_breached_today")


def sla_board_extra(*, organization: Organization, board: dict, now: datetime | None = None) -> dict:
    """Adds to `sla_metrics_board`'s rows (by account and by agent) the queue, the team-target figures,
    today's and 7-day figures under `row.extra` (from what the board read, `board["data"]`, plus one
    query for the team clocks); returns the chart series, the heat map and the organization's team
    figures."""
    now = now or timezone.now()
    data = board.get("data") or sla_board_data(organization=organization, days=board["days"], now=now)
    team = sla_team_now(organization=organization, now=now)
    totals = dict.fromkeys(TEAM_FIGURES, 0)
    for cell in team.values():
        for name in TEAM_FIGURES:
            totals[name] += cell[name]
    for group in ("account", "agent"):
        rows = board[f"by_{group}"]
        today = sla_metrics_fold(data, group_by=group, window=Window.rolling(1, now), percentiles=False)
        week = sla_metrics_fold(data, group_by=group, window=Window.rolling(7, now), percentiles=False)
        queue: dict[object, dict] = {}
        for cell in data.clocks:
            q = queue.setdefault(cell[QUEUE_KEY[group]], {"due_1h": 0, "due_4h": 0})
            q["due_1h"] += cell["due_1h"]
            q["due_4h"] += cell["due_4h"]
        team_by: dict[object, dict] = {}
        for (account, assignee), cell in team.items():
            t = team_by.setdefault(
                account if group == "account" else assignee, dict.fromkeys(TEAM_FIGURES, 0)
            )
            for name in TEAM_FIGURES:
                t[name] += cell[name]
        # A key with team figures only (e.g. the assignee of a conversation another agent answered late).
        missing = {k: MetricsRow(key=k) for k, t in team_by.items() if any(t.values())}
        for row in rows:
            missing.pop(row.key, None)
        if missing:
            sla_label(missing, group)
            rows.extend(missing.values())
            rows.sort(key=lambda r: (r.key is None, str(r.key)))
        for row in rows:
            q = queue.get(row.key, {})
            t = team_by.get(row.key, {})
            row.extra.update(
                due_1h=q.get("due_1h", 0),
                due_4h=q.get("due_4h", 0),
                replies_today=today[row.key].replied if row.key in today else 0,
                breached_today=today[row.key].breaches if row.key in today else 0,
                on_time_7=week[row.key].on_time_rate if row.key in week else None,
                **{name: t.get(name, 0) for name in TEAM_FIGURES},
            )
    return {
        "heatmap": sla_inbound_heatmap(organization=organization, days=board["days"], now=now),
        "team": totals,
    }


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


def board_cache_seconds() -> int:
    return int(getattr(settings, "SLA_BOARD_CACHE_SECONDS", 5))


def board_cached(name: str, organization: Organization, compute, *parts) -> object:
    """`compute()`, shared for `SLA_BOARD_CACHE_SECONDS` by every lead of the organization looking at the
    same board (the shared cache: Redis in production, the file cache in the embedded mode). Keyed by the
    database too, so two deployments (or test databases) sharing one Redis never see each other's."""
    seconds = board_cache_seconds()
    if seconds <= 0:
        return compute()
    key = ":".join(
        ["sla:board", name, str(connection.settings_dict.get("NAME")), str(organization.pk), *map(str, parts)]
    )
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, seconds)
    return value


def sla_board_cached(*, organization: Organization, days: int) -> tuple[dict, dict]:
    """The reply-times board (`sla_metrics_board` + `sla_board_extra`), cached briefly (`board_cached`)."""

    def compute():
        now = timezone.now()
        board = sla_metrics_board(organization=organization, days=days, now=now)
        extra = sla_board_extra(organization=organization, board=board, now=now)
        board.pop("data", None)  # what the board read: not worth caching
        return board, extra

    return board_cached("metrics", organization, compute, days)


TEAM_DIMENSIONS = ("all", "account", "agent")


def sla_team_conversations(
    *, organization: Organization, figure: str, dimension: str, key: str, now: datetime | None = None
) -> list[SlaClock]:
    """The team clocks behind one team-target figure of the reply-times board (`sla_team_now`), with
    their conversations, most overdue first: "over" (open and past the target now) or "today" (breached
    today, answered or not); for the whole organization, an account, or an assignee (`key` "none": the
    unassigned). At most 500."""
    now = now or timezone.now()
    today = Window.rolling(1, now).start
    past_due = Q(breached_at__isnull=False) | Q(due_at__lte=now)
    clocks = SlaClock.objects.filter(organization=organization, kind=TEAM)
    if figure == "over":
        clocks = clocks.filter(OPEN_Q & past_due)
    elif figure == "today":
        clocks = clocks.filter(Q(due_at__gte=today) & past_due).filter(OPEN_Q | Q(breached_at__isnull=False))
    else:
        raise ValueError(f"unknown figure {figure!r}")
    if dimension == "account":
        clocks = clocks.filter(conversation__account_id=int(key))
    elif dimension == "agent":
        clocks = (
            clocks.filter(conversation__assignee__isnull=True)
            if key == "none"
            else clocks.filter(conversation__assignee_id=int(key))
        )
    return list(
        clocks.select_related(
            "conversation__account", "conversation__assignee", "conversation__contact"
        ).order_by("due_at", "id")[:500]
    )
