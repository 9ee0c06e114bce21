"""The effective reply policy of one conversation kind, and the calendars it implies. No ORM.

`sla.selectors.sla_policy_effective` builds an :class:`EffectivePolicy` from the organization's
`SlaPolicy` row, or from the defaults below when the organization has none (rules.md §2.2).
A clock keeps a JSON snapshot of the part of the policy that made it (`ClockPlan.snapshot`), so its
due and warning instants, and the policy time of its reply, never change when a lead edits the
policy later; `manage.py sla_replay` recomputes with the current policies on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from .calculations import (
    DEFAULT_COUNTRY,
    DEFAULT_TZ,
    Calendar,
    business_hours_calendar,
    calendar_hours,
    due_at,
    warning_at,
    working_days_calendar,
)

MARKETPLACE = "marketplace"
TEAM = "team"

# rules.md §2.2: 24 h counted on working days, for every kind.
DEFAULT_MARKETPLACE_LIMIT_MINUTES = 24 * 60
DEFAULT_MARKETPLACE_CALENDAR = "working_days"
# rules.md §2.2: "2 h of working time" (seed 003). We read "working time" as the team's business
# hours, Mon–Fri 08:00–18:00 Europe/Warsaw, closed on public holidays and the organization's days off.
DEFAULT_TEAM_TARGET_MINUTES = 2 * 60
DEFAULT_TEAM_CALENDAR = "business_hours"
DEFAULT_BUSINESS_HOURS = "mon-fri 08:00-18:00"
# rules.md §2.3 "Warnings": due soon at 4 h and at 1 h of running time left.
DEFAULT_WARNING_MINUTES = (240, 60)


@dataclass(frozen=True)
class EffectivePolicy:
    """What a clock of one conversation kind runs on. # rules.md §2.2"""

    kind: str
    policy_id: int | None = None
    marketplace_limit_minutes: int = DEFAULT_MARKETPLACE_LIMIT_MINUTES
    marketplace_calendar: str = DEFAULT_MARKETPLACE_CALENDAR
    #: None: the policy has no team target (only the marketplace clock runs).
    team_target_minutes: int | None = DEFAULT_TEAM_TARGET_MINUTES
    team_calendar: str = DEFAULT_TEAM_CALENDAR
    business_hours: str = DEFAULT_BUSINESS_HOURS
    #: Running time left at which a clock is "due soon", most generous first.
    warning_minutes: tuple[int, ...] = DEFAULT_WARNING_MINUTES
    extra_days_off: frozenset[date] = field(default_factory=frozenset)
    tz: str = DEFAULT_TZ
    country: str = DEFAULT_COUNTRY

    def clocks(self) -> list[ClockSpec]:
        """The clocks a buyer message starts under this policy: marketplace, then team (if any)."""
        specs = [
            ClockSpec(
                kind=MARKETPLACE,
                limit_minutes=self.marketplace_limit_minutes,
                calendar=self.marketplace_calendar,
                windows=self.business_hours if self.marketplace_calendar == "business_hours" else "",
                days_off=self.extra_days_off,
                warning_minutes=self.warning_minutes,
                tz=self.tz,
                country=self.country,
                policy_id=self.policy_id,
            )
        ]
        if self.team_target_minutes:
            specs.append(
                ClockSpec(
                    kind=TEAM,
                    limit_minutes=self.team_target_minutes,
                    calendar=self.team_calendar,
                    windows=self.business_hours if self.team_calendar == "business_hours" else "",
                    days_off=self.extra_days_off,
                    warning_minutes=self.warning_minutes,
                    tz=self.tz,
                    country=self.country,
                    policy_id=self.policy_id,
                )
            )
        return specs


@dataclass(frozen=True)
class ClockSpec:
    """One clock's limit and calendar, as taken from a policy (or read back from a snapshot)."""

    kind: str
    limit_minutes: int
    calendar: str
    windows: str = ""
    days_off: frozenset[date] = frozenset()
    warning_minutes: tuple[int, ...] = DEFAULT_WARNING_MINUTES
    tz: str = DEFAULT_TZ
    country: str = DEFAULT_COUNTRY
    policy_id: int | None = None

    @property
    def limit(self) -> timedelta:
        return timedelta(minutes=self.limit_minutes)

    def build_calendar(self) -> Calendar:
        return build_calendar(self.calendar, self.windows, self.days_off, self.tz, self.country)

    def plan(self, started_at: datetime) -> ClockPlan:
        """Due and warning instants of a clock started at ``started_at``. # rules.md §2.3"""
        calendar = self.build_calendar()
        due = due_at(started_at, self.limit, calendar)
        # A level not shorter than the limit would fire at the start: such levels do not apply.
        levels = tuple(
            m for m in sorted(set(self.warning_minutes), reverse=True) if 0 < m < self.limit_minutes
        )
        warn = tuple(warning_at(started_at, self.limit, timedelta(minutes=m), calendar) for m in levels)
        return ClockPlan(
            spec=self, started_at=started_at.astimezone(UTC), due_at=due, warn_levels=levels, warn_at=warn
        )

    def running_time(self, start: datetime, end: datetime) -> timedelta:
        from .calculations import running_time

        return running_time(start, end, self.build_calendar())

    @classmethod
    def from_snapshot(cls, snapshot: dict) -> ClockSpec:
        return cls(
            kind=snapshot["kind"],
            limit_minutes=int(snapshot["limit_minutes"]),
            calendar=snapshot["calendar"],
            windows=snapshot.get("windows", ""),
            days_off=frozenset(date.fromisoformat(d) for d in snapshot.get("days_off", ())),
            warning_minutes=tuple(snapshot.get("warn_minutes", ())),
            tz=snapshot.get("tz", DEFAULT_TZ),
            country=snapshot.get("country", DEFAULT_COUNTRY),
            policy_id=snapshot.get("policy_id"),
        )


@dataclass(frozen=True)
class ClockPlan:
    spec: ClockSpec
    started_at: datetime
    due_at: datetime
    warn_levels: tuple[int, ...]
    warn_at: tuple[datetime, ...]

    @property
    def first_warn_at(self) -> datetime | None:
        return self.warn_at[0] if self.warn_at else None

    def snapshot(self) -> dict:
        """JSON kept on the clock: enough to rebuild its calendar and warning schedule."""
        start_day = self.started_at.date() - timedelta(days=1)
        return {
            "policy_id": self.spec.policy_id,
            "kind": self.spec.kind,
            "limit_minutes": self.spec.limit_minutes,
            "calendar": self.spec.calendar,
            "windows": self.spec.windows,
            # Days off from the start on: they decide the due instant and the policy time of a late reply.
            "days_off": sorted(d.isoformat() for d in self.spec.days_off if d >= start_day),
            "tz": self.spec.tz,
            "country": self.spec.country,
            "warn_minutes": list(self.warn_levels),
            "warn_at": [w.isoformat() for w in self.warn_at],
        }

    def passed_levels(self, now: datetime) -> int:
        """How many warning levels have been reached at ``now``."""
        return sum(1 for w in self.warn_at if w <= now)


def warn_instants(snapshot: dict) -> list[datetime]:
    return [datetime.fromisoformat(w) for w in snapshot.get("warn_at", ())]


def build_calendar(kind: str, windows: str, days_off: frozenset[date], tz: str, country: str) -> Calendar:
    return _build_calendar(kind, windows or "", frozenset(days_off), tz, country)


@lru_cache(maxsize=512)
def _build_calendar(kind: str, windows: str, days_off: frozenset[date], tz: str, country: str) -> Calendar:
    # Cached: equal calendars are equal keys of calculations' per-day cache too.
    if kind == "calendar_hours":
        return calendar_hours(tz=tz)
    if kind == "business_hours":
        return business_hours_calendar(
            windows or DEFAULT_BUSINESS_HOURS, country=country, extra_days_off=days_off, tz=tz
        )
    return working_days_calendar(country=country, extra_days_off=days_off, tz=tz)
