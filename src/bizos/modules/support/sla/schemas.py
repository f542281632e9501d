"""SLA policies at the edge: targets per priority and business hours.

Targets are in business minutes of the policy's hours (or plain minutes around the
clock when ``business_hours`` is null). A priority left out of ``targets`` on create
gets the built-in default for it; on update, only the priorities sent change.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

from bizos.core.fields import Day, omit_null
from bizos.modules.support.sla.hours import MIDNIGHT_END, parse_clock, zone

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITY_ORDER: tuple[str, ...] = ("low", "normal", "high", "urgent")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MAX_MINUTES = 366 * 24 * 60  # a target longer than a year is a typo

# Business minutes (09:00-17:00 weekdays: 480 a day).
DEFAULT_TARGETS: dict[str, dict[str, int]] = {
    "urgent": {"first_response_minutes": 60, "resolution_minutes": 480},
    "high": {"first_response_minutes": 240, "resolution_minutes": 1440},
    "normal": {"first_response_minutes": 480, "resolution_minutes": 2400},
    "low": {"first_response_minutes": 1440, "resolution_minutes": 4800},
}
DEFAULT_BUSINESS_HOURS: dict[str, Any] = {
    "timezone": "UTC",
    "days": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [],
}


def _start(value: str) -> str:
    parse_clock(value)
    return value


def _end(value: str) -> str:
    parse_clock(value, allow_midnight_end=True)
    return value


def _known_zone(value: str) -> str:
    zone(value)
    return value


def _ordered(windows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    previous_end = "00:00"
    for start, end in windows:
        if start < previous_end:
            raise ValueError("windows must be in order and must not overlap")
        previous_end = end
    return windows


def _window(value: tuple[str, str]) -> tuple[str, str]:
    start, end = value
    if end != MIDNIGHT_END and end <= start:
        raise ValueError("a window must end after it starts")
    return value


Clock = Annotated[str, StringConstraints(min_length=5, max_length=5), AfterValidator(_start)]
ClosingClock = Annotated[str, StringConstraints(min_length=5, max_length=5), AfterValidator(_end)]
Window = Annotated[tuple[Clock, ClosingClock], AfterValidator(_window)]
Windows = Annotated[list[Window], Field(max_length=12), AfterValidator(_ordered)]
TimeZone = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_zone)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class BusinessHoursIn(BaseModel):
    """Opening windows per weekday (``[["09:00", "12:30"], ["13:30", "17:00"]]``, end
    ``24:00`` = midnight), in ``timezone`` (IANA), minus ``holidays``."""

    model_config = ConfigDict(extra="forbid")
    timezone: TimeZone
    days: dict[Weekday, Windows]
    holidays: list[Day] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _some_window(self) -> BusinessHoursIn:
        if not any(self.days.values()):
            raise ValueError("business hours need at least one opening window")
        return self

    def to_config(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "days": {day: [list(w) for w in windows] for day, windows in self.days.items()},
            "holidays": sorted({d.isoformat() for d in self.holidays}),
        }


class SlaTarget(BaseModel):
    """Minutes to the first reply and to resolution (business minutes under hours)."""

    model_config = ConfigDict(extra="forbid")
    first_response_minutes: StrictInt = Field(ge=1, le=MAX_MINUTES)
    resolution_minutes: StrictInt = Field(ge=1, le=MAX_MINUTES)

    @model_validator(mode="after")
    def _resolution_after_response(self) -> SlaTarget:
        if self.resolution_minutes < self.first_response_minutes:
            raise ValueError("resolution_minutes must not be less than first_response_minutes")
        return self


class SlaTargets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    urgent: SlaTarget | None = None
    high: SlaTarget | None = None
    normal: SlaTarget | None = None
    low: SlaTarget | None = None

    def given(self) -> dict[str, dict[str, int]]:
        return {
            p: target.model_dump()
            for p in PRIORITY_ORDER
            if (target := getattr(self, p)) is not None
        }


class SlaPolicyCreate(BaseModel):
    """A policy. ``business_hours`` left out: weekdays 09:00-17:00 UTC; ``null``:
    around the clock. ``is_default`` makes it the tenant's default (the previous default
    stops being one); a tenant's first policy is its default anyway."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    targets: SlaTargets = Field(default_factory=SlaTargets)
    business_hours: BusinessHoursIn | None = Field(
        default_factory=lambda: BusinessHoursIn.model_validate(DEFAULT_BUSINESS_HOURS)
    )
    is_default: bool = False
    active: bool = True


class SlaPolicyUpdate(BaseModel):
    """Fields to change. ``business_hours: null`` switches to around the clock. The
    default policy cannot be un-defaulted or deactivated: make another one the default."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = Field(default=None, json_schema_extra=omit_null)
    targets: SlaTargets | None = Field(default=None, json_schema_extra=omit_null)
    business_hours: BusinessHoursIn | None = None
    is_default: bool | None = Field(default=None, json_schema_extra=omit_null)
    active: bool | None = Field(default=None, json_schema_extra=omit_null)


class SlaTargetRead(BaseModel):
    first_response_minutes: int
    resolution_minutes: int


class BusinessHoursRead(BaseModel):
    timezone: str
    days: dict[str, list[list[str]]]
    holidays: list[str]


class SlaPolicyRead(BaseModel):
    id: str
    name: str
    is_default: bool
    active: bool
    targets: dict[str, SlaTargetRead]
    business_hours: BusinessHoursRead | None = Field(
        description="null: the targets run around the clock."
    )
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class FirstResponseRead(BaseModel):
    """When a ticket was opened and first answered by an agent (None: not yet)."""

    ticket_id: str
    number: str
    priority: str
    opened_at: dt.datetime
    responded_at: dt.datetime | None
