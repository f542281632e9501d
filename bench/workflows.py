"""Durable workflow throughput: trivial workflows (one step each) started and completed.

    .venv/bin/python bench/workflows.py [--count 1000] [--concurrency 1 16] [--database-url URL]

Runs the seam (``bizos.core.workflows``) in this process. Without ``--database-url`` it
uses a fresh SQLite data dir; with a PostgreSQL URL, DBOS keeps its tables in schema
``dbos`` of that database. Workflows are for multi-step flows, not per-event work
(DESIGN rule 4): this figure is why.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

import structlog

from bizos.core.config import Settings
from bizos.core.workflows import Workflows, start_workflow, step, workflow


@step()
async def add_one(value: int) -> int:
    return value + 1


@workflow("bench.trivial")
async def trivial(value: int) -> int:
    return await add_one(value)


async def measure(count: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(value: int) -> None:
        async with gate:
            run = await start_workflow(trivial, value)
            assert await run.result(timeout_seconds=120) == value + 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.perf_counter() - started)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    data = Path(tempfile.mkdtemp(prefix="bizos-bench-wf-"))
    settings = Settings(data_dir=data, database_url=args.database_url, executor_id="bench")
    runtime = Workflows(settings)
    await runtime.start()
    try:
        await measure(20, 4)  # warm up
        label = "postgresql" if args.database_url else "sqlite"
        for concurrency in args.concurrency:
            rate = await measure(args.count, concurrency)
            print(
                f"bizos bench/workflows.py  database={label}  concurrency={concurrency:<3}"
                f"  {rate:7.0f} workflows/s (start + one step + complete)"
            )
    finally:
        await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main())
