"""Helpers for copilot tests: a stand-in action tool that counts its runs, and asking
through the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.tools import Proposal, Tool, ToolResult, actions_for


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_id: str = Field(min_length=1)
    name: str = Field(min_length=1)


@dataclass
class CountingAction:
    """``test.rename``: proposes a rename and, when run, records the run (no table)."""

    runs: list[dict[str, Any]] = field(default_factory=list)

    async def propose(self, session: AsyncSession, ctx: Context, params: Any) -> Proposal:
        return Proposal(
            summary=f"Rename {params.record_id} to {params.name}",
            before={"name": "Old name"},
            after={"name": params.name},
        )

    async def run(self, session: AsyncSession, ctx: Context, params: Any) -> ToolResult:
        self.runs.append({"actor": ctx.actor_id, "name": params.name})
        return ToolResult(
            value={"renamed": params.record_id, "run": len(self.runs)},
            query="rename a record",
            records=[params.record_id],
        )

    def tool(self) -> Tool:
        return actions_for(
            "crm:write", ("test.rename", "Rename a record.", Rename, self.propose, self.run)
        )[0]


async def ask(
    client: httpx.AsyncClient, headers: dict[str, str], question: str, **body: Any
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/copilot/ask", json={"question": question, **body}, headers=headers
    )
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer
