"""A worker process for ``test_order_to_cash_crash.py``: it runs the real
``commerce.order_to_cash`` saga for one order.

``start`` launches durable workflows and starts the saga (the test kills this process
with SIGKILL while the saga waits on the shipping provider); ``resume`` is the restarted
process with the same executor id: DBOS recovers the pending run at launch, the process
asks for the same workflow id again (as a redelivered event would), waits for the
outcome and writes it, with the checkpointed steps, to ``--report`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from bizos.core.config import Settings
from bizos.core.db import init_database
from bizos.core.workflows import Workflows, get_workflow_steps, start_workflow
from bizos.modules.commerce.fulfilment.workflows import order_to_cash

RESULT_TIMEOUT_SECONDS = 90


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["start", "resume"])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--executor-id", required=True)
    parser.add_argument("--workflow-id", required=True)
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--order-id", required=True)
    parser.add_argument("--report", default="")
    args = parser.parse_args()

    settings = Settings(
        database_url=args.database_url, executor_id=args.executor_id, workflows_enabled=True
    )
    database = init_database(settings.resolved_database_url(), app_role=settings.db_app_role)
    runtime = Workflows(settings)
    await runtime.start()
    try:
        run = await start_workflow(
            order_to_cash, args.tenant_id, args.order_id, workflow_id=args.workflow_id
        )
        result = await run.result(timeout_seconds=RESULT_TIMEOUT_SECONDS)
        if args.report:
            steps = await get_workflow_steps(run.workflow_id)
            report = {
                "result": result,
                "status": (await run.status()).status,
                "steps": [s.name for s in steps],
            }
            await asyncio.to_thread(Path(args.report).write_text, json.dumps(report))
    finally:
        await runtime.stop()
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
