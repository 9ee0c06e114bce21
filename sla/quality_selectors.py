"""Reads of the quality mirror: the area inputs of each day's rolling window, the forecast, the board.

Everything is scoped by organization and built from aggregates: the daily rollups (per account, day
and conversation kind), the open marketplace clocks (overdue ones count as late, rules.md §3) and a
count of discussions per day. Fixed number of queries whatever the size.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import (
    Case,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, ExtractHour, Greatest, Least, Round, TruncDate
from django.db.models.lookups import GreaterThan
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inbox.models import ChannelAccount, Conversation, Organization

from . import quality
from .models import OPEN_Q, QualityConfig, QualitySnapshot, ResponseRecord, SlaClock, SlaDailyRollup
from .policy import MARKETPLACE
from .selectors import LOCAL_TZ

WINDOW_DAYS = 30
DISCUSSION_KINDS = (Conversation.Kind.DISCUSSION, Conversation.Kind.CLAIM)
# The Message Center's messages (Allegro counts them, and mail to the masked address shows there).
MESSAGE_KINDS = (Conversation.Kind.MESSAGE, Conversation.Kind.EMAIL)


def _overdue_clocks(organization: Organization, account_ids, start: datetime, now: datetime) -> QuerySet:
    """Open marketplace clocks of these accounts whose deadline passed within [start, now]: unanswered
    messages that count as late (rules.md §3), for the mirror, the attribution and the lost list."""
    return (
        SlaClock.objects.filter(
            organization=organization, kind=MARKETPLACE, due_at__gte=start, due_at__lte=now
        )
        .filter(OPEN_Q)
        .filter(conversation__account_id__in=account_ids)
    )


def _answered_records(organization: Organization, account_ids, start: datetime, now: datetime) -> QuerySet:
    """Response records of these accounts decided within [start, now], "no reply needed" left out:
    the answered side of the attribution and of the lost list (the overdue side: `_overdue_clocks`)."""
    return ResponseRecord.objects.filter(
        organization=organization,
        no_reply_needed=False,
        decided_at__gte=start,
        decided_at__lte=now,
        account_id__in=account_ids,
    )


def _area_kind(conversation_kind: str) -> str | None:
    if conversation_kind in DISCUSSION_KINDS:
        return "discussions"
    if conversation_kind in MESSAGE_KINDS:
        return "messages"
    return None


def _local_day(instant: datetime) -> date:
    return timezone.localtime(instant, LOCAL_TZ).date()


def _day_end(day: date) -> datetime:
    """The daily cut-off: local midnight after `day`."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)


@dataclass(frozen=True)
class QualitySettings:
    scheme: dict
    override: dict
    orders_30d: int | None
    company_account: bool | None


def quality_settings(*, organization: Organization) -> QualitySettings:
    config = QualityConfig.objects.filter(organization=organization).first()
    override = config.scheme if config else {}
    return QualitySettings(
        scheme=quality.scheme_merge(override),
        override=override or {},
        orders_30d=config.orders_30d if config else None,
        company_account=config.company_account if config else None,
    )


def quality_accounts(*, organization: Organization) -> list[ChannelAccount]:
    return list(
        ChannelAccount.objects.filter(organization=organization, kind=ChannelAccount.Kind.ALLEGRO).order_by(
            "name"
        )
    )


def quality_inputs_by_day(
    *,
    organization: Organization,
    account_ids: list[int],
    end_day: date,
    days: int = WINDOW_DAYS,
    now: datetime,
    orders: int | None = None,
) -> dict[int, dict[date, quality.AreaInputs]]:
    """{account id: {day: inputs of the 30-day window ending that day}} for `days` days up to `end_day`.

    Three queries: rollups and overdue open clocks over days+29 days, discussions per created day.
    The unresolved count is today's (open discussions created in the window): the history of a
    conversation's status is not kept.
    """
    first_day = end_day - timedelta(days=days - 1 + WINDOW_DAYS - 1)
    start = datetime.combine(first_day, time(0), tzinfo=LOCAL_TZ)
    daily: dict[tuple[int, date], quality.AreaInputs] = defaultdict(quality.AreaInputs)

    rollups = (
        SlaDailyRollup.objects.filter(
            organization=organization,
            account_id__in=account_ids,
            day__gte=first_day,
            day__lte=end_day,
        )
        .values("account_id", "day", "conversation_kind")
        .annotate(replied=Sum("replied"), on_time=Sum("on_time"), seconds=Sum("marketplace_seconds"))
        .order_by()
    )
    for row in rollups:
        kind = _area_kind(row["conversation_kind"])
        if kind is None:
            continue
        daily[(row["account_id"], row["day"])] += quality.AreaInputs(
            **{
                f"{kind}_due": row["replied"] or 0,
                f"{kind}_on_time": row["on_time"] or 0,
                f"{kind}_replied": row["replied"] or 0,
                f"{kind}_reply_seconds": float(row["seconds"] or 0),
            }
        )

    overdue = (
        _overdue_clocks(organization, account_ids, start, now)
        .annotate(
            d=TruncDate("due_at", tzinfo=LOCAL_TZ), a=F("conversation__account_id"), k=F("conversation__kind")
        )
        .values("a", "d", "k")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in overdue:
        kind = _area_kind(row["k"])
        if kind is not None:
            daily[(row["a"], row["d"])] += quality.AreaInputs(**{f"{kind}_due": row["n"]})

    discussions = (
        Conversation.objects.filter(
            organization=organization,
            account_id__in=account_ids,
            kind__in=DISCUSSION_KINDS,
            created_at__gte=start,
        )
        .annotate(d=TruncDate("created_at", tzinfo=LOCAL_TZ))
        .values("account_id", "d")
        .annotate(n=Count("id"), unresolved=Count("id", filter=~Q(status=Conversation.Status.CLOSED)))
        .order_by()
    )
    unresolved_by_day: dict[tuple[int, date], int] = {}
    for row in discussions:
        daily[(row["account_id"], row["d"])] += quality.AreaInputs(discussions_total=row["n"])
        unresolved_by_day[(row["account_id"], row["d"])] = row["unresolved"]

    result: dict[int, dict[date, quality.AreaInputs]] = {}
    for account_id in account_ids:
        per_day: dict[date, quality.AreaInputs] = {}
        for offset in range(days):
            day = end_day - timedelta(days=days - 1 - offset)
            total = quality.AreaInputs()
            unresolved = 0
            for back in range(WINDOW_DAYS):
                key = (account_id, day - timedelta(days=back))
                total += daily.get(key, quality.AreaInputs())
                unresolved += unresolved_by_day.get(key, 0)
            per_day[day] = quality.AreaInputs(
                **{
                    **{name: getattr(total, name) for name in total.__dataclass_fields__},
                    "discussions_unresolved": unresolved,
                    "orders": orders,
                }
            )
        result[account_id] = per_day
    return result


def quality_open_items(
    *, organization: Organization, account_id: int, now: datetime, until: datetime, limit: int = 500
) -> list[tuple[quality.OpenItem, SlaClock]]:
    """Open marketplace clocks of the account due in (now, until], soonest first (partial index walk).

    The reply time if answered now is the wall time waited so far (≥ the policy time: conservative).
    """
    clocks = (
        SlaClock.objects.filter(
            organization=organization, kind=MARKETPLACE, due_at__gt=now, due_at__lte=until
        )
        .filter(OPEN_Q)
        .filter(conversation__account_id=account_id)
        .select_related("conversation")
        .order_by("due_at")[:limit]
    )
    items = []
    for clock in clocks:
        kind = _area_kind(clock.conversation.kind)
        if kind is None:
            continue
        items.append(
            (
                quality.OpenItem(
                    key=clock.conversation_id,
                    kind=kind,
                    due_in_seconds=(clock.due_at - now).total_seconds(),
                    waited_seconds=max(0.0, (now - clock.started_at).total_seconds()),
                ),
                clock,
            )
        )
    return items


@dataclass
class AccountQuality:
    account: ChannelAccount
    today: date
    mirrored: quality.AreaResult
    inputs: quality.AreaInputs
    official: QualitySnapshot | None  # the newest official day
    history: list[dict]  # per day: {"day", "mirrored", "official"} oldest first
    forecast: quality.Forecast
    savings: list[dict]  # {"conversation", "due_at", "points"}
    checklist: tuple[quality.Criterion, ...]

    area_codes: tuple[str, ...] = ()

    @property
    def compared(self) -> tuple[float, str] | None:
        """(official figure our area is compared with, "area" or "total")."""
        if self.official is None:
            return None
        return quality.official_compared(self.official.score, self.official.metrics, list(self.area_codes))

    @property
    def compared_to(self) -> str | None:
        return self.compared[1] if self.compared else None

    @property
    def difference(self) -> float | None:
        """Our area less the official customer-service metrics; None when the official figures do
        not list them: our area (of 110) less Allegro's total (of 500) would mean nothing, and the
        grades are what compares then."""
        if self.compared is None or self.compared[1] != "area":
            return None
        return round(self.mirrored.score - self.compared[0], 1)


def quality_board(
    *,
    organization: Organization,
    now: datetime | None = None,
    day: date | None = None,
    days: int = WINDOW_DAYS,
) -> dict:
    """Per Allegro account: the mirrored area of `day` (today by default) and its history, the newest
    official figures, the forecast to the next daily cut-off and the Super Seller checklist."""
    now = now or timezone.now()
    today = _local_day(now)
    day = day or today
    settings = quality_settings(organization=organization)
    accounts = quality_accounts(organization=organization)
    ids = [a.pk for a in accounts]
    inputs = quality_inputs_by_day(
        organization=organization,
        account_ids=ids,
        end_day=day,
        days=days,
        now=now,
        orders=settings.orders_30d,
    )
    snapshots: dict[int, dict[date, QualitySnapshot]] = defaultdict(dict)
    for snap in QualitySnapshot.objects.filter(
        organization=organization, day__gte=day - timedelta(days=days - 1), day__lte=day
    ).order_by("day"):
        snapshots[snap.account_id][snap.day] = snap
    cutoff = _day_end(today)
    result = []
    for account in accounts:
        per_day = inputs[account.pk]
        history = []
        for d, area_inputs in per_day.items():
            history.append(
                {
                    "day": d,
                    "mirrored": quality.score_area(area_inputs, settings.scheme, day=d),
                    "official": snapshots[account.pk].get(d),
                }
            )
        current = per_day[day]
        official = next((h["official"] for h in reversed(history) if h["official"] is not None), None)
        if day == today:
            open_items = quality_open_items(
                organization=organization, account_id=account.pk, now=now, until=cutoff
            )
        else:
            open_items = []
        fc = quality.forecast(
            current,
            [item for item, _ in open_items],
            seconds_to_cutoff=(cutoff - now).total_seconds() if day == today else 0,
            scheme=settings.scheme,
        )
        clocks = {item.key: clock for item, clock in open_items}
        savings = [
            {"conversation": clocks[key].conversation, "due_at": clocks[key].due_at, "points": points}
            for key, points in fc.savings
        ]
        grades = [snapshots[account.pk][d].grade for d in sorted(snapshots[account.pk])]
        result.append(
            AccountQuality(
                account=account,
                today=day,
                mirrored=history[-1]["mirrored"],
                inputs=current,
                official=official,
                history=history,
                forecast=fc,
                savings=savings,
                checklist=quality.super_seller_checklist(
                    official_grades=grades,
                    days=days,
                    company_account=settings.company_account,
                    orders=settings.orders_30d,
                ),
                area_codes=tuple(settings.scheme.get("official_area_codes") or ()),
            )
        )
    return {"now": now, "day": day, "cutoff": cutoff, "settings": settings, "accounts": result}


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %"


def forecast_sentence(fc: quality.Forecast, *, threshold: float = 0.95) -> str:
    """ "3 messages breach in the next 2 h; on-time rate falls from 96.1 % to 94.8 % (below 95 %)." """
    hours = round(fc.soon_seconds / 3600)
    if not fc.breaching_by_cutoff:
        return _("Nothing in the queue breaches before the daily cut-off.")
    first = ngettext(
        "%(n)d conversation breaches in the next %(h)d h",
        "%(n)d conversations breach in the next %(h)d h",
        fc.breaching_soon,
    ) % {"n": fc.breaching_soon, "h": hours}
    second = ngettext(
        "%(n)d by the daily cut-off",
        "%(n)d by the daily cut-off",
        fc.breaching_by_cutoff,
    ) % {"n": fc.breaching_by_cutoff}
    text = f"{first} ({second})"
    if fc.rate_now != fc.rate_at_cutoff:
        text += "; " + _("on-time rate falls from %(a)s to %(b)s") % {
            "a": _percent(fc.rate_now),
            "b": _percent(fc.rate_at_cutoff),
        }
        if fc.rate_at_cutoff is not None and fc.rate_at_cutoff < threshold <= (fc.rate_now or 0):
            text += " " + _("(below %(t)s)") % {"t": f"{threshold * 100:g} %"}
    if fc.at_cutoff.score != fc.now.score:
        text += "; " + _("area score %(a)s → %(b)s") % {
            "a": f"{fc.now.score:g}",
            "b": f"{fc.at_cutoff.score:g}",
        }
    return text + "."


# --- points at risk per open conversation (the inbox's "score at risk" sort) ----------------------


class EpochSeconds(Func):
    """Seconds since the Unix epoch of a datetime column, as a float (PostgreSQL and SQLite)."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::double precision", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)", **extra
        )


@dataclass(frozen=True)
class RiskTerms:
    """Per Allegro account and area kind, what answering one of its items now saves (quality.AnswerGain)
    — for open marketplace clocks due between `now` and the daily `cutoff`; 0 for every other one
    (overdue ones are late whatever happens, later ones do not breach before the cut-off)."""

    now: datetime
    cutoff: datetime
    gains: dict[tuple[int, str], quality.AnswerGain]

    def points(self, *, account_id: int, conversation_kind: str, clock: SlaClock | None) -> float:
        """The same figure as `expression()`, in Python (for one row)."""
        kind = _area_kind(conversation_kind)
        gain = self.gains.get((account_id, kind))
        if gain is None or clock is None or not (self.now < clock.due_at <= self.cutoff):
            return 0.0
        return gain.points((self.now - clock.started_at).total_seconds())

    def expression(self, clock: str = "sla_clocks__", conversation: str = ""):
        """A CASE over the rows' account, conversation kind and open marketplace clock (reached through
        `clock`, a lookup prefix) giving the points at risk; evaluated by the database for a whole
        queue, so the inbox can sort by it."""
        whens = []
        in_range = Q(**{f"{clock}due_at__gt": self.now, f"{clock}due_at__lte": self.cutoff})
        waited = Greatest(
            Value(self.now.timestamp(), output_field=FloatField()) - EpochSeconds(F(f"{clock}started_at")),
            Value(0.0, output_field=FloatField()),
        )
        for (account_id, kind), gain in sorted(self.gains.items()):
            kinds = MESSAGE_KINDS if kind == "messages" else DISCUSSION_KINDS
            condition = in_range & Q(
                **{f"{conversation}account_id": account_id, f"{conversation}kind__in": kinds}
            )
            whens.append(When(condition, then=_gain_expression(gain, waited)))
        if not whens:
            return Value(0.0, output_field=FloatField())
        return Case(*whens, default=Value(0.0, output_field=FloatField()), output_field=FloatField())


def _gain_expression(gain: quality.AnswerGain, waited):
    """`quality.AnswerGain.points` as an SQL expression of the wait (seconds)."""

    def num(v: float) -> Value:
        return Value(float(v), output_field=FloatField())

    constant = num(gain.constant)
    if not gain.max_points:
        return constant
    avg_hours = ExpressionWrapper(
        (num(gain.seconds) + waited) / num((gain.replied + 1) * 3600.0), output_field=FloatField()
    )
    if gain.zero_hours > gain.full_hours:
        share = Greatest(
            num(0.0),
            Least(num(1.0), (num(gain.zero_hours) - avg_hours) / num(gain.zero_hours - gain.full_hours)),
        )
    else:
        share = Case(When(GreaterThan(avg_hours, num(gain.full_hours)), then=num(0.0)), default=num(1.0))
    points = Round(ExpressionWrapper(num(gain.max_points) * share, output_field=FloatField()), 1)
    return Cast(Round(Cast(constant + points, FloatField()), 1), FloatField())


def quality_risk_terms(*, organization: Organization, now: datetime | None = None) -> RiskTerms:
    """What answering each open conversation now saves at the next daily cut-off (quality.forecast's
    per-item saving), as terms the database can evaluate. Six queries whatever the queue's size."""
    now = now or timezone.now()
    today = _local_day(now)
    cutoff = _day_end(today)
    settings = quality_settings(organization=organization)
    ids = [a.pk for a in quality_accounts(organization=organization)]
    if not ids:
        return RiskTerms(now=now, cutoff=cutoff, gains={})
    inputs = quality_inputs_by_day(
        organization=organization, account_ids=ids, end_day=today, days=1, now=now, orders=settings.orders_30d
    )
    breaching = (
        SlaClock.objects.filter(
            organization=organization, kind=MARKETPLACE, due_at__gt=now, due_at__lte=cutoff
        )
        .filter(OPEN_Q)
        .filter(conversation__account_id__in=ids)
        .values(a=F("conversation__account_id"), k=F("conversation__kind"))
        .annotate(n=Count("id"))
        .order_by()
    )
    at_cutoff = {pk: inputs[pk][today] for pk in ids}
    for row in breaching:
        kind = _area_kind(row["k"])
        if kind is not None:
            at_cutoff[row["a"]] = at_cutoff[row["a"]].with_breached(kind, row["n"])
    gains = {}
    for pk in ids:
        for kind in ("messages", "discussions"):
            gains[(pk, kind)] = quality.answer_gain(at_cutoff[pk], kind, settings.scheme)
    return RiskTerms(now=now, cutoff=cutoff, gains=gains)


# --- attribution: who and what lost the points -----------------------------------------------------

ATTRIBUTION_DIMENSIONS = ("agent", "account", "hour", "kind")


@dataclass
class LostRow:
    """Points of the customer-service area lost in the rolling window, attributed to one agent, account,
    hour of day (Europe/Warsaw, of the buyer's message) or conversation kind."""

    key: object
    label: str = ""
    late_replies: int = 0
    overdue_unanswered: int = 0
    slow_seconds: float = 0.0  # reply time beyond the average rule's full-points time, summed
    points_on_time: float = 0.0
    points_avg_time: float = 0.0

    @property
    def late(self) -> int:
        return self.late_replies + self.overdue_unanswered

    @property
    def points(self) -> float:
        return round(self.points_on_time + self.points_avg_time, 1)


def quality_attribution(*, organization: Organization, now: datetime | None = None) -> dict:
    """Where today's window (the rolling 30 days of the area) lost its points, per dimension.

    Per Allegro account, the points each metric misses (best − actual) are shared out: an on-time
    metric's among that kind's late items (late replies and unanswered overdue, rules.md §3) equally;
    an average metric's in proportion to each reply's time beyond the rule's full-points time. The rows
    of one dimension add up to the area's lost points. Two grouped queries whatever the size: the
    window's records by (account, agent, kind, hour) and the overdue open clocks likewise.
    """
    now = now or timezone.now()
    today = _local_day(now)
    settings = quality_settings(organization=organization)
    scheme = settings.scheme
    accounts = quality_accounts(organization=organization)
    ids = [a.pk for a in accounts]
    start = datetime.combine(today - timedelta(days=WINDOW_DAYS - 1), time(0), tzinfo=LOCAL_TZ)
    rules = {m["code"]: m for m in scheme["metrics"]}

    def full_seconds(kind: str) -> float:
        rule = rules.get(f"{kind}_avg_time") or {}
        return float(rule.get("full_hours", 0)) * 3600

    # Cells: (account, agent, conversation kind, hour) → late, overdue, slow seconds.
    cells: dict[tuple, dict] = defaultdict(lambda: {"late": 0, "overdue": 0, "slow": 0.0})
    if ids:
        slow = Case(
            *[
                When(
                    conversation_kind__in=MESSAGE_KINDS if kind == "messages" else DISCUSSION_KINDS,
                    marketplace_seconds__gt=full_seconds(kind),
                    then=F("marketplace_seconds") - Value(full_seconds(kind)),
                )
                for kind in ("messages", "discussions")
            ],
            default=Value(0.0),
            output_field=FloatField(),
        )
        records = (
            _answered_records(organization, ids, start, now)
            .annotate(h=ExtractHour("received_at", tzinfo=LOCAL_TZ))
            .values("account_id", "agent_id", "conversation_kind", "h")
            .annotate(late=Count("id", filter=Q(marketplace_met=False)), slow=Sum(slow))
            .order_by()
        )
        for row in records:
            cell = cells[(row["account_id"], row["agent_id"], row["conversation_kind"], row["h"])]
            cell["late"] += row["late"]
            cell["slow"] += float(row["slow"] or 0)
        overdue = (
            _overdue_clocks(organization, ids, start, now)
            .annotate(
                a=F("conversation__account_id"),
                u=F("conversation__assignee_id"),
                k=F("conversation__kind"),
                h=ExtractHour("started_at", tzinfo=LOCAL_TZ),
            )
            .values("a", "u", "k", "h")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in overdue:
            cells[(row["a"], row["u"], row["k"], row["h"])]["overdue"] += row["n"]

    # Each account's area today, and what each metric misses.
    inputs = quality_inputs_by_day(
        organization=organization, account_ids=ids, end_day=today, days=1, now=now, orders=settings.orders_30d
    )
    lost: dict[int, dict[str, float]] = {}
    areas = {}
    for pk in ids:
        result = quality.score_area(inputs[pk][today], scheme)
        areas[pk] = result
        # Only what the team's replies decide: the on-time and average metrics (0 with nothing due).
        lost[pk] = {
            m.code: max(0.0, m.max_points - m.points) if m.value is not None else 0.0
            for m in result.metrics
            if m.code.endswith(("_on_time", "_avg_time"))
        }
    # Totals per account and kind, to share each metric's loss.
    totals: dict[tuple[int, str], dict] = defaultdict(lambda: {"late": 0, "slow": 0.0})
    for (account_id, _agent, ckind, _hour), cell in cells.items():
        kind = _area_kind(ckind)
        if kind:
            totals[(account_id, kind)]["late"] += cell["late"] + cell["overdue"]
            totals[(account_id, kind)]["slow"] += cell["slow"]

    dims: dict[str, dict[object, LostRow]] = {d: {} for d in ATTRIBUTION_DIMENSIONS}
    for (account_id, agent_id, ckind, hour), cell in cells.items():
        kind = _area_kind(ckind)
        if kind is None:
            continue
        total = totals[(account_id, kind)]
        on_time_lost = lost[account_id].get(f"{kind}_on_time", 0.0)
        avg_lost = lost[account_id].get(f"{kind}_avg_time", 0.0)
        late = cell["late"] + cell["overdue"]
        p_on_time = on_time_lost * late / total["late"] if total["late"] else 0.0
        p_avg = avg_lost * cell["slow"] / total["slow"] if total["slow"] else 0.0
        for dim, key in (("agent", agent_id), ("account", account_id), ("hour", hour), ("kind", ckind)):
            row = dims[dim].setdefault(key, LostRow(key=key))
            row.late_replies += cell["late"]
            row.overdue_unanswered += cell["overdue"]
            row.slow_seconds += cell["slow"]
            row.points_on_time += p_on_time
            row.points_avg_time += p_avg
    _label_lost(dims, accounts)
    out = {}
    for dim, rows in dims.items():
        kept = [r for r in rows.values() if r.late or r.slow_seconds]
        for r in kept:
            r.points_on_time, r.points_avg_time = round(r.points_on_time, 1), round(r.points_avg_time, 1)
        if dim == "hour":
            kept.sort(key=lambda r: r.key)
        else:
            kept.sort(key=lambda r: (-r.points, -r.late, r.label))
        out[dim] = kept
    lost_total = sum(v for pk in ids for v in lost[pk].values())
    return {"now": now, "start": start, "dimensions": out, "lost": round(lost_total, 1), "areas": areas}


def _label_lost(dims: dict[str, dict[object, LostRow]], accounts: list[ChannelAccount]) -> None:
    from django.contrib.auth import get_user_model

    names = {a.pk: a.name for a in accounts}
    users = {
        u.pk: u.get_full_name() or u.get_username()
        for u in get_user_model().objects.filter(pk__in=[k for k in dims["agent"] if k is not None])
    }
    kinds = dict(Conversation.Kind.choices)
    for key, row in dims["agent"].items():
        row.label = users.get(key, "") if key is not None else str(_("unassigned"))
    for key, row in dims["account"].items():
        row.label = names.get(key, str(key))
    for key, row in dims["hour"].items():
        row.label = f"{key:02d}:00–{key:02d}:59"
    for key, row in dims["kind"].items():
        row.label = str(kinds.get(key, key))


def quality_lost_conversations(
    *, organization: Organization, dimension: str, key: str, now: datetime | None = None, limit: int = 200
) -> list[dict]:
    """The conversations behind one attribution row: late replies and unanswered overdue messages of
    the window (newest deadline first), with the reply time or how long overdue."""
    now = now or timezone.now()
    today = _local_day(now)
    start = datetime.combine(today - timedelta(days=WINDOW_DAYS - 1), time(0), tzinfo=LOCAL_TZ)
    ids = [a.pk for a in quality_accounts(organization=organization)]
    late = Q(marketplace_met=False)
    settings = quality_settings(organization=organization)
    rules = {m["code"]: m for m in settings.scheme["metrics"]}
    for kind, kinds in (("messages", MESSAGE_KINDS), ("discussions", DISCUSSION_KINDS)):
        rule = rules.get(f"{kind}_avg_time")
        if rule:
            late |= Q(conversation_kind__in=kinds, marketplace_seconds__gt=float(rule["full_hours"]) * 3600)
    records = _answered_records(organization, ids, start, now).filter(late)
    clocks = _overdue_clocks(organization, ids, start, now)
    value: object = key
    if dimension == "agent":
        value = None if key in ("", "none") else int(key)
        records = records.filter(agent_id=value) if value is not None else records.filter(agent__isnull=True)
        clocks = (
            clocks.filter(conversation__assignee_id=value)
            if value is not None
            else clocks.filter(conversation__assignee__isnull=True)
        )
    elif dimension == "account":
        records, clocks = (
            records.filter(account_id=int(key)),
            clocks.filter(conversation__account_id=int(key)),
        )
    elif dimension == "hour":
        hour = int(key)
        records = records.annotate(h=ExtractHour("received_at", tzinfo=LOCAL_TZ)).filter(h=hour)
        clocks = clocks.annotate(h=ExtractHour("started_at", tzinfo=LOCAL_TZ)).filter(h=hour)
    elif dimension == "kind":
        records, clocks = records.filter(conversation_kind=key), clocks.filter(conversation__kind=key)
    else:
        raise ValueError(dimension)
    rows = [
        {
            "conversation": r.conversation,
            "received_at": r.received_at,
            "due_at": r.marketplace_due_at,
            "replied_at": r.replied_at,
            "seconds": r.marketplace_seconds,
            "late": not r.marketplace_met,
            "agent": r.agent,
        }
        for r in records.select_related("conversation", "conversation__account", "agent").order_by(
            "-marketplace_due_at"
        )[:limit]
    ]
    rows += [
        {
            "conversation": c.conversation,
            "received_at": c.started_at,
            "due_at": c.due_at,
            "replied_at": None,
            "seconds": None,
            "late": True,
            "agent": c.conversation.assignee,
        }
        for c in clocks.select_related(
            "conversation", "conversation__account", "conversation__assignee"
        ).order_by("-due_at")[:limit]
    ]
    rows.sort(key=lambda r: r["due_at"], reverse=True)
    return rows[:limit]
