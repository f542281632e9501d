"""Two small reads every service repeats: one row or a 404, and a Read schema filled
from a row's attributes of the same names."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.errors import NotFound

R = TypeVar("R")
S = TypeVar("S", bound=BaseModel)


async def one_or_404(session: AsyncSession, query: Select[R], what: str) -> R:
    """The row ``query`` finds; 404 ``<what> not found`` when there is none (an unknown
    id and another tenant's get the same answer)."""
    row = await session.scalar(query)
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def read_of(schema: type[S], row: object, **given: Any) -> S:
    """``schema`` filled from ``row``'s attributes of the same names, then from ``given``
    (the fields whose value is not the row's attribute as it is)."""
    names = [n for n in schema.model_fields if n not in given and hasattr(row, n)]
    return schema(**{n: getattr(row, n) for n in names}, **given)
