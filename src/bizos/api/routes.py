"""Router assembly: every module's router, in one place."""

from __future__ import annotations

from fastapi import FastAPI

from bizos.modules.identity.api import router as identity_router


def include_routers(app: FastAPI) -> None:
    app.include_router(identity_router)
