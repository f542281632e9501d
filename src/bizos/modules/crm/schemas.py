"""Field types every CRM record shares: names, tags, country codes, custom properties."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
CountryCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")
]
Source = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=36)]
# A list filter naming a record by id (not checked: an unknown id matches nothing).
IdFilter = Annotated[str | None, Field(max_length=36)]


MAX_PROPERTIES = 100
# Custom fields are small facts, not documents (attachments hold those): every list
# page repeats them, so one huge value would bloat every read.
MAX_PROPERTIES_CHARS = 64_000


def unique_tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(tag, None)
    return list(seen)


def check_properties(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(value) > MAX_PROPERTIES:
        raise ValueError(f"at most {MAX_PROPERTIES} properties")
    if value is not None and len(json.dumps(value, default=str)) > MAX_PROPERTIES_CHARS:
        raise ValueError(f"at most {MAX_PROPERTIES_CHARS} characters of JSON")
    return value


# Custom properties on a record, checked (count and size) as every record's are.
Properties = Annotated[dict[str, Any], AfterValidator(check_properties)]
