"""Pure reply-deadline arithmetic: when is a clock due, how much running time has elapsed.

No ORM, no database, no ``now()``: every function takes its instants as arguments. # rules.md §2.3

Three kinds of :class:`Calendar` say when a reply clock runs:

* ``working_days_calendar()`` – all 24 h (local midnight to midnight) of every working day; stopped on
  Saturdays, Sundays, public holidays of ``country`` (the ``holidays`` package) and extra days off.
  This is the marketplace limit of rules.md §2.2/§2.3.
* ``calendar_hours()`` – runs always (a team may choose "calendar hours", rules.md §2.3).
* ``business_hours_calendar(windows)`` – local-time windows per weekday, e.g. Mon–Fri 08:00–18:00 or
  split shifts 08:00–12:00 and 13:00–17:00; closed all day on holidays and extra days off (team targets,
  rules.md §2.2).

Semantics and conventions (rules.md §2.3)
-----------------------------------------
1. **Real seconds.** The running set R of a calendar is a union of half-open UTC intervals ``[a, b)``
   ("running periods"). All arithmetic is done on UTC instants, exact to the microsecond
   (``timedelta`` is integer microseconds). The local calendar (zoneinfo) is used only to find where
   running periods begin and end, so a 00:00–24:00 day lasts 23 h in March and 25 h in October, and a
   "calendar hours" deadline across the October change ends one wall-clock hour earlier than naive
   "+24 h local" (one hour later across March).
2. **running_time(start, end)** is the length of R ∩ [start, end); 0 when ``end <= start``.
3. **due_at(start, d)** is the *earliest* instant ``t >= start`` with ``running_time(start, t) == d``.
   Consequences, all deliberate:

   * ``d == 0`` → ``start`` itself, even if the clock is stopped at ``start``.
   * A start inside a stopped period counts from the next running instant (opened on a Saturday → the
     clock starts Monday 00:00).
   * When the duration is used up exactly at the end of a running period, that end is returned
     (Monday's 24 h → Tuesday 00:00 local; a split-shift clock ending at 12:00 → 12:00, not 13:00),
     never the start of the next running period. Hence for ``d > 0`` the result always lies in
     ``(a, b]`` of a running period: a working-days deadline never falls on a stopped day except
     exactly at that day's local midnight, and a business-hours deadline never falls outside a window
     except exactly at a window end.
   * Additivity holds for all ``a, b >= 0``: ``due_at(due_at(t, a), b) == due_at(t, a + b)``. For
     ``b > 0`` both sides are the earliest instant with ``a + b`` running time after ``t``; for
     ``b == 0`` both sides are ``due_at(t, a)``. (Returning the *next period start* instead would break
     ``b == 0``: ``due_at(t, a)`` would be Wednesday 00:00 while ``due_at(t, a + 0)`` had to be the same
     instant reached from a Monday start – it is the "earliest instant" rule that makes both agree.)
   * Inverse: ``running_time(t, due_at(t, d)) == d`` exactly. The other way round,
     ``due_at(t, running_time(t, e))`` is the last instant ``<= e`` at which the clock was running
     (or ``t``), i.e. ``e`` itself unless ``e`` lies inside a stopped period.
   * Monotone: non-decreasing in ``start``, strictly increasing in ``d``.
4. **warning_at(start, d, w)** is ``due_at(start, d - w)`` when ``w < d``, else ``start``
   (rules.md §2.3 "Warnings": "due soon" when ``w`` of running time is left).
5. **Local wall times → instants** (day boundaries and window edges), with zoneinfo:
   an ambiguous wall time (autumn repeat) means its *first* occurrence; a non-existent wall time
   (spring gap) means the instant the gap ends, e.g. 02:30 on 29 Mar 2026 in Europe/Warsaw → 03:00
   CEST. This mapping is monotone, so windows never overlap or invert, and a "local midnight" is
   always the first instant of the local day even in zones whose DST change happens at midnight.
6. **Windows**: ``{weekday: [(start, end), ...]}`` with 0 = Monday … 6 = Sunday and naive
   ``datetime.time`` values. An end of ``None``, ``time(0, 0)`` or ``time.max`` (or ``"24:00"`` in
   the string form) means the end of the day (24:00). A window must not cross midnight (split it over
   two weekdays). Overlapping or touching windows are merged. String form: ``"mon-fri 08:00-18:00"``,
   ``"mon-fri 08:00-12:00,13:00-17:00; sat 10:00-14:00"``.
7. **Inputs**: naive datetimes are refused with :class:`NaiveDatetimeError` (a ``ValueError``) naming
   the argument; negative durations with ``ValueError``. Results are aware datetimes in UTC.
8. **Holidays** come from ``holidays.country_holidays(country, years=...)`` (public category) and are
   cached per (country, year). For PL, 24 December is a public holiday from 2025 on; the package has
   it (checked with holidays 0.109), and it is added here as well so an older package cannot drop it.
   ``country=None`` means no public holidays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "Calendar",
    "CalendarError",
    "CalendarKind",
    "NaiveDatetimeError",
    "Window",
    "business_hours_calendar",
    "calendar_hours",
    "due_at",
    "parse_windows",
    "running_time",
    "warning_at",
    "working_days_calendar",
]

CalendarKind: TypeAlias = Literal["working_days", "calendar_hours", "business_hours"]
#: A local-time window of one weekday; an end of ``None`` is 24:00 (end of the day).
Window: TypeAlias = tuple[time, time | None]
#: Normalized windows of the seven weekdays, index 0 = Monday.
WeekWindows: TypeAlias = tuple[tuple[Window, ...], ...]
#: A running period as UTC instants, half-open ``[start, end)``.
Period: TypeAlias = tuple[datetime, datetime]
#: What ``business_hours_calendar`` accepts as a window: times or "HH:MM" strings.
WindowInput: TypeAlias = tuple[time | str, time | str | None]

KINDS: tuple[CalendarKind, ...] = ("working_days", "calendar_hours", "business_hours")
DEFAULT_TZ = "Europe/Warsaw"
DEFAULT_COUNTRY = "PL"

_ALL_DAY: tuple[Window, ...] = ((time(0, 0), None),)
_WORKING_DAYS_WINDOWS: WeekWindows = (_ALL_DAY,) * 5 + ((),) * 2
_EVERY_DAY_WINDOWS: WeekWindows = (_ALL_DAY,) * 7

_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: A calendar that has no running period in this many consecutive days is treated as broken.
_MAX_STOPPED_DAYS = 3660
#: rules.md §2.3: 24 December is a Polish public holiday from 2025 on.
_PL_CHRISTMAS_EVE_FROM_YEAR = 2025


class CalendarError(ValueError):
    """A calendar is misconfigured (unknown zone or country, bad windows, never running)."""


class NaiveDatetimeError(ValueError):
    """An instant without a time zone was passed where an aware datetime is required."""


# --------------------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calendar:
    """When a reply clock runs. Immutable and hashable: callers may cache it. # rules.md §2.3

    Build one with :func:`working_days_calendar`, :func:`calendar_hours` or
    :func:`business_hours_calendar`; direct construction is validated the same way.
    """

    kind: CalendarKind
    tz: str = DEFAULT_TZ
    country: str | None = DEFAULT_COUNTRY
    extra_days_off: frozenset[date] = frozenset()
    #: Seven tuples of windows (Monday first). ``None`` derives them from ``kind`` (required for
    #: ``business_hours``).
    windows: WeekWindows | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise CalendarError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        object.__setattr__(self, "tz", _zone_key(self.tz))
        object.__setattr__(self, "extra_days_off", _normalize_days_off(self.extra_days_off))
        if self.country is not None:
            object.__setattr__(self, "country", _check_country(self.country))

        if self.kind == "calendar_hours":
            if self.extra_days_off:
                raise CalendarError("a calendar_hours calendar runs always: it takes no extra days off")
            object.__setattr__(self, "country", None)  # holidays do not matter to it
            windows = _EVERY_DAY_WINDOWS
        elif self.kind == "working_days":
            windows = _WORKING_DAYS_WINDOWS
        else:
            if self.windows is None:
                raise CalendarError("a business_hours calendar needs windows")
            windows = _normalize_windows(self.windows)
            if not any(windows):
                raise CalendarError("a business_hours calendar needs at least one window")
        if (
            self.windows is not None
            and self.kind != "business_hours"
            and _normalize_windows(self.windows) != windows
        ):
            raise CalendarError(f"a {self.kind} calendar has fixed windows; use business_hours_calendar()")
        object.__setattr__(self, "windows", windows)

    # -- introspection -----------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return ZoneInfo(self.tz)

    @property
    def week_windows(self) -> WeekWindows:
        """Normalized windows, index 0 = Monday (never ``None`` after construction)."""
        assert self.windows is not None
        return self.windows

    def is_holiday(self, day: date) -> bool:
        """True when ``day`` is a public holiday of the calendar's country or an extra day off."""
        if self.kind == "calendar_hours":
            return False
        if day in self.extra_days_off:
            return True
        return self.country is not None and day in _public_holidays(self.country, day.year)

    def is_day_off(self, day: date) -> bool:
        """True when the clock does not run at all on local date ``day``."""
        return not self.periods(day)

    def periods(self, day: date) -> tuple[Period, ...]:
        """Running periods of local date ``day`` as sorted, disjoint UTC ``[start, end)`` pairs."""
        return _day_periods(self, day)

    def windows_spec(self) -> str:
        """The windows in the string form accepted by :func:`parse_windows`."""
        return _format_windows(self.week_windows)

    def describe(self) -> str:
        """A short human description, e.g. ``"working days, 24 h (PL holidays, Europe/Warsaw)"``."""
        if self.kind == "calendar_hours":
            return f"calendar hours, 24/7 ({self.tz})"
        what = (
            "working days, 24 h" if self.kind == "working_days" else f"business hours {self.windows_spec()}"
        )
        notes = [f"{self.country} holidays" if self.country else "no public holidays"]
        if self.extra_days_off:
            n = len(self.extra_days_off)
            notes.append(f"{n} extra day{'s' if n != 1 else ''} off")
        notes.append(self.tz)
        return f"{what} ({', '.join(notes)})"

    # -- instants ----------------------------------------------------------------------------------

    def is_running(self, instant: datetime) -> bool:
        """True when the clock runs at ``instant`` (periods are half-open: a period end is not running
        unless the next period starts there)."""
        u = _as_utc(instant, "instant")
        if self.kind == "calendar_hours":
            return True
        local_day = u.astimezone(self.zone).date()
        for offset in (-1, 0, 1):
            for a, b in self.periods(local_day + timedelta(days=offset)):
                if a <= u < b:
                    return True
        return False

    def next_running_instant(self, instant: datetime) -> datetime:
        """``instant`` (in UTC) if the clock runs then, else the start of the next running period."""
        u = _as_utc(instant, "instant")
        if self.kind == "calendar_hours":
            return u
        return next(_iter_periods(self, u))[0]


def working_days_calendar(
    country: str | None = DEFAULT_COUNTRY,
    extra_days_off: Iterable[date] = (),
    tz: str | ZoneInfo = DEFAULT_TZ,
) -> Calendar:
    """Runs all 24 h of working days: not Sat/Sun, not a public holiday, not an extra day off.

    # rules.md §2.3 (the marketplace limit of rules.md §2.2).
    """
    return Calendar(
        kind="working_days", tz=_zone_key(tz), country=country, extra_days_off=frozenset(extra_days_off)
    )


def calendar_hours(tz: str | ZoneInfo = DEFAULT_TZ) -> Calendar:
    """Runs always, every day 24 h (real seconds, so DST days are 23/25 h). # rules.md §2.3"""
    return Calendar(kind="calendar_hours", tz=_zone_key(tz), country=None)


def business_hours_calendar(
    windows: Mapping[int, Iterable[WindowInput]] | str,
    country: str | None = DEFAULT_COUNTRY,
    extra_days_off: Iterable[date] = (),
    tz: str | ZoneInfo = DEFAULT_TZ,
) -> Calendar:
    """Runs inside local-time ``windows`` per weekday (0 = Monday … 6 = Sunday); closed all day on
    public holidays and extra days off. # rules.md §2.2 (team target), §2.3

    ``windows`` is a mapping such as ``{0: [(time(8), time(18))], …}`` (end ``None``, ``time(0)`` or
    ``time.max`` = 24:00) or a string such as ``"mon-fri 08:00-12:00,13:00-17:00; sat 10:00-14:00"``.
    """
    return Calendar(
        kind="business_hours",
        tz=_zone_key(tz),
        country=country,
        extra_days_off=frozenset(extra_days_off),
        windows=_normalize_windows(windows),
    )


# --------------------------------------------------------------------------------------------------
# Deadline arithmetic
# --------------------------------------------------------------------------------------------------


def due_at(start: datetime, duration: timedelta, calendar: Calendar) -> datetime:
    """The earliest instant (UTC) at which ``duration`` of running time has elapsed since ``start``.

    # rules.md §2.3 — see the module docstring for the boundary conventions: zero duration returns
    ``start``; a duration used up exactly at a period end returns that end.
    """
    s = _as_utc(start, "start")
    remaining = _check_duration(duration, "duration")
    _check_calendar(calendar)
    if not remaining:
        return s
    if calendar.kind == "calendar_hours":
        return s + remaining
    for a, b in _iter_periods(calendar, s):
        span = b - a
        if remaining <= span:
            return a + remaining
        remaining -= span
    raise AssertionError("unreachable: _iter_periods never ends without until")  # pragma: no cover


def running_time(start: datetime, end: datetime, calendar: Calendar) -> timedelta:
    """Running time between two instants (0 when ``end <= start``); the exact inverse of :func:`due_at`.

    # rules.md §2.3
    """
    s = _as_utc(start, "start")
    e = _as_utc(end, "end")
    _check_calendar(calendar)
    if e <= s:
        return timedelta(0)
    if calendar.kind == "calendar_hours":
        return e - s
    total = timedelta(0)
    for a, b in _iter_periods(calendar, s, until=e):
        total += min(b, e) - a
    return total


def warning_at(start: datetime, duration: timedelta, warn_before: timedelta, calendar: Calendar) -> datetime:
    """The instant (UTC) when ``warn_before`` of running time is left before the deadline.

    ``due_at(start, duration - warn_before)`` when ``warn_before < duration``, else ``start``.
    # rules.md §2.3 ("due soon" at 4 h and 1 h left)
    """
    s = _as_utc(start, "start")
    d = _check_duration(duration, "duration")
    w = _check_duration(warn_before, "warn_before")
    _check_calendar(calendar)
    if w < d:
        return due_at(s, d - w, calendar)
    return s


# --------------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------------


def _iter_periods(calendar: Calendar, start: datetime, until: datetime | None = None) -> Iterator[Period]:
    """Running periods after ``start`` in order, clipped to begin at ``start`` at the earliest.

    With ``until``, stops before the first period beginning at or after ``until``. Without it, runs
    forever (raises :class:`CalendarError` after ``_MAX_STOPPED_DAYS`` days without running time).
    Iterates per local day and per window; per-day results are cached.
    """
    zone = calendar.zone
    # Start one local day early: cheap, and safe even where a DST change makes local dates repeat.
    day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = until.astimezone(zone).date() + timedelta(days=1) if until is not None else None
    stopped_days = 0
    while last_day is None or day <= last_day:
        found = False
        for a, b in _day_periods(calendar, day):
            if b <= start:
                continue
            if until is not None and a >= until:
                return
            found = True
            yield (max(a, start), b)
        if found:
            stopped_days = 0
        else:
            stopped_days += 1
            if until is None and stopped_days > _MAX_STOPPED_DAYS:
                raise CalendarError(
                    f"{calendar.describe()} has no running time for {_MAX_STOPPED_DAYS} days "
                    f"after {start.isoformat()}"
                )
        day += timedelta(days=1)


@lru_cache(maxsize=65536)
def _day_periods(calendar: Calendar, day: date) -> tuple[Period, ...]:
    """Running periods of one local day in UTC, clamped to the day and merged."""
    windows = calendar.week_windows[day.weekday()]
    if not windows or calendar.is_holiday(day):
        return ()
    zone = calendar.zone
    day_start = _wall_to_utc(day, time(0, 0), zone)
    day_end = _wall_to_utc(day + timedelta(days=1), time(0, 0), zone)
    periods: list[Period] = []
    for w_start, w_end in windows:
        a = max(_wall_to_utc(day, w_start, zone), day_start)
        b = day_end if w_end is None else min(_wall_to_utc(day, w_end, zone), day_end)
        if b <= a:
            continue  # a window wholly inside a spring-forward gap
        if periods and a <= periods[-1][1]:
            periods[-1] = (periods[-1][0], max(b, periods[-1][1]))
        else:
            periods.append((a, b))
    return tuple(periods)


def _wall_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time ``wall`` on ``day`` (module docstring, point 5).

    Ambiguous → first occurrence (fold=0). Non-existent (spring gap) → the instant the gap ends,
    found by bisection between the two readings of the wall time (rare: only for times in a gap).
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None, fold=0))
    first = naive.replace(tzinfo=zone).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # In a gap, fold=0 reads the wall time with the offset before the change, fold=1 with the one after.
    lo, hi = sorted((naive.replace(tzinfo=zone, fold=1).astimezone(UTC), first))
    lo_offset = lo.astimezone(zone).utcoffset()
    if hi.astimezone(zone).utcoffset() == lo_offset:  # pragma: no cover - not a plain gap
        return hi
    step = timedelta(microseconds=1)
    lo_us, hi_us = 0, (hi - lo) // step
    while hi_us - lo_us > 1:
        mid = (lo_us + hi_us) // 2
        if (lo + mid * step).astimezone(zone).utcoffset() == lo_offset:
            lo_us = mid
        else:
            hi_us = mid
    return lo + hi_us * step


@lru_cache(maxsize=1024)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    """Public holidays of ``country`` in ``year`` (cached per country and year). # rules.md §2.3"""
    days = set(holidays.country_holidays(country, years=year).keys())
    if country == "PL" and year >= _PL_CHRISTMAS_EVE_FROM_YEAR:
        days.add(date(year, 12, 24))  # already in holidays >= 0.6x; kept so an older package cannot drop it
    return frozenset(days)


@lru_cache(maxsize=64)
def _check_country(country: str) -> str:
    code = country.strip().upper()
    try:
        holidays.country_holidays(code)
    except NotImplementedError as exc:
        raise CalendarError(f"country {country!r} is not known to the holidays package") from exc
    return code


def _zone_key(tz: str | ZoneInfo) -> str:
    if isinstance(tz, ZoneInfo):
        if tz.key is None:
            raise CalendarError("tz must be a named zone (ZoneInfo loaded from a file has no key)")
        return tz.key
    if not isinstance(tz, str):
        raise CalendarError(f"tz must be a zone name such as 'Europe/Warsaw', got {tz!r}")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"unknown time zone {tz!r}") from exc
    return tz


def _normalize_days_off(days: Iterable[date]) -> frozenset[date]:
    result = set()
    for day in days:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise CalendarError(f"extra_days_off must hold datetime.date values, got {day!r}")
        result.add(day)
    return frozenset(result)


def _as_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be an aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}; "
            "attach a zone (e.g. tzinfo=ZoneInfo('Europe/Warsaw')) or use UTC"
        )
    return value.astimezone(UTC)


def _check_duration(value: timedelta, name: str) -> timedelta:
    if not isinstance(value, timedelta):
        raise TypeError(f"{name} must be a timedelta, got {type(value).__name__}")
    if value < timedelta(0):
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _check_calendar(calendar: Calendar) -> None:
    if not isinstance(calendar, Calendar):
        raise TypeError(f"calendar must be a Calendar, got {type(calendar).__name__}")


# -- windows ---------------------------------------------------------------------------------------


def _parse_time(text: str, *, is_end: bool) -> time | None:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text.strip())
    if not match:
        raise CalendarError(f"bad time {text!r}: expected HH:MM or HH:MM:SS")
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if hours == 24 and minutes == 0 and seconds == 0:
        if not is_end:
            raise CalendarError("24:00 is only allowed as a window end")
        return None
    if hours > 23 or minutes > 59 or seconds > 59:
        raise CalendarError(f"bad time {text!r}")
    return time(hours, minutes, seconds)


def _parse_weekday(text: str) -> int:
    key = text.strip().lower()[:3]
    if key not in _WEEKDAY_NAMES or len(text.strip()) < 3:
        raise CalendarError(f"bad weekday {text!r}: expected one of {', '.join(_WEEKDAY_NAMES)}")
    return _WEEKDAY_NAMES.index(key)


def parse_windows(spec: str) -> dict[int, list[Window]]:
    """Parse ``"mon-fri 08:00-12:00,13:00-17:00; sat 10:00-14:00"`` into ``{weekday: [windows]}``.

    Clauses are separated by ``;``; days by ``,``; a day range may wrap (``fri-mon``); ``24:00`` ends
    a window at the end of the day.
    """
    result: dict[int, list[Window]] = {}
    for raw_clause in spec.split(";"):
        clause = raw_clause.strip()
        if not clause:
            continue
        parts = clause.split(None, 1)
        if len(parts) != 2:
            raise CalendarError(f"bad windows clause {clause!r}: expected e.g. 'mon-fri 08:00-18:00'")
        days_text, times_text = parts
        days: list[int] = []
        for item in days_text.split(","):
            if "-" in item:
                first_text, last_text = item.split("-", 1)
                first, last = _parse_weekday(first_text), _parse_weekday(last_text)
                days.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
            else:
                days.append(_parse_weekday(item))
        for range_text in times_text.split(","):
            bounds = range_text.split("-")
            if len(bounds) != 2:
                raise CalendarError(f"bad time range {range_text.strip()!r}: expected HH:MM-HH:MM")
            w_start = _parse_time(bounds[0], is_end=False)
            assert w_start is not None
            w_end = _parse_time(bounds[1], is_end=True)
            for day in days:
                result.setdefault(day, []).append((w_start, w_end))
    return result


def _normalize_windows(windows: Mapping[int, Iterable[WindowInput]] | WeekWindows | str) -> WeekWindows:
    """Validate windows and return seven sorted tuples of merged ``(start, end | None)`` windows."""
    if isinstance(windows, str):
        windows = parse_windows(windows)
    if isinstance(windows, tuple):
        if len(windows) != 7:
            raise CalendarError("windows as a tuple must hold seven weekdays (Monday first)")
        windows = dict(enumerate(windows))
    if not isinstance(windows, Mapping):
        raise CalendarError(f"windows must be a mapping weekday -> [(start, end)] or a str, got {windows!r}")
    per_day: list[list[Window]] = [[] for _ in range(7)]
    for weekday, day_windows in windows.items():
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise CalendarError(f"window weekday must be an int 0 (Monday) … 6 (Sunday), got {weekday!r}")
        for window in day_windows:
            try:
                raw_start, raw_end = window
            except (TypeError, ValueError) as exc:
                raise CalendarError(f"a window is a (start, end) pair, got {window!r}") from exc
            w_start = _window_time(raw_start, is_end=False)
            w_end = _window_time(raw_end, is_end=True)
            assert w_start is not None
            if w_end is not None and w_end <= w_start:
                raise CalendarError(
                    f"window {w_start}-{w_end} on {_WEEKDAY_NAMES[weekday]} must end after it starts "
                    "(split a window crossing midnight over two weekdays; use None for 24:00)"
                )
            per_day[weekday].append((w_start, w_end))
    return tuple(_merge_windows(day_windows) for day_windows in per_day)


def _window_time(value: time | str | None, *, is_end: bool) -> time | None:
    if isinstance(value, str):
        return _parse_time(value, is_end=is_end)
    if value is None:
        if not is_end:
            raise CalendarError("a window start cannot be None")
        return None
    if not isinstance(value, time):
        raise CalendarError(f"window bounds must be datetime.time values, got {value!r}")
    if value.tzinfo is not None:
        raise CalendarError(f"window bounds are local wall times: give naive times, got {value!r}")
    value = value.replace(fold=0)
    if is_end and value in (time(0, 0), time.max):
        return None  # 24:00, the end of the day
    return value


def _merge_windows(windows: list[Window]) -> tuple[Window, ...]:
    merged: list[Window] = []
    for w_start, w_end in sorted(windows, key=lambda w: (w[0], w[1] is None, w[1] or time.min)):
        if merged:
            last_start, last_end = merged[-1]
            if last_end is None or w_start <= last_end:
                end = None if last_end is None or w_end is None else max(last_end, w_end)
                merged[-1] = (last_start, end)
                continue
        merged.append((w_start, w_end))
    return tuple(merged)


def _format_time(value: time | None) -> str:
    if value is None:
        return "24:00"
    text = value.strftime("%H:%M")
    if value.second or value.microsecond:
        text = value.strftime("%H:%M:%S")
    return text


def _format_windows(windows: WeekWindows) -> str:
    clauses: list[str] = []
    day = 0
    while day < 7:
        if not windows[day]:
            day += 1
            continue
        last = day
        while last + 1 < 7 and windows[last + 1] == windows[day]:
            last += 1
        days = _WEEKDAY_NAMES[day] if last == day else f"{_WEEKDAY_NAMES[day]}-{_WEEKDAY_NAMES[last]}"
        ranges = ",".join(f"{_format_time(s)}-{_format_time(e)}" for s, e in windows[day])
        clauses.append(f"{days} {ranges}")
        day = last + 1
    return "; ".join(clauses)
