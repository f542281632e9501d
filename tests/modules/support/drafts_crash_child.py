"""A worker process for ``test_drafts_crash.py``: it runs the real ``support.ai_draft``
workflow for one customer message.

``start`` launches durable workflows and starts the run; its gateway call announces
itself by creating ``--marker`` and then hangs (the model is "thinking"), so the test
can kill this process with SIGKILL in the middle of the ``write`` step. ``resume`` is
the restarted process with the same executor id: DBOS recovers the pending run at
launch, the process asks for the same workflow id again (as a redelivered event would),
waits for the outcome and writes it, with the checkpointed steps, to ``--report``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from bizos.ai import gateway
from bizos.core.config import Settings
from bizos.core.db import init_database
from bizos.core.workflows import Workflows, get_workflow_steps, start_workflow
from bizos.modules.support.drafts.workflows import ai_draft

RESULT_TIMEOUT_SECONDS = 90


def hang_in_the_gateway(marker: Path) -> None:
    async def thinking(*args: Any, **kwargs: Any) -> Any:
        await asyncio.to_thread(marker.write_text, "writing")
        await asyncio.Event().wait()

    gateway.generate = thinking  # type: ignore[assignment]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["start", "resume"])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--executor-id", required=True)
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--ticket-id", required=True)
    parser.add_argument("--message-id", required=True)
    parser.add_argument("--workflow-id", required=True)
    parser.add_argument("--marker", default="")
    parser.add_argument("--report", default="")
    args = parser.parse_args()

    if args.mode == "start":
        hang_in_the_gateway(Path(args.marker))
    settings = Settings(
        database_url=args.database_url, executor_id=args.executor_id, workflows_enabled=True
    )
    database = init_database(settings.resolved_database_url(), app_role=settings.db_app_role)
    runtime = Workflows(settings)
    await runtime.start()
    try:
        run = await start_workflow(
            ai_draft, args.tenant_id, args.ticket_id, args.message_id, 1,
            workflow_id=args.workflow_id,
        )  # fmt: skip
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
