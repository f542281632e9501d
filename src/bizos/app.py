"""The FastAPI application factory: the HTTP kit (``bizos.api``) around every
manifest's routers (:mod:`bizos.registry`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.routing import Route

from bizos.api.docs import install_docs
from bizos.api.errors import install_error_handlers
from bizos.api.guards import reject_nul_characters
from bizos.api.middleware import close_gateway, install_gateway
from bizos.api.openapi import install_openapi
from bizos.api.ops import router as ops_router
from bizos.api.query_params import reject_unknown_query_parameters
from bizos.core.auth import set_authenticator
from bizos.core.config import Settings, get_settings
from bizos.core.db import Database, get_database, init_database, set_database
from bizos.core.observability import configure_logging, configure_tracing, instrument_database
from bizos.modules.copilot.mcp import McpHttp
from bizos.modules.identity.service import DatabaseAuthenticator
from bizos.registry import include_routers, install_ports, tools
from bizos.runtime import Runtime


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    workers: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    install_ports()
    configure_logging(settings)
    configure_tracing(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owns_db = database is None
        db = database or init_database(
            settings.resolved_database_url(), app_role=settings.db_app_role
        )
        set_database(db)
        instrument_database(db)
        set_authenticator(DatabaseAuthenticator())
        runtime = Runtime(settings, db, workers=workers)
        app.state.runtime = runtime
        await runtime.start()
        try:
            async with app.state.mcp.running():
                yield
        finally:
            await runtime.stop()
            await close_gateway(app)
            if owns_db:
                await db.dispose()

    app = FastAPI(
        title="bizos",
        version="0.1.0",
        description="An AI-native operating system for small businesses.",
        lifespan=lifespan,
        # /docs and /redoc are served from installed assets (api/docs.py), not a CDN.
        docs_url=None,
        redoc_url=None,
        # Text with NUL would fail in PostgreSQL as a 500: every route answers 422 instead.
        # A query parameter the route does not declare is a 422, not silently dropped.
        dependencies=[Depends(reject_nul_characters), Depends(reject_unknown_query_parameters)],
    )
    app.state.settings = settings
    # What the copilot (and MCP clients) may call: every manifest's tools.
    app.state.tools = tools()
    # The same tools for outside agents: MCP over streamable HTTP, a bearer API key on
    # every request (modules/copilot/mcp.py), behind the same gateway middleware.
    app.state.mcp = McpHttp(app.state.tools)
    install_error_handlers(app)
    install_gateway(app, settings)
    app.include_router(ops_router)
    install_docs(app)
    include_routers(app)
    app.router.routes.append(Route("/mcp", app.state.mcp, name="mcp"))
    install_openapi(app)
    return app


__all__ = ["api_only_app", "create_app", "get_database"]


def api_only_app() -> FastAPI:
    """Factory for ``bizos serve --no-workers --processes N`` (one app per process)."""
    return create_app(get_settings(), workers=False)
