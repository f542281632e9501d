"""A worker killed with SIGKILL while the model writes a draft, then restarted with the
same executor id: the draft workflow resumes at the interrupted step. The finished
steps (what to answer, the retrieved sources) are not run again, and the ticket ends
with one draft, one ``support.draft.created`` and one notification.

The worker is ``drafts_crash_child.py`` in a child process; its first incarnation's
gateway call hangs, so the kill lands inside the ``write`` step.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.modules.notifications.models import Notification
from bizos.modules.support.drafts.models import AiDraft
from bizos.modules.support.drafts.service import draft_workflow_id
from tests.conftest import TenantLogin
from tests.modules.support.drafts_helpers import events_of, kb_passage, make_ticket

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
WAIT_SECONDS = 90


def spawn(mode: str, database_url: str, executor_id: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BIZOS_WORKFLOWS_ENABLED": "true", "BIZOS_LOG_JSON": "false"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.modules.support.drafts_crash_child",
            mode,
            "--database-url",
            database_url,
            "--executor-id",
            executor_id,
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def until_exists(path: Path, process: subprocess.Popen[str]) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        while not await asyncio.to_thread(path.exists):
            if process.poll() is not None:
                raise AssertionError(f"the worker died early:\n{process.communicate()[0]}")
            await asyncio.sleep(0.05)


async def test_a_worker_killed_while_drafting_resumes_and_drafts_once(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    db: Database,
    database_url: str,
    tmp_path: Path,
) -> None:
    await kb_passage(
        db, tenant.tenant_id, title="Refund policy",
        text="Refunds are paid within 5 business days after the return arrives.",
    )  # fmt: skip
    ticket_id, message_id = await make_ticket(db, tenant.tenant_id, announce=False)
    executor_id = f"crash-{uuid.uuid4().hex[:8]}"
    marker, report = tmp_path / "writing", tmp_path / "report.json"
    run = (
        "--tenant-id", tenant.tenant_id, "--ticket-id", ticket_id, "--message-id", message_id,
        "--workflow-id", draft_workflow_id(message_id, 1),
    )  # fmt: skip

    first = spawn("start", database_url, executor_id, *run, "--marker", str(marker))
    try:
        await until_exists(marker, first)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        await asyncio.to_thread(first.wait, WAIT_SECONDS)
        assert first.stdout is not None
        first.stdout.close()
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        assert (await session.scalars(sa.select(AiDraft))).all() == []

    second = spawn("resume", database_url, executor_id, *run, "--report", str(report))
    try:
        output, _ = await asyncio.to_thread(second.communicate, None, WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        second.kill()
        leftover = second.communicate()[0]
        raise AssertionError(f"the restarted worker did not finish:\n{leftover}") from None
    assert second.returncode == 0, output

    outcome = json.loads(report.read_text())
    assert (outcome["result"], outcome["status"]) == ("drafted", "succeeded")
    assert outcome["steps"] == [
        "support.ai_draft.prepare",
        "support.ai_draft.retrieve",
        "support.ai_draft.write",
        "support.ai_draft.store",
    ]
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        drafts = (await session.scalars(sa.select(AiDraft))).all()
        notes = (await session.scalars(sa.select(Notification))).all()
    assert [(d.message_id, d.status) for d in drafts] == [(message_id, "pending")]
    assert [s["kind"] for s in drafts[0].sources] == ["kb"]
    assert drafts[0].body.strip()
    assert [n.kind for n in notes] == ["support.draft.created"]
    assert len(await events_of(db, tenant.tenant_id, "support.draft.created")) == 1
