"""Proposed actions: nothing changes until confirm; confirm runs once, with the
confirming caller's scopes, however often or concurrently it is asked; cancel withdraws."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.audit import AuditEntry
from bizos.core.auth import ROLE_SCOPES
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.copilot import service
from tests.conftest import TenantLogin
from tests.modules.copilot.helpers import CountingAction
from tests.modules.identity.helpers import add_member


@pytest.fixture
def action(app: Any) -> CountingAction:
    counting = CountingAction()
    app.state.tools.register(counting.tool())
    return counting


async def propose(
    app: Any,
    db: Database,
    tenant: TenantLogin,
    name: str = "Ada Lovelace",
    *,
    by: str | None = None,
    role: str = "owner",
) -> dict[str, Any]:
    ctx = Context(
        tenant_id=tenant.tenant_id,
        actor_id=by or tenant.user_id,
        actor_type="user",
        scopes=ROLE_SCOPES[role],
    )
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        session.info["ctx"] = ctx
        proposed = await service.propose_action(
            session, ctx, "test.rename", {"record_id": "c1", "name": name}, tools=app.state.tools
        )
    return proposed.model_dump(mode="json")


def url(action_id: str, verb: str) -> str:
    return f"/api/v1/copilot/actions/{action_id}/{verb}"


async def test_a_proposal_changes_nothing_until_confirmed(
    client: httpx.AsyncClient, app: Any, db: Database, tenant: TenantLogin, action: CountingAction
) -> None:
    proposed = await propose(app, db, tenant)
    assert proposed["status"] == "proposed"
    assert proposed["before"] == {"name": "Old name"}
    assert proposed["after"] == {"name": "Ada Lovelace"}
    assert action.runs == []

    r = await client.post(url(proposed["id"], "confirm"), headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "executed"
    assert r.json()["result"]["value"] == {"renamed": "c1", "run": 1}
    assert action.runs == [{"actor": tenant.user_id, "name": "Ada Lovelace"}]


async def test_a_repeated_confirm_returns_the_first_result_without_running_again(
    client: httpx.AsyncClient, app: Any, db: Database, tenant: TenantLogin, action: CountingAction
) -> None:
    proposed = await propose(app, db, tenant)
    first = await client.post(url(proposed["id"], "confirm"), headers=tenant.headers)
    again = await client.post(url(proposed["id"], "confirm"), headers=tenant.headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert len(action.runs) == 1


async def test_a_burst_of_confirms_runs_the_action_once(
    client: httpx.AsyncClient, app: Any, db: Database, tenant: TenantLogin, action: CountingAction
) -> None:
    proposed = await propose(app, db, tenant)
    answers = await asyncio.gather(
        *(client.post(url(proposed["id"], "confirm"), headers=tenant.headers) for _ in range(8))
    )
    assert {r.status_code for r in answers} == {200}
    assert len(action.runs) == 1
    assert {r.json()["result"]["value"]["run"] for r in answers} == {1}


async def test_a_viewer_may_not_confirm(
    client: httpx.AsyncClient, app: Any, db: Database, tenant: TenantLogin, action: CountingAction
) -> None:
    viewer = await add_member(client, tenant, "viewer")
    proposed = await propose(app, db, tenant, by=viewer.id, role="viewer")
    r = await client.get(f"/api/v1/copilot/actions/{proposed['id']}", headers=viewer.headers)
    assert r.status_code == 200 and r.json()["status"] == "proposed"
    r = await client.post(url(proposed["id"], "confirm"), headers=viewer.headers)
    assert r.status_code == 403
    assert "missing scope" in r.json()["detail"]
    assert action.runs == []


async def test_a_colleague_can_neither_see_nor_decide_my_proposal(
    client: httpx.AsyncClient, app: Any, db: Database, tenant: TenantLogin, action: CountingAction
) -> None:
    proposed = await propose(app, db, tenant)
    colleague = await add_member(client, tenant, "admin")
    r = await client.get(f"/api/v1/copilot/actions/{proposed['id']}", headers=colleague.headers)
    assert r.status_code == 404
    for verb in ("confirm", "cancel"):
        r = await client.post(url(proposed["id"], verb), headers=colleague.headers)
        assert r.status_code == 404, r.text
    assert action.runs == []
    r = await client.post(url(proposed["id"], "confirm"), headers=tenant.headers)
    assert r.status_code == 200 and action.runs


async def test_another_tenant_cannot_see_or_confirm_an_action(
    client: httpx.AsyncClient,
    app: Any,
    db: Database,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    action: CountingAction,
) -> None:
    proposed = await propose(app, db, tenant)
    for verb in ("confirm", "cancel"):
        r = await client.post(url(proposed["id"], verb), headers=other_tenant.headers)
        assert r.status_code == 404
    r = await client.get(f"/api/v1/copilot/actions/{proposed['id']}", headers=other_tenant.headers)
    assert r.status_code == 404
    assert action.runs == []


async def test_a_cancelled_action_never_runs(
    client: httpx.AsyncClient, app: Any, db: Database, tenant: TenantLogin, action: CountingAction
) -> None:
    proposed = await propose(app, db, tenant)
    r = await client.post(url(proposed["id"], "cancel"), headers=tenant.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    r = await client.post(url(proposed["id"], "confirm"), headers=tenant.headers)
    assert r.status_code == 409
    assert action.runs == []


async def test_cancelling_an_executed_action_is_refused(
    client: httpx.AsyncClient, app: Any, db: Database, tenant: TenantLogin, action: CountingAction
) -> None:
    proposed = await propose(app, db, tenant)
    await client.post(url(proposed["id"], "confirm"), headers=tenant.headers)
    r = await client.post(url(proposed["id"], "cancel"), headers=tenant.headers)
    assert r.status_code == 409


async def test_confirming_is_audited(
    client: httpx.AsyncClient, app: Any, db: Database, tenant: TenantLogin, action: CountingAction
) -> None:
    proposed = await propose(app, db, tenant)
    await client.post(url(proposed["id"], "confirm"), headers=tenant.headers)
    async with db.unit_of_work(system=True, readonly=True) as session:
        entries = list(
            await session.scalars(
                sa.select(AuditEntry).where(AuditEntry.resource_id == proposed["id"])
            )
        )
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[1].actor_id == tenant.user_id
    assert entries[1].changed_fields["status"] == ["proposed", "executed"]


async def test_proposing_with_bad_params_is_a_422(
    app: Any, db: Database, tenant: TenantLogin, action: CountingAction
) -> None:
    ctx = Context(tenant_id=tenant.tenant_id, actor_id=tenant.user_id, scopes=ROLE_SCOPES["owner"])
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        with pytest.raises(Exception) as raised:
            await service.propose_action(
                session, ctx, "test.rename", {"record_id": ""}, tools=app.state.tools
            )
    assert getattr(raised.value, "status", None) == 422
