"""``bizos import``: the same batch engine in-process, with a progress bar and a report."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bizos.cli import app
from bizos.core.config import Settings, get_settings
from bizos.modules.crm.models import Contact


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BIZOS_DATABASE_URL", settings.resolved_database_url())
    get_settings.cache_clear()
    return CliRunner()


def test_import_contacts_with_a_mapping_and_a_progress_bar(
    cli_env: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    runner = cli_env
    result = runner.invoke(
        app,
        [
            "tenant",
            "create",
            "Cli Co",
            "--owner-email",
            "o@cli.example",
            "--owner-password",
            "correct horse battery",
            "--slug",
            "cli-co",
        ],
    )
    assert result.exit_code == 0, result.output
    source = tmp_path / "people.csv"
    source.write_text(
        "Mail;Full;Telefon\n"
        + "".join(f"p{i}@cli.example;Person {i};\n" for i in range(30))
        + "broken;Nobody;\n"
    )
    args = [
        "import",
        "contacts",
        str(source),
        "--tenant",
        "cli-co",
        "--map",
        "Mail=email",
        "--map",
        "Full=name",
        "--map",
        "Telefon=",
        "--batch-size",
        "7",
    ]

    result = runner.invoke(app, args)

    assert result.exit_code == 0, result.output
    assert "31/31 rows" in result.output and "rows/s" in result.output
    assert "created 30" in result.output and "errors 1" in result.output
    assert "row 31: Mail: invalid email" in result.output
    result = runner.invoke(app, [*args, "--on-duplicate", "merge"])
    assert result.exit_code == 0, result.output
    assert "unchanged 30" in result.output

    engine = sa.create_engine(
        settings.resolved_database_url().replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")
    )
    with engine.connect() as conn:
        count = conn.scalar(sa.select(sa.func.count()).select_from(Contact.__table__))
    engine.dispose()
    assert count == 30


def test_a_bad_file_or_tenant_exits_non_zero(cli_env: CliRunner, tmp_path: Path) -> None:
    runner = cli_env
    result = runner.invoke(
        app,
        [
            "tenant",
            "create",
            "Bad Co",
            "--owner-email",
            "o@bad.example",
            "--owner-password",
            "correct horse battery",
            "--slug",
            "bad-co",
        ],
    )
    assert result.exit_code == 0, result.output
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\x00\x00\x00")
    result = runner.invoke(app, ["import", "contacts", str(binary), "--tenant", "bad-co"])
    assert result.exit_code == 1
    assert "binary" in result.output

    no_email = tmp_path / "names.csv"
    no_email.write_text("name\nAda\n")
    result = runner.invoke(app, ["import", "contacts", str(no_email), "--tenant", "bad-co"])
    assert result.exit_code == 1 and "email or phone" in result.output

    result = runner.invoke(app, ["import", "contacts", str(no_email), "--tenant", "nobody"])
    assert result.exit_code == 1
