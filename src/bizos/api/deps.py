"""Request dependencies: the unit of work and the service context.

The unit of work is a ``scope="function"`` dependency so it commits *before* the response
is sent: a client never sees 2xx for work that failed to commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.auth import Principal, authenticate
from bizos.core.context import Context, use_context
from bizos.core.db import get_database
from bizos.core.errors import Forbidden


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def base_context(request: Request) -> Context:
    """Context for unauthenticated routes (signup, login, public webhooks)."""
    request_id = getattr(request.state, "request_id", None)
    # The gateway middleware vetted X-Correlation-ID (length, characters) into the state.
    correlation: str | None = getattr(request.state, "correlation_id", None) or request_id
    kwargs = {"correlation_id": correlation} if correlation else {}
    return Context(
        request_id=request_id,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        **kwargs,  # type: ignore[arg-type]
    )


async def principal_context(
    request: Request, principal: Annotated[Principal, Depends(authenticate)]
) -> Context:
    return replace(
        base_context(request),
        tenant_id=principal.tenant_id,
        actor_id=principal.actor_id,
        actor_type=principal.actor_type,
        scopes=principal.scopes,
        session_id=principal.session_id,
    )


async def tenant_session(
    request: Request, ctx: Annotated[Context, Depends(principal_context)]
) -> AsyncIterator[AsyncSession]:
    readonly = request.method in ("GET", "HEAD", "OPTIONS")
    async with get_database().unit_of_work(
        tenant_id=ctx.require_tenant(), readonly=readonly
    ) as session:
        session.info["ctx"] = ctx
        with use_context(ctx):
            yield session


async def system_session(
    request: Request, ctx: Annotated[Context, Depends(base_context)]
) -> AsyncIterator[AsyncSession]:
    async with get_database().unit_of_work(system=True) as session:
        session.info["ctx"] = ctx
        yield session


Ctx = Annotated[Context, Depends(principal_context)]
PublicCtx = Annotated[Context, Depends(base_context)]
DbSession = Annotated[AsyncSession, Depends(tenant_session, scope="function")]
SystemSession = Annotated[AsyncSession, Depends(system_session, scope="function")]


def require_any(*scopes: str) -> object:
    """A dependency that lets in a caller holding at least one of ``scopes`` (403 else)."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if not any(principal.has(s) for s in scopes):
            raise Forbidden(f"needs one of the scopes: {', '.join(scopes)}")
        return principal

    return Depends(dependency)
