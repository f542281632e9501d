"""Business-hours arithmetic: windows, holidays, time zones and daylight-saving days."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bizos.modules.support.sla.hours import (
    BusinessHours,
    add_business_minutes,
    business_minutes_between,
    business_time_between,
    is_open,
)

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = ("mon", "tue", "wed", "thu", "fri")


def office(
    tz: str = "Europe/Berlin",
    windows: list[list[str]] | None = None,
    days: tuple[str, ...] = WEEK,
    holidays: tuple[str, ...] = (),
) -> BusinessHours:
    return BusinessHours.from_config(
        {
            "timezone": tz,
            "days": {d: windows or [["09:00", "12:30"], ["13:30", "17:00"]] for d in days},
            "holidays": list(holidays),
        }
    )


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def test_minutes_run_across_the_lunch_break_and_over_the_weekend() -> None:
    hours = office()
    friday_afternoon = berlin(2026, 6, 5, 16, 0)  # a Friday
    due = add_business_minutes(friday_afternoon, 90, hours)
    # 60 minutes on Friday, the rest from Monday 09:00
    assert due.astimezone(BERLIN) == berlin(2026, 6, 8, 9, 30)
    assert add_business_minutes(berlin(2026, 6, 8, 12, 0), 60, hours) == berlin(
        2026, 6, 8, 14, 0
    ).astimezone(dt.UTC)


def test_a_holiday_is_skipped() -> None:
    hours = office(holidays=("2026-12-25",))
    due = add_business_minutes(berlin(2026, 12, 24, 16, 0), 120, hours)
    assert due.astimezone(BERLIN) == berlin(2026, 12, 28, 10, 0)


def test_a_start_outside_hours_counts_from_the_next_opening() -> None:
    hours = office()
    assert add_business_minutes(berlin(2026, 6, 6, 3, 0), 30, hours).astimezone(BERLIN) == berlin(
        2026, 6, 8, 9, 30
    )  # Saturday night → Monday 09:30
    assert add_business_minutes(berlin(2026, 6, 8, 12, 45), 15, hours).astimezone(BERLIN) == berlin(
        2026, 6, 8, 13, 45
    )  # lunch → after lunch


def test_running_out_exactly_at_closing_lands_at_closing() -> None:
    hours = office()
    assert add_business_minutes(berlin(2026, 6, 8, 16, 0), 60, hours).astimezone(BERLIN) == berlin(
        2026, 6, 8, 17, 0
    )


def test_the_same_office_hours_in_another_zone_mean_other_instants() -> None:
    utc_start = dt.datetime(2026, 6, 8, 7, 0, tzinfo=dt.UTC)  # 09:00 Berlin, 03:00 New York
    berlin_due = add_business_minutes(utc_start, 60, office())
    ny_due = add_business_minutes(utc_start, 60, office(tz="America/New_York"))
    assert berlin_due == dt.datetime(2026, 6, 8, 8, 0, tzinfo=dt.UTC)
    assert ny_due == dt.datetime(2026, 6, 8, 14, 0, tzinfo=dt.UTC)  # 09:00 EDT + 1 h


def test_spring_forward_night_has_one_real_hour_in_a_2_30_to_4_window() -> None:
    # 29 March 2026: Berlin clocks jump from 02:00 to 03:00.
    hours = office(windows=[["02:30", "04:00"]], days=("sun",))
    start = berlin(2026, 3, 29, 0, 0)
    assert business_minutes_between(start, berlin(2026, 3, 29, 6, 0), hours) == 60
    due = add_business_minutes(start, 30, hours)
    assert due == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)  # 03:30 CEST


def test_fall_back_night_counts_the_repeated_hour_twice() -> None:
    # 25 October 2026: Berlin clocks go back from 03:00 to 02:00.
    hours = office(windows=[["00:00", "06:00"]], days=("sun",))
    start = berlin(2026, 10, 24, 12, 0)
    assert business_minutes_between(start, berlin(2026, 10, 26, 0, 0), hours) == 7 * 60


def test_an_eight_hour_day_is_eight_hours_on_a_dst_day() -> None:
    hours = office(windows=[["09:00", "17:00"]], days=("sun", "mon"))
    for day in (berlin(2026, 3, 29, 0, 0), berlin(2026, 10, 25, 0, 0)):
        assert business_minutes_between(day, day + dt.timedelta(hours=20), hours) == 480


def test_windows_to_midnight_join_the_next_mornings() -> None:
    hours = BusinessHours.from_config(
        {
            "timezone": "UTC",
            "days": {"mon": [["22:00", "24:00"]], "tue": [["00:00", "02:00"]]},
        }
    )
    monday = dt.datetime(2026, 6, 8, 23, 0, tzinfo=dt.UTC)
    assert add_business_minutes(monday, 120, hours) == dt.datetime(2026, 6, 9, 1, 0, tzinfo=dt.UTC)
    assert hours.to_config()["days"] == {"mon": [["22:00", "24:00"]], "tue": [["00:00", "02:00"]]}


def test_around_the_clock_is_plain_time() -> None:
    start = dt.datetime(2026, 6, 6, 23, 0, tzinfo=dt.UTC)
    assert add_business_minutes(start, 90, None) == start + dt.timedelta(minutes=90)
    assert business_minutes_between(start, start + dt.timedelta(hours=2), None) == 120


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_business_minutes(dt.datetime(2026, 1, 1), 10, office())
    with pytest.raises(ValueError, match="negative"):
        add_business_minutes(berlin(2026, 1, 1, 9, 0), -1, office())
    with pytest.raises(ValueError, match="time zone"):
        office(tz="Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="overlap"):
        office(windows=[["09:00", "13:00"], ["12:00", "17:00"]])
    with pytest.raises(ValueError, match="end after"):
        office(windows=[["17:00", "09:00"]])
    with pytest.raises(ValueError, match="HH:MM"):
        office(windows=[["9am", "17:00"]])
    with pytest.raises(ValueError, match="at least one"):
        BusinessHours.from_config({"timezone": "UTC", "days": {}})


def test_a_schedule_that_is_never_open_again_says_so() -> None:
    hours = BusinessHours.from_config(
        {
            "timezone": "UTC",
            "days": {"mon": [["09:00", "10:00"]]},
            "holidays": [
                (dt.date(2026, 6, 8) + dt.timedelta(weeks=w)).isoformat() for w in range(160)
            ],
        }
    )
    with pytest.raises(ValueError, match="never open"):
        add_business_minutes(dt.datetime(2026, 6, 8, tzinfo=dt.UTC), 1, hours)


# --- properties --------------------------------------------------------------------

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC")
clock = st.integers(min_value=0, max_value=23 * 4).map(lambda q: dt.time(q // 4, (q % 4) * 15))


@st.composite
def schedules(draw: st.DrawFn) -> BusinessHours:
    days: dict[str, list[list[str]]] = {}
    for name in draw(st.sets(st.sampled_from((*WEEK, "sat", "sun")), min_size=1)):
        bounds = sorted(draw(st.sets(clock, min_size=2, max_size=6)))
        pairs = [bounds[i : i + 2] for i in range(0, len(bounds) - 1, 2)]
        days[name] = [[f"{a:%H:%M}", f"{b:%H:%M}"] for a, b in pairs]
    holidays = draw(st.lists(st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)), max_size=5))
    return BusinessHours.from_config(
        {
            "timezone": draw(st.sampled_from(ZONES)),
            "days": days,
            "holidays": [d.isoformat() for d in holidays],
        }
    )


instants = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 6, 30)).map(
    lambda d: d.replace(tzinfo=dt.UTC)
)
amounts = st.integers(min_value=0, max_value=6000)


@settings(max_examples=150, deadline=None)
@given(schedules(), instants, amounts, amounts)
def test_adding_is_additive(hours: BusinessHours, start: dt.datetime, a: int, b: int) -> None:
    assert add_business_minutes(add_business_minutes(start, a, hours), b, hours) == (
        add_business_minutes(start, a + b, hours)
    )


@settings(max_examples=150, deadline=None)
@given(schedules(), instants, amounts, amounts)
def test_adding_more_never_lands_earlier(
    hours: BusinessHours, start: dt.datetime, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    assert add_business_minutes(start, low, hours) <= add_business_minutes(start, high, hours)
    assert add_business_minutes(start, low, hours) >= start


@settings(max_examples=150, deadline=None)
@given(schedules(), instants, st.integers(min_value=1, max_value=6000))
def test_a_due_time_is_never_outside_hours(
    hours: BusinessHours, start: dt.datetime, minutes: int
) -> None:
    due = add_business_minutes(start, minutes, hours)
    # Inside a window, or exactly at a window's end (the last minute was open).
    assert is_open(due, hours) or is_open(due - dt.timedelta(seconds=1), hours)


@settings(max_examples=150, deadline=None)
@given(schedules(), instants, amounts)
def test_between_measures_what_adding_added(
    hours: BusinessHours, start: dt.datetime, minutes: int
) -> None:
    due = add_business_minutes(start, minutes, hours)
    assert business_time_between(start, due, hours) == dt.timedelta(minutes=minutes)
    assert business_minutes_between(due, start, hours) == -minutes


@settings(max_examples=100, deadline=None)
@given(schedules(), instants, instants, instants)
def test_between_adds_up_over_a_split(
    hours: BusinessHours, a: dt.datetime, b: dt.datetime, c: dt.datetime
) -> None:
    first, middle, last = sorted((a, b, c))
    assert business_time_between(first, middle, hours) + business_time_between(
        middle, last, hours
    ) == business_time_between(first, last, hours)


def test_a_sparse_schedule_still_reaches_a_long_target() -> None:
    # Found by hypothesis: 15 open minutes a week take years to add up to 2,356 minutes;
    # the search gives up only after three years in a row without an open minute.
    hours = BusinessHours.from_config(
        {"timezone": "Europe/Berlin", "days": {"mon": [["00:00", "00:15"]]}}
    )
    due = add_business_minutes(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 2356, hours)
    assert business_time_between(
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC), due, hours
    ) == dt.timedelta(minutes=2356)
