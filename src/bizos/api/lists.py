"""List endpoints made from a table: ``GET <path>`` answers a ``Page[read]`` of what a
lister finds for the page (sort and cursor of a :class:`ListOrder`) and the query
filters of one filters model, behind one scope.

A module whose list endpoints differ only in these parts adds them with
:func:`list_route` instead of writing the same handler per list; a list with more to it
keeps its own handler and takes its filters as one model through :data:`Filters`.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.api.deps import Ctx, DbSession
from bizos.core.context import Context
from bizos.core.pagination import ListOrder, Page, PageParams

F = TypeVar("F")

Filters = Annotated[F, Query()]
"""A list's filters model, its fields read from the query string."""


class Lister(Protocol):
    async def __call__(
        self, session: AsyncSession, ctx: Context, *, page: PageParams, filters: Any
    ) -> tuple[list[Any], str | None]: ...


def list_route(
    router: APIRouter,
    path: str,
    read: type[BaseModel],
    order: ListOrder,
    filters_model: type[BaseModel],
    lister: Lister,
    *,
    scope: Any,
    name: str,
    doc: str,
) -> None:
    """Add the list endpoint (operation ``name``, description ``doc``) to ``router``;
    ``scope`` is the principal dependency that guards it (``BillingRead``, say)."""
    page_of: Any = Page[read]  # type: ignore[valid-type]

    async def listing(_: Any, session: DbSession, ctx: Ctx, page: Any, filters: Any) -> Any:
        items, cursor = await lister(session, ctx, page=page, filters=filters)
        return page_of(items=items, next_cursor=cursor)

    listing.__annotations__["_"] = scope
    listing.__annotations__["page"] = Annotated[PageParams, Depends(order.dependency)]
    listing.__annotations__["filters"] = Annotated[filters_model, Query()]
    listing.__doc__ = doc
    router.add_api_route(path, listing, methods=["GET"], name=name, response_model=page_of)
