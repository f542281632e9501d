"""At scale: 100,000 rows in one import, streamed in batches, in bounded memory.

The import runs as a user runs it, ``bizos import contacts big.csv`` in a process of its
own, and its peak resident memory is read from the kernel (``wait4``). The process's peak
with the big file is compared with its peak importing 1,000 rows: an import that held
rows, contacts or events in memory would grow by hundreds of megabytes. (tracemalloc
would see Python objects only, and slows the email and phone parsers tenfold.)
"""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.modules.crm.models import Contact, ImportJob
from tests.conftest import TenantLogin

ROWS = 100_000
DUPLICATES = ROWS // 50  # rows that repeat an earlier row's email
INVALID = ROWS // 100  # rows with a malformed email
MB = 1024 * 1024


def write_file(path: Path, rows: int, tag: str) -> None:
    """Contacts with most mapped fields, some repeated and some broken, in file order."""
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
        for i in range(rows):
            if i % 50 == 49:  # repeats the row 25 lines up
                n = i - 25
                email = f"{tag}{n}@company{n % 997}.example"
            elif i % 100 == 10:  # no @
                email = f"{tag}{i}.company{i % 997}.example"
            else:
                email = f"{tag}{i}@company{i % 997}.example"
            phone = f"+1 415 555 {i % 10_000:04d}" if i % 3 == 0 else ""
            writer.writerow(
                [email, f"First{i}", f"Last{i}", phone, f"Company {i % 997}", "Buyer", "US", "a, b"]
            )


def run_cli_measuring_memory(settings: Settings, *args: str) -> tuple[int, str, int]:
    """Exit code, output and peak RSS in bytes of ``bizos <args>`` in a child process."""
    env = {**os.environ, "BIZOS_DATABASE_URL": settings.resolved_database_url()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bizos.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, output, usage.ru_maxrss * 1024  # Linux reports KiB


async def test_a_hundred_thousand_rows_import_in_bounded_memory(
    db: Database, settings: Settings, tenant: TenantLogin, tmp_path: Path
) -> None:
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    write_file(small, 1_000, "warmup")
    write_file(big, ROWS, "person")

    code, output, small_peak = await asyncio.to_thread(
        run_cli_measuring_memory,
        settings,
        "import",
        "contacts",
        str(small),
        "--tenant",
        tenant.slug,
    )
    assert code == 0, output
    code, output, big_peak = await asyncio.to_thread(
        run_cli_measuring_memory, settings, "import", "contacts", str(big), "--tenant", tenant.slug
    )
    assert code == 0, output

    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        job = await session.scalar(sa.select(ImportJob).where(ImportJob.filename == "big.csv"))
        contacts = await session.scalar(
            sa.select(sa.func.count()).select_from(Contact).where(Contact.email.like("person%"))
        )
    assert job is not None
    assert (job.status, job.processed_rows) == ("completed", ROWS)
    assert job.error_count == INVALID
    assert job.skipped_count == DUPLICATES  # in-file repeats, across batch boundaries too
    assert job.created_count == contacts == ROWS - INVALID - DUPLICATES
    assert f"{ROWS:,} rows" in output
    growth = big_peak - small_peak
    assert growth < 100 * MB, f"peak RSS grew by {growth / MB:.0f} MB ({big_peak / MB:.0f} MB)"
