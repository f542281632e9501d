"""What the CRM's API modules share at the edge: list filters read from the query string."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Query

F = TypeVar("F")

# A list's filters model, its fields read from the query string.
Filters = Annotated[F, Query()]
