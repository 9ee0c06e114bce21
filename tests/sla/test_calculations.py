"""Tests of the pure SLA deadline arithmetic (sla/calculations.py). # rules.md §2.3

No database. The property tests compare against small independent oracles written here (day by day,
straight from zoneinfo and a hand-made table of Polish holidays), besides the algebraic laws
(additivity, inverse, monotonicity) that must hold for every calendar.
"""

from __future__ import annotations

import dataclasses
import time as time_module
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sla.calculations import (
    Calendar,
    CalendarError,
    NaiveDatetimeError,
    business_hours_calendar,
    calendar_hours,
    due_at,
    parse_windows,
    running_time,
    warning_at,
    working_days_calendar,
)

WAW = ZoneInfo("Europe/Warsaw")
H = timedelta(hours=1)
US = timedelta(microseconds=1)

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,  # keep the checkout clean: no .hypothesis/ directory
    suppress_health_check=[HealthCheck.too_slow],
)


def waw(*args: int) -> datetime:
    return datetime(*args, tzinfo=WAW)


def utc(instant: datetime) -> datetime:
    """Tests do arithmetic and == in UTC: ``aware + timedelta`` is wall-clock arithmetic within one zone,
    and PEP 495 makes an ambiguous local time unequal to every instant of another zone."""
    return instant.astimezone(UTC)


# --------------------------------------------------------------------------------------------------
# Independent expectations
# --------------------------------------------------------------------------------------------------

# Western Easter Sundays, from published tables (not from the holidays package).
EASTER = {
    2023: date(2023, 4, 9),
    2024: date(2024, 3, 31),
    2025: date(2025, 4, 20),
    2026: date(2026, 4, 5),
    2027: date(2027, 3, 28),
    2028: date(2028, 4, 16),
    2029: date(2029, 4, 1),
    2030: date(2030, 4, 21),
    2031: date(2031, 4, 13),
}


def expected_pl_holidays(year: int) -> dict[date, str]:
    """rules.md §2.3: the Polish public holidays, 24 December only from 2025 on."""
    easter = EASTER[year]
    days = {
        date(year, 1, 1): "new-year",
        date(year, 1, 6): "epiphany",
        easter: "easter-sunday",
        easter + timedelta(days=1): "easter-monday",
        date(year, 5, 1): "may-1",
        date(year, 5, 3): "may-3",
        easter + timedelta(days=49): "pentecost",
        easter + timedelta(days=60): "corpus-christi",
        date(year, 8, 15): "assumption",
        date(year, 11, 1): "all-saints",
        date(year, 11, 11): "independence",
        date(year, 12, 25): "christmas",
        date(year, 12, 26): "christmas-2",
    }
    if year >= 2025:
        days[date(year, 12, 24)] = "christmas-eve"
    return days


PL_HOLIDAYS = frozenset(day for year in EASTER for day in expected_pl_holidays(year))


def is_pl_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in PL_HOLIDAYS


def previous_working_day(day: date) -> date:
    day -= timedelta(days=1)
    while not is_pl_working_day(day):
        day -= timedelta(days=1)
    return day


def next_working_day(day: date) -> date:
    day += timedelta(days=1)
    while not is_pl_working_day(day):
        day += timedelta(days=1)
    return day


OracleWindows = dict[int, list[tuple[time, time | None]]]
WORKING_WINDOWS: OracleWindows = {wd: [(time(0), None)] for wd in range(5)}
SPLIT_WINDOWS: OracleWindows = {wd: [(time(8), time(12)), (time(13), time(17))] for wd in range(5)}
SPLIT_WINDOWS[5] = [(time(10), time(14))]


def _wall(day: date, at: time) -> datetime:
    # Europe/Warsaw changes clocks at 02:00/03:00, so these wall times always exist and are unique.
    return datetime.combine(day, at, tzinfo=WAW).astimezone(UTC)


def oracle_periods(day: date, windows: OracleWindows) -> list[tuple[datetime, datetime]]:
    if day in PL_HOLIDAYS:
        return []
    return [
        (_wall(day, start), _wall(day + timedelta(days=1), time(0)) if end is None else _wall(day, end))
        for start, end in windows.get(day.weekday(), [])
    ]


def oracle_running_time(start: datetime, end: datetime, windows: OracleWindows) -> timedelta:
    total = timedelta(0)
    day = start.astimezone(WAW).date()
    while _wall(day, time(0)) < end:
        for a, b in oracle_periods(day, windows):
            total += max(timedelta(0), min(b, end) - max(a, start))
        day += timedelta(days=1)
    return total


def oracle_due_at(start: datetime, duration: timedelta, windows: OracleWindows) -> datetime:
    start = start.astimezone(UTC)
    if not duration:
        return start
    day = start.astimezone(WAW).date()
    while True:
        for a, b in oracle_periods(day, windows):
            a = max(a, start)
            if b <= a:
                continue
            if duration <= b - a:
                return a + duration
            duration -= b - a
        day += timedelta(days=1)


# --------------------------------------------------------------------------------------------------
# Calendars and strategies
# --------------------------------------------------------------------------------------------------

WORKING = working_days_calendar()
HOURS = calendar_hours()
SPLIT = business_hours_calendar(SPLIT_WINDOWS)
# Windows that straddle the DST changes (02:00-03:00 local) and end at 24:00, every day, no holidays.
NIGHT = business_hours_calendar("mon-sun 01:00-02:30,02:45-04:00,22:00-24:00", country=None)

ALL_CALENDARS = [
    pytest.param(WORKING, id="working_days"),
    pytest.param(HOURS, id="calendar_hours"),
    pytest.param(SPLIT, id="business_split"),
    pytest.param(NIGHT, id="business_night"),
]
ORACLE_CALENDARS = [
    pytest.param(WORKING, WORKING_WINDOWS, id="working_days"),
    pytest.param(SPLIT, SPLIT_WINDOWS, id="business_split"),
]

ZONES = st.sampled_from([UTC, WAW])
BOUNDARY_TIMES = st.sampled_from(
    [
        time(0),
        time(0, 0, 0, 1),
        time(1),
        time(2, 30),
        time(3),
        time(8),
        time(11, 59, 59, 999999),
        time(12),
        time(13),
        time(15),
        time(17),
        time(22),
        time(23, 59, 59, 999999),
    ]
)
random_instants = st.datetimes(
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2030, 12, 31, 23, 59, 59),
    timezones=ZONES,
    allow_imaginary=False,
)
boundary_instants = st.builds(
    lambda day, at, zone: datetime.combine(day, at, tzinfo=zone),
    st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)),
    BOUNDARY_TIMES,
    ZONES,
)
instants = st.one_of(random_instants, boundary_instants)


def durations(max_days: int = 30) -> st.SearchStrategy[timedelta]:
    return st.one_of(
        st.integers(0, max_days * 86400).map(lambda s: timedelta(seconds=s)),
        st.integers(0, max_days * 24).map(lambda h: timedelta(hours=h)),
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=max_days)),
    )


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("calendar", ALL_CALENDARS)
@PROPERTY
@given(start=instants, a=durations(15), b=durations(15))
def test_due_at_is_additive(calendar: Calendar, start: datetime, a: timedelta, b: timedelta) -> None:
    assert due_at(due_at(start, a, calendar), b, calendar) == due_at(start, a + b, calendar)


@pytest.mark.parametrize("calendar", ALL_CALENDARS)
@PROPERTY
@given(start=instants, duration=durations())
def test_running_time_inverts_due_at(calendar: Calendar, start: datetime, duration: timedelta) -> None:
    due = due_at(start, duration, calendar)
    assert due.tzinfo is UTC
    assert due >= start
    assert running_time(start, due, calendar) == duration


@pytest.mark.parametrize("calendar", ALL_CALENDARS)
@PROPERTY
@given(start=instants, end=instants)
def test_due_at_of_running_time_is_last_running_instant_before_end(
    calendar: Calendar, start: datetime, end: datetime
) -> None:
    due = due_at(start, running_time(start, end, calendar), calendar)
    assert due <= max(utc(start), utc(end))
    if end > start and calendar.is_running(utc(end) - US):  # the clock ran right up to end
        assert due == utc(end)
    # no running time between the returned instant and end
    assert running_time(due, end, calendar) == timedelta(0)


@pytest.mark.parametrize("calendar", ALL_CALENDARS)
@PROPERTY
@given(start=instants, d1=durations(), d2=durations())
def test_due_at_is_strictly_monotone_in_duration(
    calendar: Calendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    d1, d2 = sorted((d1, d2))
    if d1 == d2:
        assert due_at(start, d1, calendar) == due_at(start, d2, calendar)
    else:
        assert due_at(start, d1, calendar) < due_at(start, d2, calendar)


@pytest.mark.parametrize("calendar", ALL_CALENDARS)
@PROPERTY
@given(t1=instants, t2=instants, duration=durations())
def test_due_at_is_monotone_in_start(
    calendar: Calendar, t1: datetime, t2: datetime, duration: timedelta
) -> None:
    t1, t2 = sorted((t1, t2), key=utc)
    assert due_at(t1, duration, calendar) <= due_at(t2, duration, calendar)


@pytest.mark.parametrize("calendar", ALL_CALENDARS)
@PROPERTY
@given(t1=instants, t2=instants, t3=instants)
def test_running_time_is_additive_over_adjacent_spans(
    calendar: Calendar, t1: datetime, t2: datetime, t3: datetime
) -> None:
    t1, t2, t3 = sorted((t1, t2, t3), key=utc)
    assert running_time(t1, t3, calendar) == running_time(t1, t2, calendar) + running_time(t2, t3, calendar)
    assert running_time(t3, t1, calendar) == timedelta(0)
    assert running_time(t1, t3, calendar) <= utc(t3) - utc(t1)


@pytest.mark.parametrize("calendar", ALL_CALENDARS)
@PROPERTY
@given(start=instants, duration=durations())
def test_due_at_ends_inside_or_at_the_end_of_a_running_period(
    calendar: Calendar, start: datetime, duration: timedelta
) -> None:
    assume(duration > timedelta(0))
    due = due_at(start, duration, calendar)
    assert calendar.is_running(due - US)  # the clock ran right up to the deadline


@pytest.mark.parametrize("calendar", ALL_CALENDARS)
@PROPERTY
@given(instant=instants)
def test_is_running_and_next_running_instant_agree_with_arithmetic(
    calendar: Calendar, instant: datetime
) -> None:
    running = calendar.is_running(instant)
    assert running_time(instant, utc(instant) + US, calendar) == (US if running else timedelta(0))
    following = calendar.next_running_instant(instant)
    assert following == due_at(instant, US, calendar) - US
    assert (following == utc(instant)) is running
    assert calendar.is_running(following)


@pytest.mark.parametrize(("calendar", "windows"), ORACLE_CALENDARS)
@PROPERTY
@given(start=instants, duration=durations())
def test_due_at_matches_day_by_day_oracle(
    calendar: Calendar, windows: OracleWindows, start: datetime, duration: timedelta
) -> None:
    assert due_at(start, duration, calendar) == oracle_due_at(start, duration, windows)


@pytest.mark.parametrize(("calendar", "windows"), ORACLE_CALENDARS)
@PROPERTY
@given(start=instants, span=durations(40))
def test_running_time_matches_day_by_day_oracle(
    calendar: Calendar, windows: OracleWindows, start: datetime, span: timedelta
) -> None:
    end = utc(start) + span
    assert running_time(start, end, calendar) == oracle_running_time(utc(start), end, windows)


@PROPERTY
@given(start=instants, duration=durations())
def test_calendar_hours_are_plain_elapsed_time(start: datetime, duration: timedelta) -> None:
    end = utc(start) + duration
    assert due_at(start, duration, HOURS) == end
    assert running_time(start, end, HOURS) == duration


@PROPERTY
@given(start=instants, duration=durations())
def test_working_days_never_end_on_a_stopped_day_except_at_its_midnight(
    start: datetime, duration: timedelta
) -> None:
    assume(duration > timedelta(0))
    local = due_at(start, duration, WORKING).astimezone(WAW)
    if not is_pl_working_day(local.date()):
        assert local.time() == time(0)
        assert is_pl_working_day(local.date() - timedelta(days=1))


@PROPERTY
@given(start=instants, duration=durations())
def test_business_hours_never_end_outside_a_window_except_at_its_end(
    start: datetime, duration: timedelta
) -> None:
    assume(duration > timedelta(0))
    local = due_at(start, duration, SPLIT).astimezone(WAW)
    wall = local.time()
    assert local.date() not in PL_HOLIDAYS
    assert any(s < wall <= e for s, e in SPLIT_WINDOWS.get(local.weekday(), []) if e is not None)


# --------------------------------------------------------------------------------------------------
# rules.md §2.3 examples
# --------------------------------------------------------------------------------------------------


def test_opened_friday_afternoon_is_due_monday_same_time() -> None:
    assert due_at(waw(2026, 3, 6, 15), 24 * H, WORKING) == waw(2026, 3, 9, 15)


def test_opened_before_christmas_2026_runs_9_hours_then_stops_until_monday() -> None:
    start = waw(2026, 12, 23, 15)
    assert running_time(start, waw(2026, 12, 28), WORKING) == 9 * H
    assert due_at(start, 24 * H, WORKING) == waw(2026, 12, 28, 15)


@pytest.mark.parametrize("hour", [0, 9, 23])
def test_opened_on_saturday_is_due_at_the_end_of_monday(hour: int) -> None:
    due = due_at(waw(2026, 3, 7, hour), 24 * H, WORKING)
    assert due == waw(2026, 3, 10, 0)  # Tuesday 00:00 local, not Wednesday
    assert due.tzinfo is UTC


def test_zero_duration_is_the_start_even_on_a_stopped_day() -> None:
    saturday = waw(2026, 3, 7, 9)
    assert due_at(saturday, timedelta(0), WORKING) == saturday
    assert due_at(saturday, timedelta(0), WORKING).tzinfo is UTC


def test_a_start_on_a_stopped_day_counts_from_the_next_running_instant() -> None:
    saturday = waw(2026, 3, 7, 9)
    assert WORKING.next_running_instant(saturday) == waw(2026, 3, 9, 0)
    assert due_at(saturday, H, WORKING) == waw(2026, 3, 9, 1)
    assert running_time(saturday, waw(2026, 3, 9, 1), WORKING) == H


# --------------------------------------------------------------------------------------------------
# Polish holidays 2024–2030
# --------------------------------------------------------------------------------------------------

HOLIDAY_CASES = [
    pytest.param(day, id=f"{day.isoformat()}-{name}")
    for year in range(2024, 2031)
    for day, name in sorted(expected_pl_holidays(year).items())
]


@pytest.mark.parametrize("holiday", HOLIDAY_CASES)
def test_clock_started_the_working_day_before_a_holiday_skips_it(holiday: date) -> None:
    before = previous_working_day(holiday)
    expected = next_working_day(before)
    assert expected > holiday
    start = datetime.combine(before, time(12), tzinfo=WAW)
    assert due_at(start, 24 * H, WORKING) == datetime.combine(expected, time(12), tzinfo=WAW)
    assert WORKING.is_holiday(holiday)
    assert WORKING.is_day_off(holiday)


@pytest.mark.parametrize("year", range(2024, 2031))
def test_holiday_set_is_exactly_the_polish_public_holidays(year: int) -> None:
    day, found = date(year, 1, 1), set()
    while day.year == year:
        if WORKING.is_holiday(day):
            found.add(day)
        day += timedelta(days=1)
    assert found == set(expected_pl_holidays(year))


def test_christmas_eve_2024_was_a_working_day() -> None:
    assert not WORKING.is_holiday(date(2024, 12, 24))
    assert due_at(waw(2024, 12, 23, 12), 24 * H, WORKING) == waw(2024, 12, 24, 12)
    assert due_at(waw(2024, 12, 24, 12), 24 * H, WORKING) == waw(2024, 12, 27, 12)


def test_christmas_eve_is_a_holiday_from_2025() -> None:
    assert due_at(waw(2025, 12, 23, 12), 24 * H, WORKING) == waw(2025, 12, 29, 12)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        pytest.param(waw(2024, 12, 31, 12), waw(2025, 1, 2, 12), id="2024-tue-to-thu"),
        pytest.param(waw(2025, 12, 31, 12), waw(2026, 1, 2, 12), id="2025-wed-to-fri"),
        pytest.param(waw(2026, 12, 31, 12), waw(2027, 1, 4, 12), id="2026-thu-to-mon"),
        pytest.param(waw(2027, 12, 31, 12), waw(2028, 1, 3, 12), id="2027-fri-to-mon"),
        pytest.param(waw(2028, 12, 29, 12), waw(2029, 1, 2, 12), id="2028-fri-to-tue"),
        pytest.param(waw(2029, 12, 31, 12), waw(2030, 1, 2, 12), id="2029-mon-to-wed"),
        pytest.param(waw(2030, 12, 31, 12), waw(2031, 1, 2, 12), id="2030-tue-to-thu"),
        pytest.param(waw(2026, 12, 31, 0), waw(2027, 1, 1, 0), id="2026-whole-last-day-ends-at-midnight"),
    ],
)
def test_year_end(start: datetime, due: datetime) -> None:
    assert due_at(start, 24 * H, WORKING) == due
    assert running_time(start, due, WORKING) == 24 * H


def test_extra_days_off_stop_the_clock() -> None:
    # 15 Aug 2026 is a Saturday; the organization gives Friday 14 Aug off instead.
    calendar = working_days_calendar(extra_days_off=[date(2026, 8, 14)])
    assert calendar.is_day_off(date(2026, 8, 14))
    assert due_at(waw(2026, 8, 13, 12), 24 * H, calendar) == waw(2026, 8, 17, 12)
    assert due_at(waw(2026, 8, 13, 12), 24 * H, WORKING) == waw(2026, 8, 14, 12)
    assert running_time(waw(2026, 8, 13), waw(2026, 8, 18), calendar) == 48 * H
    assert calendar != WORKING


def test_extra_days_off_close_business_hours_all_day() -> None:
    calendar = business_hours_calendar(SPLIT_WINDOWS, extra_days_off=[date(2026, 3, 7), date(2026, 3, 9)])
    assert due_at(waw(2026, 3, 6, 16), 2 * H, calendar) == waw(2026, 3, 10, 9)  # Sat and Mon off


# --------------------------------------------------------------------------------------------------
# DST (rules.md §2.3: real seconds)
# --------------------------------------------------------------------------------------------------


def test_calendar_hours_across_march_change_end_one_wall_hour_later() -> None:
    start = waw(2026, 3, 28, 12)
    assert due_at(start, 24 * H, HOURS) == waw(2026, 3, 29, 13)
    assert running_time(start, waw(2026, 3, 29, 12), HOURS) == 23 * H


def test_calendar_hours_across_october_change_end_one_wall_hour_earlier() -> None:
    start = waw(2026, 10, 24, 12)
    assert due_at(start, 24 * H, HOURS) == waw(2026, 10, 25, 11)
    assert running_time(start, waw(2026, 10, 25, 12), HOURS) == 25 * H


@pytest.mark.parametrize(
    ("friday", "monday"),
    [
        pytest.param(date(2026, 3, 27), date(2026, 3, 30), id="march"),
        pytest.param(date(2026, 10, 23), date(2026, 10, 26), id="october"),
    ],
)
def test_working_days_across_dst_weekend_keep_wall_time(friday: date, monday: date) -> None:
    start = datetime.combine(friday, time(15), tzinfo=WAW)
    assert due_at(start, 24 * H, WORKING) == datetime.combine(monday, time(15), tzinfo=WAW)
    tuesday = monday + timedelta(days=1)
    assert due_at(start, 48 * H, WORKING) == datetime.combine(tuesday, time(15), tzinfo=WAW)
    friday_midnight = datetime.combine(friday, time(0), tzinfo=WAW)
    monday_midnight = datetime.combine(monday, time(0), tzinfo=WAW)
    assert running_time(friday_midnight, monday_midnight, WORKING) == 24 * H


@pytest.mark.parametrize(
    ("day", "length"),
    [
        pytest.param(date(2026, 3, 29), 23 * H, id="march-23h"),
        pytest.param(date(2026, 10, 25), 25 * H, id="october-25h"),
        pytest.param(date(2026, 6, 7), 24 * H, id="summer-24h"),
    ],
)
def test_a_full_day_lasts_its_real_length(day: date, length: timedelta) -> None:
    every_day = business_hours_calendar("mon-sun 00:00-24:00", country=None)
    start = datetime.combine(day, time(0), tzinfo=WAW)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=WAW)
    assert running_time(start, end, every_day) == length
    assert running_time(start, end, HOURS) == length
    assert due_at(start, length, every_day) == end


def test_window_edge_in_the_spring_gap_moves_to_the_end_of_the_gap() -> None:
    calendar = business_hours_calendar({6: [(time(2, 30), time(4))]}, country=None)
    (period,) = calendar.periods(date(2026, 3, 29))
    assert period == (waw(2026, 3, 29, 3), waw(2026, 3, 29, 4))  # 03:00-04:00 CEST, 1 h
    assert calendar.periods(date(2026, 3, 22))[0][1] - calendar.periods(date(2026, 3, 22))[0][0] == 1.5 * H


def test_window_in_the_autumn_repeat_starts_at_the_first_occurrence() -> None:
    calendar = business_hours_calendar({6: [(time(2), time(3))]}, country=None)
    (period,) = calendar.periods(date(2026, 10, 25))
    assert period == (datetime(2026, 10, 25, 0, tzinfo=UTC), datetime(2026, 10, 25, 2, tzinfo=UTC))
    assert due_at(waw(2026, 10, 25, 0), 2 * H, calendar) == waw(2026, 10, 25, 3)


def test_midnight_in_a_dst_gap_is_the_first_instant_of_the_day() -> None:
    # America/Santiago skipped 2024-09-08 00:00-01:00: that day starts at 01:00 -03.
    santiago = ZoneInfo("America/Santiago")
    calendar = business_hours_calendar("mon-sun 00:00-24:00", country=None, tz="America/Santiago")
    saturday_noon = datetime(2024, 9, 7, 12, tzinfo=santiago)
    assert due_at(saturday_noon, 12 * H, calendar) == datetime(2024, 9, 8, 1, tzinfo=santiago)
    assert running_time(saturday_noon, datetime(2024, 9, 8, 12, tzinfo=santiago), calendar) == 23 * H
    (period,) = calendar.periods(date(2024, 9, 8))
    assert period[1] - period[0] == 23 * H


# --------------------------------------------------------------------------------------------------
# Business hours and split shifts
# --------------------------------------------------------------------------------------------------


def test_split_shift_skips_the_lunch_break() -> None:
    assert due_at(waw(2026, 3, 9, 11), 2 * H, SPLIT) == waw(2026, 3, 9, 14)
    assert running_time(waw(2026, 3, 9, 7), waw(2026, 3, 9, 18), SPLIT) == 8 * H


def test_split_shift_start_in_the_break_waits_for_the_afternoon() -> None:
    assert SPLIT.next_running_instant(waw(2026, 3, 9, 12, 30)) == waw(2026, 3, 9, 13)
    assert due_at(waw(2026, 3, 9, 12, 30), H, SPLIT) == waw(2026, 3, 9, 14)


def test_split_shift_ending_exactly_at_a_window_end_returns_that_end() -> None:
    assert due_at(waw(2026, 3, 9, 8), 4 * H, SPLIT) == waw(2026, 3, 9, 12)  # not 13:00
    # Friday 17:00, not Saturday 10:00
    assert due_at(waw(2026, 3, 6, 13), 4 * H, SPLIT) == waw(2026, 3, 6, 17)


def test_team_target_over_the_weekend() -> None:
    # 2 h target from Friday 16:30: 30 min on Friday, the other 90 min on the next open window.
    weekdays_only = business_hours_calendar("mon-fri 08:00-12:00,13:00-17:00")
    assert due_at(waw(2026, 3, 6, 16, 30), 2 * H, weekdays_only) == waw(2026, 3, 9, 9, 30)
    assert due_at(waw(2026, 3, 6, 16, 30), 2 * H, SPLIT) == waw(2026, 3, 7, 11, 30)


def test_business_hours_are_closed_on_holidays() -> None:
    # Easter Monday 2026-04-06
    assert due_at(waw(2026, 4, 3, 16), 2 * H, SPLIT) == waw(2026, 4, 4, 11)
    assert due_at(waw(2026, 4, 4, 13), 2 * H, SPLIT) == waw(2026, 4, 7, 9)


def test_string_windows_equal_dict_windows() -> None:
    from_text = business_hours_calendar("mon-fri 08:00-12:00,13:00-17:00; sat 10:00-14:00")
    assert from_text == SPLIT
    assert hash(from_text) == hash(SPLIT)
    assert SPLIT.windows_spec() == "mon-fri 08:00-12:00,13:00-17:00; sat 10:00-14:00"
    assert parse_windows("fri-mon 09:00-10:00") == {d: [(time(9), time(10))] for d in (4, 5, 6, 0)}


@pytest.mark.parametrize("end", [None, time(0), time.max, "24:00"])
def test_end_of_day_can_be_written_several_ways(end: time | str | None) -> None:
    calendar = business_hours_calendar({0: [(time(20), end)]}, country=None)
    assert calendar == business_hours_calendar("mon 20:00-24:00", country=None)
    assert due_at(waw(2026, 3, 9, 23), H, calendar) == waw(2026, 3, 10, 0)


def test_overlapping_and_touching_windows_are_merged() -> None:
    calendar = business_hours_calendar({0: [(time(13), time(17)), (time(8), time(12)), (time(11), time(13))]})
    assert calendar.week_windows[0] == ((time(8), time(17)),)


@pytest.mark.parametrize(
    "windows",
    [
        pytest.param({0: [(time(22), time(6))]}, id="crosses-midnight"),
        pytest.param({0: [(time(9), time(9))]}, id="empty"),
        pytest.param({7: [(time(9), time(10))]}, id="bad-weekday"),
        pytest.param({}, id="no-windows"),
        pytest.param({0: [(time(9, tzinfo=UTC), time(10))]}, id="aware-time"),
        pytest.param("mon 9-17", id="bad-time-text"),
        pytest.param("xyz 09:00-17:00", id="bad-day-text"),
        pytest.param("mon-fri", id="no-times"),
        pytest.param("mon 24:00-24:00", id="start-at-24"),
    ],
)
def test_bad_windows_are_refused(windows: object) -> None:
    with pytest.raises(CalendarError):
        business_hours_calendar(windows)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------------


def test_naive_datetimes_are_refused_naming_the_argument() -> None:
    naive = datetime(2026, 3, 9, 12)
    aware = waw(2026, 3, 9, 12)
    with pytest.raises(NaiveDatetimeError, match="start"):
        due_at(naive, H, WORKING)
    with pytest.raises(NaiveDatetimeError, match="end"):
        running_time(aware, naive, WORKING)
    with pytest.raises(NaiveDatetimeError, match="start"):
        running_time(naive, aware, HOURS)
    with pytest.raises(NaiveDatetimeError, match="start"):
        warning_at(naive, 24 * H, 4 * H, WORKING)
    with pytest.raises(NaiveDatetimeError, match="instant"):
        WORKING.is_running(naive)
    with pytest.raises(ValueError, match="naive"):
        WORKING.next_running_instant(naive)


def test_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="duration"):
        due_at(waw(2026, 3, 9), -US, WORKING)
    with pytest.raises(ValueError, match="warn_before"):
        warning_at(waw(2026, 3, 9), H, -H, WORKING)


def test_wrong_types_are_refused() -> None:
    with pytest.raises(TypeError, match="duration"):
        due_at(waw(2026, 3, 9), 3600, WORKING)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="start"):
        due_at(date(2026, 3, 9), H, WORKING)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: working_days_calendar(country="XX"), id="unknown-country"),
        pytest.param(lambda: working_days_calendar(tz="Europe/Nowhere"), id="unknown-zone"),
        pytest.param(lambda: working_days_calendar(extra_days_off=[waw(2026, 1, 2)]), id="datetime-day-off"),
        pytest.param(lambda: Calendar(kind="weekly"), id="unknown-kind"),  # type: ignore[arg-type]
        pytest.param(
            lambda: Calendar(kind="calendar_hours", extra_days_off=frozenset({date(2026, 1, 2)})),
            id="hours-with-days-off",
        ),
    ],
)
def test_bad_calendars_are_refused(build: object) -> None:
    with pytest.raises(CalendarError):
        build()  # type: ignore[operator]


def test_a_calendar_that_never_runs_is_reported() -> None:
    calendar = business_hours_calendar("sun 10:00-11:00", country=None, extra_days_off=[date(2026, 3, 15)])
    start = waw(2026, 3, 9)
    assert due_at(start, H, calendar) == waw(2026, 3, 22, 11)
    all_sundays_off = [date(2026, 3, 15) + timedelta(weeks=n) for n in range(600)]
    blocked = business_hours_calendar("sun 10:00-11:00", country=None, extra_days_off=all_sundays_off)
    assert running_time(start, start + timedelta(days=4000), blocked) == timedelta(0)
    with pytest.raises(CalendarError, match="no running time"):
        due_at(start, H, blocked)


# --------------------------------------------------------------------------------------------------
# Warnings, calendar objects, performance
# --------------------------------------------------------------------------------------------------


def test_warning_at_is_when_the_warning_margin_of_running_time_is_left() -> None:
    start = waw(2026, 3, 6, 15)  # Friday
    assert warning_at(start, 24 * H, 4 * H, WORKING) == waw(2026, 3, 9, 11)
    assert warning_at(start, 24 * H, H, WORKING) == waw(2026, 3, 9, 14)
    assert warning_at(start, 24 * H, 24 * H, WORKING) == start
    assert warning_at(start, 2 * H, 4 * H, WORKING) == start
    assert warning_at(start, 2 * H, 4 * H, WORKING).tzinfo is UTC
    warn, due = warning_at(start, 24 * H, 4 * H, WORKING), due_at(start, 24 * H, WORKING)
    assert running_time(warn, due, WORKING) == 4 * H


def test_calendars_are_frozen_hashable_and_comparable() -> None:
    assert working_days_calendar() == WORKING
    assert hash(working_days_calendar(extra_days_off=[date(2026, 1, 2)])) == hash(
        working_days_calendar(extra_days_off=(date(2026, 1, 2),))
    )
    assert len({WORKING, HOURS, SPLIT, working_days_calendar()}) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        WORKING.tz = "UTC"  # type: ignore[misc]
    assert working_days_calendar(tz=ZoneInfo("Europe/Warsaw")) == WORKING
    assert working_days_calendar(country="pl") == WORKING
    assert Calendar(kind="calendar_hours") == Calendar(kind="calendar_hours", country="PL") == HOURS
    assert Calendar(kind="working_days") == WORKING


def test_kind_and_describe() -> None:
    assert (WORKING.kind, HOURS.kind, SPLIT.kind) == ("working_days", "calendar_hours", "business_hours")
    assert WORKING.describe() == "working days, 24 h (PL holidays, Europe/Warsaw)"
    assert HOURS.describe() == "calendar hours, 24/7 (Europe/Warsaw)"
    assert SPLIT.describe() == (
        "business hours mon-fri 08:00-12:00,13:00-17:00; sat 10:00-14:00 (PL holidays, Europe/Warsaw)"
    )
    off = working_days_calendar(extra_days_off=[date(2026, 8, 14)], country=None, tz="UTC")
    assert off.describe() == "working days, 24 h (no public holidays, 1 extra day off, UTC)"


def test_is_running_at_period_boundaries() -> None:
    assert WORKING.is_running(waw(2026, 3, 9, 0))  # Monday midnight: running
    assert not WORKING.is_running(waw(2026, 3, 7, 0))  # Saturday midnight: stopped
    assert WORKING.is_running(waw(2026, 3, 10, 0))  # Tue 00:00 ends Monday and starts Tuesday
    assert not WORKING.is_running(waw(2026, 3, 14, 0))  # Sat 00:00 ends Friday: stopped
    assert SPLIT.is_running(waw(2026, 3, 9, 8))
    assert not SPLIT.is_running(waw(2026, 3, 9, 12))  # window end: half-open
    assert HOURS.is_running(waw(2026, 3, 7, 3))
    assert HOURS.next_running_instant(waw(2026, 3, 7, 3)) == waw(2026, 3, 7, 3)


def test_long_spans_are_computed_per_day_not_per_hour() -> None:
    start = waw(2024, 1, 1, 9, 15)
    began = time_module.perf_counter()
    ten_years = running_time(start, waw(2034, 1, 1), calendar_hours())
    working = running_time(start, waw(2034, 1, 1), working_days_calendar(extra_days_off=[date(2033, 1, 3)]))
    due = due_at(start, working, working_days_calendar(extra_days_off=[date(2033, 1, 3)]))
    elapsed = time_module.perf_counter() - began
    assert ten_years == utc(waw(2034, 1, 1)) - utc(start)
    assert due == waw(2033, 12, 31)  # Sat 00:00 ends the last working day, Fri 30 Dec 2033
    assert elapsed < 2.0
