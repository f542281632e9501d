"""A worker process for the crash tests in ``test_workflows_crash.py``.

``start`` launches durable workflows, starts one and waits for it (the test kills this
process with SIGKILL part-way through); ``resume`` is the restarted process with the same
executor id: it launches, asks for the same workflow id again (as a redelivered event
would) and writes the outcome and the checkpointed steps to ``--report`` as JSON.

Every step appends a line ``<label> <pid> <unix time>`` to ``--markers`` so the test can
count how often each step really ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import get_database, init_database
from bizos.core.events import append_event
from bizos.core.workflows import (
    Workflows,
    durable_sleep,
    get_workflow_steps,
    start_workflow,
    step,
    workflow,
)

GATE_TIMEOUT_SECONDS = 60


def mark(markers: str, label: str) -> None:
    with open(markers, "a") as fh:
        fh.write(f"{label} {os.getpid()} {time.time()}\n")
        fh.flush()
        os.fsync(fh.fileno())


@step()
async def take_order(markers: str, tenant_id: str, order_id: str) -> None:
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        await append_event(
            session,
            Context(tenant_id=tenant_id),
            "commerce.order.taken",
            aggregate_type="order",
            aggregate_id=order_id,
        )
    mark(markers, "step1")


@step()
async def wait_for_warehouse(markers: str, gate: str) -> None:
    """Blocks until the test opens the gate: the process is killed while it waits."""
    mark(markers, "step2.started")
    deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
    while not await asyncio.to_thread(os.path.exists, gate):
        if time.monotonic() > deadline:
            raise TimeoutError("the test never opened the gate")
        await asyncio.sleep(0.02)
    mark(markers, "step2.done")


@step()
async def ship(markers: str, label: str) -> None:
    mark(markers, label)


@workflow("tests.crash.between_steps")
async def fulfil_order(markers: str, gate: str, tenant_id: str, order_id: str) -> str:
    await take_order(markers, tenant_id, order_id)
    await wait_for_warehouse(markers, gate)
    await ship(markers, "step3")
    return "fulfilled"


@workflow("tests.crash.during_sleep")
async def remind_later(markers: str, seconds: float) -> str:
    await ship(markers, "step1")
    await durable_sleep(seconds)
    await ship(markers, "step2")
    return "reminded"


async def announce_recorded_sleep(workflow_id: str, markers: str) -> None:
    """Tell the test once the sleep's wake-up time is checkpointed, so it can kill us."""
    while True:
        steps = await get_workflow_steps(workflow_id)
        if any(s.name == "durable_sleep" for s in steps):
            mark(markers, "sleep.recorded")
            return
        await asyncio.sleep(0.02)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["start", "resume"])
    parser.add_argument("scenario", choices=["between_steps", "during_sleep"])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--executor-id", required=True)
    parser.add_argument("--workflow-id", required=True)
    parser.add_argument("--markers", required=True)
    parser.add_argument("--gate", default="")
    parser.add_argument("--tenant-id", default="")
    parser.add_argument("--sleep-seconds", type=float, default=0.0)
    parser.add_argument("--report", default="")
    args = parser.parse_args()

    settings = Settings(
        database_url=args.database_url, executor_id=args.executor_id, workflows_enabled=True
    )
    database = init_database(settings.resolved_database_url(), app_role=settings.db_app_role)
    runtime = Workflows(settings)
    await runtime.start()
    try:
        if args.scenario == "between_steps":
            run = await start_workflow(
                fulfil_order,
                args.markers,
                args.gate,
                args.tenant_id,
                "order-1",
                workflow_id=args.workflow_id,
            )
        else:
            run = await start_workflow(
                remind_later, args.markers, args.sleep_seconds, workflow_id=args.workflow_id
            )
            if args.mode == "start":
                await announce_recorded_sleep(run.workflow_id, args.markers)
        result = await run.result(timeout_seconds=GATE_TIMEOUT_SECONDS)
        if args.report:
            steps = await get_workflow_steps(run.workflow_id)
            report = {
                "result": result,
                "status": (await run.status()).status,
                "steps": [
                    {
                        "name": s.name,
                        "started_at": s.started_at.timestamp() if s.started_at else None,
                        "completed_at": s.completed_at.timestamp() if s.completed_at else None,
                    }
                    for s in steps
                ],
            }
            await asyncio.to_thread(Path(args.report).write_text, json.dumps(report))
    finally:
        await runtime.stop()
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
