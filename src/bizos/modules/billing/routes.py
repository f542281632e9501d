"""The billing list endpoints' one handler: ``GET <path>`` answers a ``Page[read]`` of
what ``lister`` finds for the sort/cursor of ``order`` and the query filters of a
filters model (``billing:read``)."""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import BillingRead
from bizos.core.context import Context
from bizos.core.pagination import ListOrder, Page, PageParams


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
    name: str,
    doc: str,
) -> None:
    """Add the list endpoint (operation ``name``, description ``doc``) to ``router``."""
    page_of: Any = Page[read]  # type: ignore[valid-type]

    async def listing(_: BillingRead, session: DbSession, ctx: Ctx, page: Any, filters: Any) -> Any:
        items, cursor = await lister(session, ctx, page=page, filters=filters)
        return page_of(items=items, next_cursor=cursor)

    listing.__annotations__["page"] = Annotated[PageParams, Depends(order.dependency)]
    listing.__annotations__["filters"] = Annotated[filters_model, Query()]
    listing.__doc__ = doc
    router.add_api_route(path, listing, methods=["GET"], name=name, response_model=page_of)
