"""Regenerate migrations/versions/0001_initial.py from the models.

Only for the pre-release period, while there is one migration: once a release ships,
new migrations are added on top instead.
Run: ``.venv/bin/python scripts/regen_initial_migration.py``
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "migrations" / "versions" / "0001_initial.py"

SECURITY = """
    # PostgreSQL: the application role and row-level security on every tenant table.
    if op.get_bind().dialect.name == "postgresql":
        from bizos.core.config import get_settings
        from bizos.core.schema import apply_postgres_security

        apply_postgres_security(op.get_bind(), get_settings().db_app_role, TENANT_TABLES)

    # Full-text search over contacts: SQLite FTS5 table + triggers, PostgreSQL GIN index.
    from bizos.modules.crm import search as crm_search

    crm_search.install(op.get_bind())

    # Full-text search over knowledge-base chunks, the same way.
    from bizos.modules.knowledge.documents import search as kb_search

    kb_search.install(op.get_bind())
"""

SEARCH_DOWN = """
    from bizos.modules.knowledge.documents import search as kb_search

    kb_search.uninstall(op.get_bind())

    from bizos.modules.crm import search as crm_search

    crm_search.uninstall(op.get_bind())
"""


def main() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from bizos.core.db import tenant_tables
    from bizos.models import metadata  # noqa: F401  (registers every table)

    TARGET.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/empty.db"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "alembic",
                "-x",
                "regen=1",
                "revision",
                "--autogenerate",
                "-m",
                "initial",
                "--rev-id",
                "0001",
            ],
            cwd=ROOT,
            check=True,
            env={"BIZOS_ALEMBIC_URL": url, "PATH": "", "PYTHONPATH": str(ROOT / "src")},
        )
    generated = next((ROOT / "migrations" / "versions").glob("0001_*.py"))
    text = generated.read_text()
    generated.unlink()
    tables = [t.name for t in tenant_tables()]
    text = text.replace(
        "\n\ndef upgrade() -> None:",
        f"\nTENANT_TABLES = {tables!r}\n\n\ndef upgrade() -> None:",
    )
    marker = "    # ### end Alembic commands ###"
    first = text.index(marker) + len(marker)
    text = text[:first] + "\n" + SECURITY + text[first:]
    down = text.index("def downgrade() -> None:")
    body = text.index("\n", down) + 1
    body = text.index("\n", body) + 1  # after the "# ### commands auto generated" line
    text = text[:body] + SEARCH_DOWN + text[body:]
    TARGET.write_text(text)
    subprocess.run([sys.executable, "-m", "ruff", "format", str(TARGET)], cwd=ROOT, check=False)
    subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--fix", "-q", str(TARGET)], cwd=ROOT, check=False
    )
    print(f"wrote {TARGET.relative_to(ROOT)} with {len(tables)} tenant tables")


if __name__ == "__main__":
    main()
