"""Event ingest through ``POST /api/v1/track`` and handling through the dispatcher.

    .venv/bin/python bench/events.py [--seconds 10] [--concurrency 4] [--events 20000]
                                     [--database-url URL]

Ingest: runs ``bizos serve --no-workers`` in a subprocess and posts batches of 1,000
activity events over loopback. Dispatch: appends ``--events`` events and times one
``Dispatcher`` (one worker) handling them three times over, with handlers doing nothing,
writing one row, and appending a follow-up event (two statements: the tenant's sequence
counter and the insert). Every handled event also gets its idempotency record.
Budgets (DESIGN.md): >= 10,000 events/s ingest; >= 1,000 handled events/s per worker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from _server import running_server, signup

BATCH = 1000
SRC = Path(__file__).resolve().parents[1] / "src"


async def ingest(base: str, headers: dict[str, str], seconds: float, concurrency: int) -> None:
    body = {
        "events": [
            {"type": "page_viewed", "email": f"visitor{i}@example.com", "properties": {"i": i}}
            for i in range(BATCH)
        ]
    }
    accepted = errors = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:

        async def worker() -> None:
            nonlocal accepted, errors
            while time.perf_counter() < deadline:
                r = await client.post("/api/v1/track", json=body)
                if r.status_code == 202:
                    accepted += r.json()["accepted"]
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    print(
        f"ingest   POST /api/v1/track  {accepted / elapsed:>10,.0f} events/s  "
        f"({accepted:,} in {elapsed:.1f}s, {concurrency} clients, {errors} errors)"
    )


async def dispatch(database_url: str, count: int) -> None:
    sys.path.insert(0, str(SRC))
    from bizos.core.config import get_settings
    from bizos.core.context import Context
    from bizos.core.db import Database
    from bizos.core.dispatcher import Dispatcher, EventRecord
    from bizos.core.events import NewEvent, append_event, append_events
    from bizos.migrate import migrate_sync

    await asyncio.to_thread(migrate_sync, database_url)
    settings = get_settings()
    db = Database(database_url, app_role=settings.db_app_role)
    effects = sa.table("bench_effects", sa.column("event_id"), sa.column("tenant_id"))
    names = ["bench.noop", "bench.one_row", "bench.emit_event"]
    async with db.unit_of_work(system=True) as s:
        await s.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS bench_effects (event_id VARCHAR(36) PRIMARY KEY, "
                "tenant_id VARCHAR(36) NOT NULL)"
            )
        )
        # Start the bench subscriptions at the end of whatever the log already holds.
        head = (
            await s.execute(
                sa.text(
                    "SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1"
                )
            )
        ).first() or (0, 0)
        for name in names:
            await s.execute(
                sa.text(
                    "INSERT INTO dispatcher_checkpoints (subscriber, last_tx_id, last_position,"
                    " updated_at) VALUES (:n, :t, :p, CURRENT_TIMESTAMP)"
                ),
                {"n": name, "t": head[0], "p": head[1]},
            )
    tenants = [str(uuid.uuid4()) for _ in range(4)]
    for tenant in tenants:
        for start in range(0, count // len(tenants), BATCH):
            size = min(BATCH, count // len(tenants) - start)
            async with db.unit_of_work(tenant_id=tenant) as s:
                await append_events(
                    s,
                    Context(tenant_id=tenant),
                    [NewEvent("crm.lead.created", "lead", f"l{start + i}") for i in range(size)],
                )

    async def nothing(session: object, ctx: Context, event: EventRecord) -> None:
        return None

    async def write_row(session: Any, ctx: Context, event: EventRecord) -> None:
        await session.execute(sa.insert(effects).values(event_id=event.id, tenant_id=ctx.tenant_id))

    async def emit_event(session: Any, ctx: Context, event: EventRecord) -> None:
        await append_event(
            session, ctx, "bench.effect", aggregate_type="bench", aggregate_id=event.id
        )

    handlers = [nothing, write_row, emit_event]
    labels = ["no-op (dispatcher overhead)", "writing one row", "appending a follow-up event"]
    for name, handler, label in zip(names, handlers, labels, strict=True):
        dispatcher = Dispatcher(db, settings)
        dispatcher.subscribe(name, "crm.*", handler)
        handled = 0
        started = time.perf_counter()
        while handled < count:
            n = await dispatcher.run_once()
            if n == 0 and await dispatcher.lag(name) == 0:
                break
            handled += n
        elapsed = time.perf_counter() - started
        print(
            f"dispatch one worker, handler {label:<28} {handled / elapsed:>8,.0f} events/s  "
            f"({handled:,} in {elapsed:.1f}s)"
        )
    async with db.unit_of_work(system=True, readonly=True) as s:
        rows = await s.scalar(sa.text("SELECT count(*) FROM bench_effects"))
        emitted = await s.scalar(sa.text("SELECT count(*) FROM events WHERE type = 'bench.effect'"))
    print(f"effects: {rows:,} rows and {emitted:,} events for {count:,} events (once each)")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--database-url", default=os.environ.get("BIZOS_DATABASE_URL"))
    args = parser.parse_args()
    label = "PostgreSQL" if (args.database_url or "").startswith("postgresql") else "SQLite"
    print(f"bizos event benchmarks on {label}")
    with running_server(args.database_url, workers=False) as base:
        auth = signup(base)
        headers = {"Authorization": auth["Authorization"]}
        asyncio.run(ingest(base, headers, args.seconds, args.concurrency))
    # The dispatch run starts its subscriptions at the end of the log, so events left by
    # the ingest run (or anything else in the database) are not counted.
    url = args.database_url or (
        f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bizos-bench-')}/dispatch.db"
    )
    asyncio.run(dispatch(url, args.events))


if __name__ == "__main__":
    main()
