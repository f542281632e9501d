import time
from collections import Counter
from bizos.core.context import Context
from bizos.modules.crm.imports import service, writers
from tests.modules.crm.imports.test_scale import write_file
import tests.modules.crm.imports.test_scale as ts

T = Counter()
def timed(mod, name, is_async=True):
    orig = getattr(mod, name)
    if is_async:
        async def w(*a, **k):
            t = time.process_time()
            try: return await orig(*a, **k)
            finally: T[name] += time.process_time() - t
    else:
        def w(*a, **k):
            t = time.process_time()
            try: return orig(*a, **k)
            finally: T[name] += time.process_time() - t
    setattr(mod, name, w)

async def test_probe(client, tenant, db, settings, tmp_path):
    ts.ROWS = 20000
    for n in ("_existing_contacts", "_link_companies", "append_events", "_update_contacts"): timed(writers, n)
    timed(writers, "_validate", False); timed(service, "_read_batch", False)
    timed(service, "_write"); timed(service, "process_next_batch"); timed(writers, "write_contacts")
    from sqlalchemy.ext.asyncio import AsyncSession
    orig_exec = AsyncSession.execute
    async def ex(self, stmt, *a, **k):
        t = time.process_time()
        try: return await orig_exec(self, stmt, *a, **k)
        finally: T["exec:" + str(getattr(stmt, "table", getattr(stmt, "__class__")))[:40]] += time.process_time() - t
    AsyncSession.execute = ex
    import os, sqlalchemy as sa
    if os.environ.get("NOTRIG"):
        async with db.unit_of_work(system=True) as s:
            await s.execute(sa.text("DROP TRIGGER crm_contacts_fts_insert"))
    p = tmp_path / "x.csv"; write_file(p)
    ctx = Context(tenant_id=tenant.tenant_id, actor_type="system")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        with p.open("rb") as f:
            job = await service.create_import(s, ctx, upload=f, filename="x.csv", runner="cli")
    t = time.process_time()
    res = await service.run_import_in_process(db, ctx, job.id)
    print("\ncpu", time.process_time() - t, res.counts)
    for k, v in sorted(T.items(), key=lambda x: -x[1]): print(f"  {k:50s} {v:.2f}")
