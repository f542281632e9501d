"""Operations endpoints: liveness, readiness and Prometheus metrics.

``/healthz`` answers while the process serves HTTP; ``/readyz`` only when it can do its
job — the database answers and, if this process runs the background workers, they are
alive — so a load balancer stops sending traffic to a node that cannot serve it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from bizos.core.db import get_database
from bizos.core.observability import metrics

log = structlog.get_logger("bizos.ops")
router = APIRouter(tags=["operations"])

READINESS_TIMEOUT_SECONDS = 2.0


@runtime_checkable
class WorkerHealth(Protocol):
    """What a runtime reports about its background workers: name → alive."""

    def worker_health(self) -> Mapping[str, bool]: ...


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health, summary="Liveness: the process serves HTTP")
async def healthz() -> Health:
    return Health(status="ok")


async def _database_check() -> str:
    try:
        db = get_database()
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            async with db.read_engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        log.warning("readiness.database_failed", error=type(exc).__name__)
        return "unavailable"
    return "ok"


def _workers_check(request: Request) -> str:
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None or not getattr(runtime, "workers", False):
        return "disabled"
    if not isinstance(runtime, WorkerHealth):
        return "ok"
    dead = sorted(name for name, alive in runtime.worker_health().items() if not alive)
    if dead:
        log.warning("readiness.workers_down", workers=dead)
        return "down: " + ", ".join(dead)
    return "ok"


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: the database answers and background workers are alive",
    responses={503: {"description": "Not ready (application/problem+json with `checks`)"}},
)
async def readyz(request: Request) -> Any:
    checks = {"database": await _database_check(), "workers": _workers_check(request)}
    failing = [name for name, value in checks.items() if value not in ("ok", "disabled")]
    if failing:
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Service unavailable",
                "status": 503,
                "detail": "not ready: " + ", ".join(failing),
                "instance": request.url.path,
                "checks": checks,
            },
            status_code=503,
            media_type="application/problem+json",
            headers={"Retry-After": "5"},
        )
    return Readiness(status="ok", checks=checks)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def prometheus_metrics() -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
