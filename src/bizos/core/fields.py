"""Value types for what callers send: the range and the strictness the server enforces,
stated in the OpenAPI document as well.

Days and moments
    Python's dates end at 9999-12-31 and begin at 0001-01-01, so a day near either end
    overflowed the moment a report added a day to it (``to`` + 1 for a half-open range),
    went back 90 days (receivables aging) or reached the next month (a budget period): a
    500 where the caller deserved a 422. :data:`Day` and :data:`Moment` hold values to the
    years :data:`FIRST_YEAR`..:data:`LAST_YEAR`, far enough from both ends that no
    arithmetic in bizos can leave Python's range, and state the range as a ``pattern``.

    They also take only ISO 8601 text (or a date object): Pydantic's lax mode read the
    number ``0``, or the text ``"0"``, as 1970-01-01, which nobody means.

Event positions
    :data:`Position` is a non-negative integer that fits a signed 64-bit column: a larger
    one cannot be compared with the stored positions at all (SQLite refuses the parameter).

Strict numbers and booleans in JSON bodies are Pydantic's own ``StrictInt``, ``StrictFloat``
and ``StrictBool`` (JSON ``false`` is not the integer 0, nor ``1`` true).

Fields an update may leave out but not clear
    ``X | None = Field(default=None, json_schema_extra=omit_null)`` keeps the plain error
    locations of ``X | None`` while the document stops offering ``null`` (which the
    model's validator refuses).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field

FIRST_YEAR = 1900
LAST_YEAR = 2999
FIRST_DAY = dt.date(FIRST_YEAR, 1, 1)
LAST_DAY = dt.date(LAST_YEAR, 12, 31)
# The years FIRST_YEAR..LAST_YEAR at the start of an ISO 8601 day or moment.
YEAR_PATTERN = r"^(19|2[0-9])[0-9]{2}-"
RANGE_TEXT = f"years {FIRST_YEAR} to {LAST_YEAR}"
# The largest value a signed 64-bit integer column holds.
INT64_MAX = 2**63 - 1

_ISO_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_ISO_MOMENT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _iso_day(value: Any) -> Any:
    """Day text must be ``YYYY-MM-DD``: no numbers, no timestamps (a date object passes)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DAY.match(value):
        return value
    raise ValueError("a day as YYYY-MM-DD")


def _iso_moment(value: Any) -> Any:
    """Moment text must be ISO 8601 (``YYYY-MM-DDTHH:MM...``): no Unix numbers."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_MOMENT.match(value):
        return value
    raise ValueError("a date and time as ISO 8601, such as 2025-01-31T09:00:00Z")


def _day_in_range(value: dt.date) -> dt.date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"a day in the {RANGE_TEXT}")
    return value


def _moment_in_range(value: dt.datetime) -> dt.datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"a moment in the {RANGE_TEXT}")
    return value


Day = Annotated[
    dt.date,
    BeforeValidator(_iso_day),
    AfterValidator(_day_in_range),
    Field(json_schema_extra={"pattern": YEAR_PATTERN}),
]
"""A calendar day, ``YYYY-MM-DD``, in the years 1900 to 2999."""

Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_moment),
    AfterValidator(_moment_in_range),
    Field(json_schema_extra={"pattern": YEAR_PATTERN}),
]
"""A point in time with its UTC offset (ISO 8601), in the years 1900 to 2999."""

Position = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""An event position: a non-negative signed 64-bit integer."""


def refuse_null(value: object) -> object:
    """An update's validator for the fields it may leave out but not clear (it only runs
    for fields the caller sent): ``_not_null = field_validator("title")(refuse_null)``."""
    if value is None:
        raise ValueError("may not be null")
    return value


def omit_null(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` for an optional field that may be left out but not cleared:
    drop the ``null`` alternative from its JSON schema."""
    if "default" in schema and schema["default"] is None:
        del schema["default"]  # leaving the field out is the default
    branches = schema.get("anyOf")
    if not isinstance(branches, list):
        return
    rest = [b for b in branches if b != {"type": "null"}]
    if len(rest) == 1 and isinstance(rest[0], dict):
        del schema["anyOf"]
        schema.update(rest[0])
    else:
        schema["anyOf"] = rest


MONTH_PATTERN = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"


def month_start(text: str) -> dt.date | None:
    """The first day of a ``YYYY-MM`` month in the supported years; ``None`` otherwise."""
    if not re.match(MONTH_PATTERN, text):
        return None
    return dt.date(int(text[:4]), int(text[5:7]), 1)


ReadT = TypeVar("ReadT", bound=BaseModel)


def from_row(schema: type[ReadT], row: object, **values: Any) -> ReadT:
    """``schema`` filled from ``row``'s attributes of the same names, except the
    ``values`` given (computed or renamed fields): a table row's Read schema."""
    for name in schema.model_fields:
        if name not in values:
            values[name] = getattr(row, name)
    return schema(**values)
