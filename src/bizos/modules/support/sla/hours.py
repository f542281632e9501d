"""Business-hours arithmetic: "four business hours after Friday 16:00 in Berlin".

A schedule is a time zone, opening windows per weekday (several a day, e.g. 09:00-12:30
and 13:30-17:00; ``24:00`` closes at midnight) and closed dates (holidays). Windows are
wall-clock times in the schedule's zone, turned into UTC instants day by day, so
daylight-saving changes are honoured:

* a window bound inside a skipped hour (spring forward) moves to the moment the clocks
  jump, so a window 02:30-04:00 on that night is open from 03:00 (one real hour);
* a bound inside a repeated hour (fall back) opens at its first occurrence and closes
  at its second, so the window covers every minute the wall clock shows inside it.

``add_business_minutes`` counts open minutes forward and lands at the end of a window
rather than the start of the next one when the count runs out exactly there, which
makes adding additive: ``add(add(t, a), b) == add(t, a + b)``. ``None`` hours mean
around the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIDNIGHT_END = "24:00"
# How far ahead to look for an open minute before calling a schedule closed for good.
_SEARCH_DAYS = 3 * 366

Window = tuple[dt.time, dt.time | None]  # end None = 24:00 (midnight)


def parse_clock(value: str, *, allow_midnight_end: bool = False) -> dt.time | None:
    """``"HH:MM"`` as a time; ``"24:00"`` (allowed only as an end) is ``None``.
    Raises ``ValueError`` for anything else."""
    if allow_midnight_end and value == MIDNIGHT_END:
        return None
    if len(value) != 5 or value[2] != ":" or not (value[:2] + value[3:]).isdigit():
        raise ValueError(f"{value!r} is not a time as HH:MM")
    hour, minute = int(value[:2]), int(value[3:])
    if hour > 23 or minute > 59:
        raise ValueError(f"{value!r} is not a time of day")
    return dt.time(hour, minute)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` if it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Opening windows per weekday (0 = Monday) in ``timezone``, minus ``holidays``."""

    timezone: str
    days: Mapping[int, tuple[Window, ...]]
    holidays: frozenset[dt.date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        zone(self.timezone)
        for weekday, windows in self.days.items():
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday {weekday} is not 0-6")
            previous_end: dt.time | None = dt.time(0)
            for start, end in windows:
                if previous_end is None or start < previous_end:
                    raise ValueError(f"{WEEKDAYS[weekday]}: windows overlap or are out of order")
                if end is not None and end <= start:
                    raise ValueError(f"{WEEKDAYS[weekday]}: a window must end after it starts")
                previous_end = end
        if not any(self.days.values()):
            raise ValueError("business hours need at least one opening window")

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BusinessHours:
        """From the stored form ``{"timezone": "Europe/Berlin", "days": {"mon":
        [["09:00", "17:00"]], ...}, "holidays": ["2026-12-25"]}``."""
        days: dict[int, tuple[Window, ...]] = {}
        for name, windows in (config.get("days") or {}).items():
            if name not in WEEKDAYS:
                raise ValueError(f"unknown weekday {name!r}")
            parsed: list[Window] = []
            for start, end in windows:
                opens = parse_clock(start)
                assert opens is not None
                parsed.append((opens, parse_clock(end, allow_midnight_end=True)))
            days[WEEKDAYS.index(name)] = tuple(parsed)
        holidays = frozenset(dt.date.fromisoformat(d) for d in config.get("holidays") or ())
        return cls(timezone=str(config.get("timezone") or "UTC"), days=days, holidays=holidays)

    def to_config(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "days": {
                WEEKDAYS[day]: [
                    [f"{s:%H:%M}", f"{e:%H:%M}" if e is not None else MIDNIGHT_END]
                    for s, e in windows
                ]
                for day, windows in sorted(self.days.items())
                if windows
            },
            "holidays": sorted(d.isoformat() for d in self.holidays),
        }

    def open_intervals(self, since: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Open intervals ``[start, end)`` in UTC, in order, ending after ``since``
        (merged where they touch, e.g. 22:00-24:00 then 00:00-06:00)."""
        tz = self.tz
        day = since.astimezone(tz).date() - dt.timedelta(days=1)
        pending: tuple[dt.datetime, dt.datetime] | None = None
        idle = 0  # days in a row without an open minute: give up after _SEARCH_DAYS
        while idle < _SEARCH_DAYS:
            idle += 1
            for start, end in self._day_intervals(day, tz):
                idle = 0
                if pending is not None and start <= pending[1]:
                    pending = (pending[0], max(pending[1], end))
                    continue
                if pending is not None and pending[1] > since:
                    yield pending
                pending = (start, end)
            day += dt.timedelta(days=1)
        if pending is not None and pending[1] > since:
            yield pending

    def _day_intervals(
        self, day: dt.date, tz: ZoneInfo
    ) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        if day in self.holidays:
            return
        for start, end in self.days.get(day.weekday(), ()):
            opens = _to_utc(dt.datetime.combine(day, start), tz, earliest=True)
            if end is None:
                closes = _to_utc(
                    dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0)), tz, earliest=False
                )
            else:
                closes = _to_utc(dt.datetime.combine(day, end), tz, earliest=False)
            if closes > opens:  # a window wholly inside a skipped hour is no window
                yield opens, closes


def _to_utc(local: dt.datetime, tz: ZoneInfo, *, earliest: bool) -> dt.datetime:
    """The UTC instant of the naive wall time ``local`` in ``tz``: in a repeated hour the
    first (``earliest``) or second occurrence; in a skipped hour the moment of the jump."""
    first = local.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
    second = local.replace(tzinfo=tz, fold=1).astimezone(dt.UTC)
    if first == second:
        return first
    if first < second:  # repeated hour: both exist
        return first if earliest else second
    # Skipped hour: fold=1 reads it with the later offset (an earlier instant, before the
    # jump), fold=0 with the earlier offset (after the jump). The jump lies between.
    low, high = int(second.timestamp()), int(first.timestamp())
    after_offset = first.astimezone(tz).utcoffset()
    while high - low > 1:  # whole seconds: zones jump on a second
        middle = (low + high) // 2
        if dt.datetime.fromtimestamp(middle, tz).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return dt.datetime.fromtimestamp(high, dt.UTC)


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(dt.UTC)


def add_business_minutes(
    start: dt.datetime, minutes: int, hours: BusinessHours | None
) -> dt.datetime:
    """The instant ``minutes`` open minutes after ``start`` (UTC). Zero minutes is
    ``start`` itself; otherwise the answer is always inside (or at the end of) a window."""
    begin = _aware(start, "start")
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    if hours is None or minutes == 0:
        return begin + dt.timedelta(minutes=minutes)
    remaining = dt.timedelta(minutes=minutes)
    for opens, closes in hours.open_intervals(begin):
        available = closes - max(opens, begin)
        if remaining <= available:
            return max(opens, begin) + remaining
        remaining -= available
    raise ValueError("the business hours are never open in three years in a row")


def business_time_between(
    a: dt.datetime, b: dt.datetime, hours: BusinessHours | None
) -> dt.timedelta:
    """Open time from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
    start, end = _aware(a, "a"), _aware(b, "b")
    if end < start:
        return -business_time_between(b, a, hours)
    if hours is None:
        return end - start
    total = dt.timedelta(0)
    for opens, closes in hours.open_intervals(start):
        if opens >= end:
            break
        total += min(closes, end) - max(opens, start)
    return total


def business_minutes_between(a: dt.datetime, b: dt.datetime, hours: BusinessHours | None) -> int:
    """Whole open minutes from ``a`` to ``b`` (rounded toward zero)."""
    seconds = business_time_between(a, b, hours).total_seconds()
    return int(seconds / 60)


def is_open(at: dt.datetime, hours: BusinessHours | None) -> bool:
    """Whether ``at`` falls inside an open window (start included, end excluded)."""
    moment = _aware(at, "at")
    if hours is None:
        return True
    for opens, closes in hours.open_intervals(moment):
        return opens <= moment < closes
    return False
