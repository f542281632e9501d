"""At scale: 100,000 rows in one import, streamed in batches, in bounded memory."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.crm.imports import service
from bizos.modules.crm.models import Contact
from tests.conftest import TenantLogin

ROWS = 100_000
DUPLICATES = 2_000  # rows that repeat an earlier row's email
INVALID = 1_000  # rows with a malformed email


def write_file(path: Path) -> None:
    """Contacts with every mapped field, some repeated and some broken, in file order."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "E-mail",
                "First Name",
                "Last Name",
                "Mobile",
                "Company",
                "Job Title",
                "Country",
                "Tags",
            ]
        )
        for i in range(ROWS):
            if i % 50 == 49:  # 2,000 repeats of an earlier row
                n = i - 25
                email = f"person{n}@company{n % 997}.example"
            elif i % 100 == 10:  # 1,000 broken emails
                email = f"person{i}.company{i % 997}.example"
            else:
                email = f"person{i}@company{i % 997}.example"
            writer.writerow(
                [
                    email,
                    f"First{i}",
                    f"Last{i}",
                    f"+1 415 555 {i % 10_000:04d}" if i % 3 == 0 else "",
                    f"Company {i % 997}",
                    "Buyer",
                    "US",
                    "imported, q3",
                ]
            )


async def test_a_hundred_thousand_rows_import_in_bounded_memory(
    db: Database, tenant: TenantLogin, tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    write_file(source)
    ctx = Context(tenant_id=tenant.tenant_id, actor_type="system", actor_id="test")

    tracemalloc.start()
    try:
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            with source.open("rb") as upload:
                job = await service.create_import(
                    session, ctx, upload=upload, filename="big.csv", runner="cli"
                )
        assert job.total_rows == ROWS
        result = await service.run_import_in_process(db, ctx, job.id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.status == "completed"
    assert result.processed_rows == ROWS
    assert result.counts.errors == INVALID
    assert result.counts.skipped == DUPLICATES
    assert result.counts.created == ROWS - INVALID - DUPLICATES
    assert peak < 100 * 1024 * 1024, f"peak traced memory {peak / 1e6:.0f} MB"
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        contacts = await session.scalar(sa.select(sa.func.count()).select_from(Contact))
    assert contacts == ROWS - INVALID - DUPLICATES
