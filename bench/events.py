"""Event ingest through ``POST /api/v1/track`` and handling through the dispatcher.

    .venv/bin/python bench/events.py [--seconds 10] [--concurrency 4] [--events 20000]
                                     [--database-url URL]

Ingest: runs ``bizos serve --no-workers`` in a subprocess and posts batches of 1,000
activity events over loopback. Dispatch: appends ``--events`` events to a fresh database
and times one ``Dispatcher`` (one worker) handling them with a handler that writes a row
per event (its effect) next to the idempotency record, and with a no-op handler.
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

import httpx
import sqlalchemy as sa

from _server import running_server, signup

BATCH = 1000


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
    print(f"ingest   POST /api/v1/track  {accepted / elapsed:>10,.0f} events/s  "
          f"({accepted:,} in {elapsed:.1f}s, {concurrency} clients, {errors} errors)")


async def dispatch(database_url: str, count: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from bizos.core.config import get_settings
    from bizos.core.context import Context
    from bizos.core.db import Database
    from bizos.core.dispatcher import Dispatcher, EventRecord
    from bizos.core.events import NewEvent, append_event, append_events
    from bizos.migrate import migrate_sync

    await asyncio.to_thread(migrate_sync, database_url)
    settings = get_settings()
    db = Database(database_url, app_role=settings.db_app_role)
    tenants = [str(uuid.uuid4()) for _ in range(4)]
    for tenant in tenants:
        for start in range(0, count // len(tenants), BATCH):
            size = min(BATCH, count // len(tenants) - start)
            async with db.unit_of_work(tenant_id=tenant) as s:
                await append_events(
                    s, Context(tenant_id=tenant),
                    [NewEvent("crm.lead.created", "lead", f"l{start + i}") for i in range(size)],
                )

    async def nothing(session: object, ctx: Context, event: EventRecord) -> None:
        return None

    async def record_effect(session: object, ctx: Context, event: EventRecord) -> None:
        await append_event(session, ctx, "bench.effect", aggregate_type="bench",  # type: ignore[arg-type]
                           aggregate_id=event.id)

    for name, handler, label in [
        ("bench.noop", nothing, "no-op handler (dispatcher overhead)"),
        ("bench.effects", record_effect, "handler appending an event"),
    ]:
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
        print(f"dispatch one worker, {label:<36} {handled / elapsed:>8,.0f} events/s  "
              f"({handled:,} in {elapsed:.1f}s)")
    async with db.unit_of_work(system=True, readonly=True) as s:
        effects = await s.scalar(sa.text("SELECT count(*) FROM events WHERE type = 'bench.effect'"))
    print(f"effects written: {effects:,} for {count:,} events (exactly once each)")
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
    if args.database_url:
        # A fresh schema for the dispatcher run would need a new database; reuse this one.
        url = args.database_url
    else:
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bizos-bench-')}/dispatch.db"
    asyncio.run(dispatch(url, args.events))


if __name__ == "__main__":
    main()
