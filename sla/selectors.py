"""Read paths of the SLA engine: effective policies, clocks, alerts and the metrics of rules.md §3.

Every selector is scoped by organization. Metrics are SQL aggregations: sums from the daily
rollups (a 30-day board reads ≤ 30 rows per key, never the raw history), percentiles from the
window's ResponseRecords (PostgreSQL `percentile_cont`; a Python fallback keeps SQLite working),
and the live figures (waiting now, unanswered overdue) from the open clocks' partial index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate
from django.shortcuts import get_object_or_404
from django.utils import timezone

from inbox.models import ChannelAccount, Conversation, Organization

from .calculations import DEFAULT_TZ
from .models import OPEN_Q, Alert, ResponseRecord, SlaClock, SlaDailyRollup, SlaDayOff, SlaPolicy
from .policy import MARKETPLACE, EffectivePolicy

LOCAL_TZ = ZoneInfo(DEFAULT_TZ)

# --- policies ----------------------------------------------------------------------------------


def _effective(row: SlaPolicy | None, kind: str, days_off: frozenset[date]) -> EffectivePolicy:
    if row is None:
        return EffectivePolicy(kind=kind, extra_days_off=days_off)
    return EffectivePolicy(
        kind=kind,
        policy_id=row.pk,
        marketplace_limit_minutes=row.marketplace_limit_minutes,
        marketplace_calendar=row.marketplace_calendar,
        team_target_minutes=row.team_target_minutes or None,
        team_calendar=row.team_calendar,
        business_hours=row.business_hours,
        warning_minutes=tuple(sorted({int(m) for m in row.warning_minutes}, reverse=True)),
        extra_days_off=days_off,
    )


def sla_days_off(*, organization_id: int) -> frozenset[date]:
    return frozenset(SlaDayOff.objects.filter(organization_id=organization_id).values_list("day", flat=True))


def sla_policy_effective(*, organization_id: int, kind: str) -> EffectivePolicy:
    """The policy a new clock of this conversation kind runs on; the defaults when there is no row."""
    row = SlaPolicy.objects.filter(organization_id=organization_id, conversation_kind=kind).first()
    return _effective(row, kind, sla_days_off(organization_id=organization_id))


def sla_policies_effective(*, organization_id: int) -> dict[str, EffectivePolicy]:
    """Every conversation kind's effective policy (two queries)."""
    rows = {p.conversation_kind: p for p in SlaPolicy.objects.filter(organization_id=organization_id)}
    days_off = sla_days_off(organization_id=organization_id)
    return {kind: _effective(rows.get(kind), kind, days_off) for kind in Conversation.Kind.values}


def sla_day_off_list(*, organization: Organization) -> QuerySet[SlaDayOff]:
    return SlaDayOff.objects.filter(organization=organization).order_by("day")


def sla_day_off_get(*, organization: Organization, pk: int) -> SlaDayOff:
    return get_object_or_404(SlaDayOff, organization=organization, pk=pk)


# --- clocks ------------------------------------------------------------------------------------


def sla_open_clocks_prefetch(to_attr: str = "sla_open_clocks") -> Prefetch:
    """Prefetch of each conversation's open clocks (marketplace first): one query for a whole list."""
    return Prefetch("sla_clocks", queryset=SlaClock.objects.filter(OPEN_Q).order_by("kind"), to_attr=to_attr)


def sla_open_clocks(conversation: Conversation) -> list[SlaClock]:
    return list(SlaClock.objects.filter(conversation=conversation).filter(OPEN_Q).order_by("kind"))


def sla_last_record(conversation: Conversation) -> ResponseRecord | None:
    return ResponseRecord.objects.filter(conversation=conversation).order_by("-received_at").first()


def sla_open_marketplace_q(*, organization: Organization, due_before: datetime | None = None) -> Q:
    """Conditions on `Conversation` (through `sla_clocks`) selecting an open marketplace clock.

    Used in one `filter()` call so the join is shared with an `order_by("sla_clocks__due_at")`;
    it repeats the organization on the clock so the planner walks `slaclock_org_open_due_idx`.
    """
    q = Q(
        sla_clocks__organization=organization,
        sla_clocks__kind=MARKETPLACE,
        sla_clocks__satisfied_at__isnull=True,
        sla_clocks__cancelled_at__isnull=True,
    )
    if due_before is not None:
        q &= Q(sla_clocks__due_at__lte=due_before)
    return q


def sla_open_marketplace_count(
    *,
    organization: Organization,
    due_before: datetime,
    conversations: QuerySet[Conversation],
    limit: int | None = None,
) -> int:
    """How many of `conversations` have an open marketplace clock due by `due_before` (overdue included),
    counting at most `limit` of them if given.

    Driven from `slaclock_org_open_due_idx`: one primary-key probe per due clock (a LIMIT 1 scalar
    subquery, which the planner cannot turn into a hash join over every conversation), so the cost
    follows the number due, not the number of conversations (capped by `limit`).
    """
    match = conversations.filter(pk=OuterRef("conversation_id")).values("pk")[:1]
    clocks = (
        SlaClock.objects.filter(organization=organization, kind=MARKETPLACE, due_at__lte=due_before)
        .filter(OPEN_Q)
        .annotate(conversation_match=Subquery(match))
        .filter(conversation_match__isnull=False)
    )
    return (clocks[:limit] if limit is not None else clocks).count()


def sla_clock_state(clock: SlaClock, now: datetime | None = None) -> str:
    """ "breached", "warn-N" (N warning levels reached, 1 = the most generous), or "ok".

    From the clock's own instants, so the badge is right even before the beat has marked it.
    """
    now = now or timezone.now()
    if clock.breached_at is not None or clock.due_at <= now:
        return "breached"
    reached = sum(1 for w in clock.policy_snapshot.get("warn_at", ()) if datetime.fromisoformat(w) <= now)
    return f"warn-{reached}" if reached else "ok"


# --- alerts ------------------------------------------------------------------------------------


def sla_alert_list(*, user, organization: Organization, limit: int = 100) -> QuerySet[Alert]:
    return (
        Alert.objects.filter(user=user, organization=organization)
        .select_related("conversation")
        .order_by("-created_at", "-id")[:limit]
    )


def sla_alert_unread_count(*, user, organization: Organization) -> int:
    return Alert.objects.filter(user=user, organization=organization, read_at__isnull=True).count()


def sla_alert_get(*, user, organization: Organization, pk: int) -> Alert:
    return get_object_or_404(Alert, user=user, organization=organization, pk=pk)


# --- metrics (rules.md §3) ---------------------------------------------------------------------

GROUPS = ("account", "kind", "channel", "agent", "day")

# Group columns: on ResponseRecord / SlaDailyRollup, and on an open SlaClock (through its conversation).
_RECORD_COLUMN = {
    "account": "account_id",
    "kind": "conversation_kind",
    "channel": "channel",
    "agent": "agent_id",
    "day": "day",
}
_ROLLUP_COLUMN = {
    "account": "account_id",
    "kind": "conversation_kind",
    "channel": "channel",
    "agent": "agent_key",
    "day": "day",
}
_CLOCK_COLUMN = {
    "account": "conversation__account_id",
    "kind": "conversation__kind",
    "channel": "conversation__account__kind",
    "agent": "conversation__assignee_id",
}


@dataclass
class MetricsRow:
    """rules.md §3 figures of one group (or of the whole organization when `key` is None)."""

    key: object = None
    label: str = ""
    replied: int = 0  # replies decided in the window (no "no reply needed")
    on_time: int = 0  # ... within the marketplace limit
    late_replied: int = 0
    overdue_unanswered: int = 0  # deadline in the window, passed, still no reply: late (rules.md §3)
    breaches: int = 0  # late replies + "no reply needed" after the deadline + unanswered overdue
    no_reply: int = 0
    avg_policy_seconds: float | None = None
    avg_wall_seconds: float | None = None
    p50_policy_seconds: float | None = None
    p90_policy_seconds: float | None = None
    p50_wall_seconds: float | None = None
    p90_wall_seconds: float | None = None
    team_measured: int = 0
    team_met: int = 0
    team_breaches: int = 0
    waiting_now: int = 0
    oldest_waiting_since: datetime | None = None
    extra: dict = field(default_factory=dict)

    @property
    def due(self) -> int:
        """The on-time rate's denominator: replies due in the window plus unanswered overdue."""
        return self.replied + self.overdue_unanswered

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.due if self.due else None

    @property
    def team_met_rate(self) -> float | None:
        return self.team_met / self.team_measured if self.team_measured else None


@dataclass(frozen=True)
class Window:
    start_day: date
    end_day: date
    start: datetime  # local midnight of start_day, aware
    end: datetime  # now

    @classmethod
    def rolling(cls, days: int, now: datetime) -> Window:
        today = timezone.localtime(now, LOCAL_TZ).date()
        start_day = today - timedelta(days=days - 1)
        start = datetime.combine(start_day, time(0), tzinfo=LOCAL_TZ)
        return cls(start_day=start_day, end_day=today, start=start, end=now)


class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate `percentile_cont(f) WITHIN GROUP (ORDER BY x)`."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _percentile(values: list[float], fraction: float) -> float | None:
    """percentile_cont's definition (linear interpolation between the closest ranks), for SQLite."""
    if not values:
        return None
    position = fraction * (len(values) - 1)
    lower = int(position)
    upper = min(lower + 1, len(values) - 1)
    return values[lower] + (values[upper] - values[lower]) * (position - lower)


def sla_metrics(
    *, organization: Organization, days: int = 30, group_by: str | None = None, now: datetime | None = None
) -> list[MetricsRow]:
    """Rolling-window figures of rules.md §3, one row per group (one row in all when `group_by` is None).

    `group_by`: "account", "kind" (conversation kind), "channel" (allegro/email), "agent" (who replied;
    unanswered conversations count for their assignee) or "day" (the Europe/Warsaw day on which the
    outcome was decided: the reply if on time, the deadline if late). Five queries whatever the size.
    """
    if group_by is not None and group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {GROUPS}")
    now = now or timezone.now()
    window = Window.rolling(days, now)
    rows: dict[object, MetricsRow] = {}

    def row(key) -> MetricsRow:
        if key not in rows:
            rows[key] = MetricsRow(key=key)
        return rows[key]

    # 1. Sums of the decided replies from the daily rollups.
    rollups = SlaDailyRollup.objects.filter(
        organization=organization, day__gte=window.start_day, day__lte=window.end_day
    )
    sums = _grouped(
        rollups,
        F(_ROLLUP_COLUMN[group_by]) if group_by else None,
        s_replied=Sum("replied"),
        s_on_time=Sum("on_time"),
        s_late=Sum("late"),
        s_breached=Sum("breached"),
        s_no_reply=Sum("no_reply"),
        s_mp=Sum("marketplace_seconds"),
        s_wall=Sum("wall_seconds"),
        s_team_measured=Sum("team_measured"),
        s_team_met=Sum("team_met"),
        s_team_breached=Sum("team_breached"),
    )
    for item in sums:
        key = item["g"]
        if group_by == "agent" and key == 0:
            key = None
        if group_by and item["s_replied"] is None:
            continue
        r = row(key)
        r.replied += item["s_replied"] or 0
        r.on_time += item["s_on_time"] or 0
        r.late_replied += item["s_late"] or 0
        r.breaches += item["s_breached"] or 0
        r.no_reply += item["s_no_reply"] or 0
        r.team_measured += item["s_team_measured"] or 0
        r.team_met += item["s_team_met"] or 0
        r.team_breaches += item["s_team_breached"] or 0
        r.extra["mp_sum"] = r.extra.get("mp_sum", 0) + (item["s_mp"] or 0)
        r.extra["wall_sum"] = r.extra.get("wall_sum", 0) + (item["s_wall"] or 0)

    # 2. Unanswered and overdue: open marketplace clocks whose deadline passed inside the window.
    open_clocks = SlaClock.objects.filter(organization=organization, kind=MARKETPLACE).filter(OPEN_Q)
    overdue = open_clocks.filter(due_at__gte=window.start, due_at__lte=now)
    if group_by == "day":
        overdue_key = TruncDate("due_at", tzinfo=LOCAL_TZ)
    else:
        overdue_key = F(_CLOCK_COLUMN[group_by]) if group_by else None
    for item in _grouped(overdue, overdue_key, n=Count("id")):
        if item["n"]:
            r = row(item["g"])
            r.overdue_unanswered += item["n"]
            r.breaches += item["n"]

    # 3. Waiting now (not per day: it is a figure of the present).
    if group_by != "day":
        waiting_key = F(_CLOCK_COLUMN[group_by]) if group_by else None
        for item in _grouped(open_clocks, waiting_key, n=Count("id"), oldest=Min("started_at")):
            if item["n"]:
                r = row(item["g"])
                r.waiting_now = item["n"]
                r.oldest_waiting_since = item["oldest"]

    # 4. Averages (replied only, rules.md §3) and percentiles of first-reply time over the window.
    for r in rows.values():
        if r.replied:
            r.avg_policy_seconds = r.extra["mp_sum"] / r.replied
            r.avg_wall_seconds = r.extra["wall_sum"] / r.replied
    _percentiles(rows, organization=organization, window=window, group_by=group_by, row=row)

    # 5. Labels.
    _label(rows, group_by)
    if group_by is None and None not in rows:
        rows[None] = MetricsRow()
    ordered = sorted(rows.values(), key=lambda r: (r.key is None, str(r.key) if group_by != "day" else r.key))
    if group_by == "day":
        ordered = sorted(rows.values(), key=lambda r: r.key or date.min)
    return ordered


def _grouped(qs: QuerySet, key, **aggregates) -> list[dict]:
    """`qs` aggregated per `key` (an expression) as dicts with "g"; one dict with g=None without a key."""
    if key is None:
        return [{"g": None, **qs.aggregate(**aggregates)}]
    return list(qs.annotate(g=key).values("g").annotate(**aggregates).order_by())


def _percentiles(rows, *, organization, window: Window, group_by, row) -> None:
    records = ResponseRecord.objects.filter(
        organization=organization,
        no_reply_needed=False,
        decided_at__gte=window.start,
        decided_at__lte=window.end,
    )
    column = _RECORD_COLUMN[group_by] if group_by else None
    if connection.vendor == "postgresql":
        # The window's values are sorted per group: let the sort stay in memory (a 200,000-record
        # window spills to disk with the default 4 MB and takes ~1.5x as long). Local to this transaction.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '32MB'")
            result = _grouped(
                records,
                F(column) if column else None,
                p50_mp=PercentileCont("marketplace_seconds", 0.5),
                p90_mp=PercentileCont("marketplace_seconds", 0.9),
                p50_wall=PercentileCont("wall_seconds", 0.5),
                p90_wall=PercentileCont("wall_seconds", 0.9),
            )
        for item in result:
            if item["p50_mp"] is None:
                continue
            r = row(item["g"])
            r.p50_policy_seconds, r.p90_policy_seconds = item["p50_mp"], item["p90_mp"]
            r.p50_wall_seconds, r.p90_wall_seconds = item["p50_wall"], item["p90_wall"]
        return
    # Fallback (SQLite, `make run`): the window's values, sorted by the database, interpolated here.
    values: dict[object, tuple[list[float], list[float]]] = {}
    for key, mp, wall in records.values_list(
        column or "organization_id", "marketplace_seconds", "wall_seconds"
    ):
        bucket = values.setdefault(key if column else None, ([], []))
        bucket[0].append(mp)
        bucket[1].append(wall)
    for key, (mp_values, wall_values) in values.items():
        mp_values.sort()
        wall_values.sort()
        r = row(key)
        r.p50_policy_seconds, r.p90_policy_seconds = _percentile(mp_values, 0.5), _percentile(mp_values, 0.9)
        r.p50_wall_seconds, r.p90_wall_seconds = _percentile(wall_values, 0.5), _percentile(wall_values, 0.9)


def _label(rows: dict[object, MetricsRow], group_by: str | None) -> None:
    keys = [k for k in rows if k is not None]
    if group_by == "account":
        names = dict(ChannelAccount.objects.filter(pk__in=keys).values_list("pk", "name"))
    elif group_by == "agent":
        users = get_user_model().objects.filter(pk__in=keys)
        names = {u.pk: u.get_full_name() or u.get_username() for u in users}
    elif group_by == "kind":
        names = dict(Conversation.Kind.choices)
    elif group_by == "channel":
        names = dict(ChannelAccount.Kind.choices)
    else:
        names = {}
    for key, r in rows.items():
        if group_by == "day" and key is not None:
            r.label = key.isoformat()
        else:
            r.label = str(names.get(key, key if key is not None else ""))


sla_label = _label  # public name, for board_selectors


def sla_metrics_board(*, organization: Organization, days: int = 30, now: datetime | None = None) -> dict:
    """Everything a board shows: the organization's figures and the same split by each group.

    The same figures as `sla_metrics` for each group (tests compare them), read in one pass: the rollup
    rows of the window once (every key), the open marketplace clocks once grouped by every key and their
    deadline's local day, the percentiles of every grouping in one `GROUPING SETS` query, two label
    queries. `board["data"]` keeps what was read, so `sla_metrics_fold` can derive other windows (the
    reply-times board's today and 7-day columns) without reading again.
    """
    now = now or timezone.now()
    data = sla_board_data(organization=organization, days=days, now=now)
    window = Window.rolling(days, now)
    board: dict = {"days": days, "data": data}
    for group_by in (None, *GROUPS):
        rows = sla_metrics_fold(data, group_by=group_by, window=window)
        if group_by is None:
            board["total"] = rows[None]
            continue
        _label(rows, group_by)
        board[f"by_{group_by}"] = _ordered(rows, group_by)
    return board


@dataclass
class BoardData:
    """What `sla_metrics_board` read: enough to fold any window of up to `span_days` days ending now."""

    now: datetime
    span_days: int
    rollups: list[dict]  # SlaDailyRollup rows of the span (their keys and sums)
    clocks: list[dict]  # open marketplace clocks by account, kind, channel, assignee, local due day
    percentiles: dict  # {(group_by, key): (p50 policy, p90 policy, p50 wall, p90 wall)} of the window


# Positions of each group's key in a rollup row / an open-clock cell.
_FOLD_ROLLUP_KEY = {
    "account": "account_id",
    "kind": "conversation_kind",
    "channel": "channel",
    "agent": "agent_key",
}
_FOLD_CLOCK_KEY = {"account": "account", "kind": "kind", "channel": "channel", "agent": "assignee"}


def sla_board_data(
    *, organization: Organization, days: int, now: datetime, min_span_days: int = 7
) -> BoardData:
    """One read of the board's inputs (3 statements + the percentiles' savepoint and `SET LOCAL`): the
    rollup rows of the last max(days, min_span_days) days as they are (one row per organization, day,
    account, kind and agent: nothing to aggregate), the open marketplace clocks grouped by every key and
    the Europe/Warsaw day of their deadline (the waiting queue and the unanswered overdue of any window),
    and the window's percentiles."""
    span = Window.rolling(max(days, min_span_days), now)
    rollups = list(
        SlaDailyRollup.objects.filter(
            organization=organization, day__gte=span.start_day, day__lte=span.end_day
        ).values("day", *_FOLD_ROLLUP_KEY.values(), *SlaDailyRollup.SUMS)
    )
    clocks = list(
        SlaClock.objects.filter(organization=organization, kind=MARKETPLACE)
        .filter(OPEN_Q)
        .annotate(
            account=F("conversation__account_id"),
            kind_=F("conversation__kind"),
            channel=F("conversation__account__kind"),
            assignee=F("conversation__assignee_id"),
            due_day=TruncDate("due_at", tzinfo=LOCAL_TZ),
        )
        .values("account", "kind_", "channel", "assignee", "due_day")
        .annotate(
            n=Count("id"),
            oldest=Min("started_at"),
            overdue=Count("id", filter=Q(due_at__lte=now)),
            due_1h=Count("id", filter=Q(due_at__gt=now, due_at__lte=now + timedelta(hours=1))),
            due_4h=Count("id", filter=Q(due_at__gt=now, due_at__lte=now + timedelta(hours=4))),
        )
        .order_by()
    )
    for cell in clocks:
        cell["kind"] = cell.pop("kind_")
    return BoardData(
        now=now,
        span_days=span.end_day.toordinal() - span.start_day.toordinal() + 1,
        rollups=rollups,
        clocks=clocks,
        percentiles=_percentiles_all(organization=organization, window=Window.rolling(days, now)),
    )


def sla_metrics_fold(
    data: BoardData, *, group_by: str | None, window: Window, percentiles: bool = True
) -> dict[object, MetricsRow]:
    """`sla_metrics(group_by=…)`'s rows (without labels) from what `sla_board_data` read, for any
    window inside its span; the percentiles are those of the board's own window only."""
    if window.start_day < data.now.astimezone(LOCAL_TZ).date() - timedelta(days=data.span_days - 1):
        raise ValueError("the window is longer than what was read")
    rows: dict[object, MetricsRow] = {}

    def row(key) -> MetricsRow:
        if key not in rows:
            rows[key] = MetricsRow(key=key)
        return rows[key]

    # 1. The rollups' sums (the whole organization's row exists even without any).
    if group_by is None:
        row(None)
    for item in data.rollups:
        if item["day"] < window.start_day:
            continue
        if group_by is None:
            key = None
        elif group_by == "day":
            key = item["day"]
        else:
            key = item[_FOLD_ROLLUP_KEY[group_by]]
            if group_by == "agent" and key == 0:
                key = None
        r = row(key)
        r.replied += item["replied"]
        r.on_time += item["on_time"]
        r.late_replied += item["late"]
        r.breaches += item["breached"]
        r.no_reply += item["no_reply"]
        r.team_measured += item["team_measured"]
        r.team_met += item["team_met"]
        r.team_breaches += item["team_breached"]
        r.extra["mp_sum"] = r.extra.get("mp_sum", 0) + item["marketplace_seconds"]
        r.extra["wall_sum"] = r.extra.get("wall_sum", 0) + item["wall_seconds"]

    # 2. Unanswered overdue (deadline in the window, passed) and 3. waiting now (not per day).
    for cell in data.clocks:
        if group_by is None:
            key = None
        elif group_by == "day":
            key = cell["due_day"]
        else:
            key = cell[_FOLD_CLOCK_KEY[group_by]]
        if cell["overdue"] and cell["due_day"] >= window.start_day:
            r = row(key)
            r.overdue_unanswered += cell["overdue"]
            r.breaches += cell["overdue"]
        if group_by != "day" and cell["n"]:
            r = row(key)
            r.waiting_now += cell["n"]
            if r.oldest_waiting_since is None or cell["oldest"] < r.oldest_waiting_since:
                r.oldest_waiting_since = cell["oldest"]

    # 4. Averages of the replied, percentiles.
    for r in rows.values():
        if r.replied:
            r.avg_policy_seconds = r.extra["mp_sum"] / r.replied
            r.avg_wall_seconds = r.extra["wall_sum"] / r.replied
    if percentiles:
        for (group, key), values in data.percentiles.items():
            if group == group_by and values[0] is not None:
                r = row(key)
                r.p50_policy_seconds, r.p90_policy_seconds, r.p50_wall_seconds, r.p90_wall_seconds = values
    return rows


def _ordered(rows: dict[object, MetricsRow], group_by: str | None) -> list[MetricsRow]:
    if group_by == "day":
        return sorted(rows.values(), key=lambda r: r.key or date.min)
    return sorted(rows.values(), key=lambda r: (r.key is None, str(r.key)))


# Grouping sets of the board's percentiles: (group, column of ResponseRecord).
_PERCENTILE_SETS = ((None, None), *((g, _RECORD_COLUMN[g]) for g in GROUPS))


def _percentiles_all(*, organization: Organization, window: Window) -> dict:
    """p50/p90 of policy and wall time for the whole organization and every grouping, in one statement
    on PostgreSQL (`GROUPING SETS`: the window's records are read once; `percentile_cont` over an array
    of fractions sorts each group's values once per column); the same interpolation in Python on SQLite."""
    records = ResponseRecord.objects.filter(
        organization=organization,
        no_reply_needed=False,
        decided_at__gte=window.start,
        decided_at__lte=window.end,
    )
    columns = [c for _, c in _PERCENTILE_SETS if c]
    result: dict = {}
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(ResponseRecord._meta.db_table)
        grouping = ", ".join(connection.ops.quote_name(c) for c in columns)
        sets = ", ".join(f"({connection.ops.quote_name(c)})" for c in columns)
        # The filter of `records` (walks resprec_org_decided_idx), written out: the ORM has no GROUPING SETS.
        statement = (
            f"SELECT GROUPING({grouping}), {grouping}, "
            "percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY marketplace_seconds), "
            "percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY wall_seconds) "
            f"FROM {table} WHERE organization_id = %s AND NOT no_reply_needed "
            f"AND decided_at >= %s AND decided_at <= %s GROUP BY GROUPING SETS ((), {sets})"
        )
        params = [organization.pk, window.start, window.end]
        # As in `_percentiles`: the sorts stay in memory. Local to this transaction.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '32MB'")
            cursor.execute(statement, params)
            fetched = cursor.fetchall()
        width = len(columns)
        for bits, *values in fetched:
            keys, mp, wall = values[:width], values[width], values[width + 1]
            # GROUPING(): one bit per column, the first the most significant; 0 = grouped by it.
            grouped = [i for i in range(width) if not bits & (1 << (width - 1 - i))]
            group = GROUPS[grouped[0]] if grouped else None
            key = keys[grouped[0]] if grouped else None
            if mp is None:
                continue
            result[(group, key)] = (mp[0], mp[1], wall[0], wall[1])
        return result
    # Fallback (SQLite, `make run`): the window's values bucketed per grouping, interpolated here.
    buckets: dict[tuple, tuple[list[float], list[float]]] = {}
    for *keys, mp, wall in records.values_list(*columns, "marketplace_seconds", "wall_seconds"):
        for group, column in _PERCENTILE_SETS:
            bucket = buckets.setdefault((group, keys[columns.index(column)] if column else None), ([], []))
            bucket[0].append(mp)
            bucket[1].append(wall)
    for key, (mp_values, wall_values) in buckets.items():
        mp_values.sort()
        wall_values.sort()
        result[key] = (
            _percentile(mp_values, 0.5),
            _percentile(mp_values, 0.9),
            _percentile(wall_values, 0.5),
            _percentile(wall_values, 0.9),
        )
    return result
