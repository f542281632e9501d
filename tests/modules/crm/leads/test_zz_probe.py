import time
import sqlalchemy as sa
from bizos.core.events import Event
from tests.conftest import signup
from tests.modules.crm.leads.test_lead_flow import client, until_emailed  # noqa: F401
from tests.modules.crm.leads.helpers import post_lead


async def test_probe(client, db):
    tenant = await signup(client)
    for i in range(3):
        t0 = time.perf_counter()
        created = await post_lead(client, tenant, email=f"ada{i}@contoso.com")
        await until_emailed(client, tenant, created["id"])
        print("total", time.perf_counter() - t0)
        async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
            rows = (await s.execute(sa.select(Event.type, Event.recorded_at, Event.aggregate_id).order_by(Event.sequence))).all()
        base = None
        for r in rows:
            if r.aggregate_id == created["id"] and r.type == "crm.lead.created":
                base = r.recorded_at
            if base:
                print(f"  {r.type:35} {(r.recorded_at-base).total_seconds():.3f}")
