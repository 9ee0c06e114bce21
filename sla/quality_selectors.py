"""Reads of the quality mirror: the area inputs of each day's rolling window, the forecast, the board.

Everything is scoped by organization and built from aggregates: the daily rollups (per account, day
and conversation kind), the open marketplace clocks (overdue ones count as late, rules.md §3) and a
count of discussions per day. Fixed number of queries whatever the size.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inbox.models import ChannelAccount, Conversation, Organization

from . import quality
from .models import OPEN_Q, QualityConfig, QualitySnapshot, SlaClock, SlaDailyRollup
from .policy import MARKETPLACE
from .selectors import LOCAL_TZ

WINDOW_DAYS = 30
DISCUSSION_KINDS = (Conversation.Kind.DISCUSSION, Conversation.Kind.CLAIM)
# The Message Center's messages (Allegro counts them, and mail to the masked address shows there).
MESSAGE_KINDS = (Conversation.Kind.MESSAGE, Conversation.Kind.EMAIL)


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
        SlaClock.objects.filter(
            organization=organization, kind=MARKETPLACE, due_at__gte=start, due_at__lte=now
        )
        .filter(OPEN_Q)
        .filter(conversation__account_id__in=account_ids)
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
        if self.compared is None:
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
