"""The command line a new user meets first: migrate, demo, tenant and user creation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IS_PG

pytestmark = pytest.mark.skipif(IS_PG, reason="CLI flows are exercised on the embedded database")

BIZOS = str(Path(sys.executable).parent / "bizos")


def run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BIZOS_DATA_DIR": str(data_dir), "BIZOS_LOG_LEVEL": "WARNING"}
    env.pop("BIZOS_DATABASE_URL", None)
    return subprocess.run([BIZOS, *args], env=env, capture_output=True, text=True, timeout=120)


def printed_webhook_secrets(stdout: str) -> dict[str, str]:
    """``    shopify: <secret>  (POST /webhooks/shopify/demo, ...)`` lines, by provider."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        provider, sep, rest = line.strip().partition(": ")
        if sep and "(POST /webhooks/" in rest:
            found[provider] = rest.split()[0]
    return found


def test_demo_seeds_once_and_prints_the_login(tmp_path: Path) -> None:
    first = run(["demo"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "demo tenant created" in first.stdout
    assert "owner@northwind.example" in first.stdout
    second = run(["demo"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "already present" in second.stdout
    assert (tmp_path / "bizos.db").exists()
    # The webhook signing secrets the README's recipes need: made once, printed each time.
    secrets = printed_webhook_secrets(first.stdout)
    assert sorted(secrets) == ["email", "shopify", "stripe"]
    assert printed_webhook_secrets(second.stdout) == secrets


def test_tenant_and_user_create_from_the_command_line(tmp_path: Path) -> None:
    assert run(["migrate"], tmp_path).returncode == 0
    made = run(
        [
            "tenant",
            "create",
            "Cafe Uno",
            "--owner-email",
            "boss@cafe.example",
            "--owner-password",
            "long-enough-pw",
            "--slug",
            "cafe-uno",
        ],
        tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert "cafe-uno" in made.stdout
    user = run(
        [
            "user",
            "create",
            "--tenant",
            "cafe-uno",
            "--email",
            "rep@cafe.example",
            "--password",
            "long-enough-pw",
            "--role",
            "member",
        ],
        tmp_path,
    )
    assert user.returncode == 0, user.stderr
    missing = run(
        [
            "user",
            "create",
            "--tenant",
            "nope",
            "--email",
            "x@cafe.example",
            "--password",
            "long-enough-pw",
        ],
        tmp_path,
    )
    assert missing.returncode != 0
    assert "no tenant" in (missing.stdout + missing.stderr)


def test_secret_key_file_is_created_private(tmp_path: Path) -> None:
    env_key = os.environ.pop("BIZOS_SECRET_KEY", None)
    try:
        result = run(["demo"], tmp_path)
    finally:
        if env_key is not None:
            os.environ["BIZOS_SECRET_KEY"] = env_key
    assert result.returncode == 0, result.stderr
    key = tmp_path / "secret.key"
    assert key.exists()
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_duplicate_user_is_reported_without_a_traceback(tmp_path: Path) -> None:
    assert run(["migrate"], tmp_path).returncode == 0
    assert (
        run(
            [
                "tenant",
                "create",
                "Cafe Dos",
                "--owner-email",
                "boss@cafe.example",
                "--owner-password",
                "long-enough-pw",
                "--slug",
                "cafe-dos",
            ],
            tmp_path,
        ).returncode
        == 0
    )
    again = run(
        [
            "user",
            "create",
            "--tenant",
            "cafe-dos",
            "--email",
            "boss@cafe.example",
            "--password",
            "long-enough-pw",
        ],
        tmp_path,
    )
    assert again.returncode == 1
    assert "Traceback" not in again.stderr
    assert "already exists" in again.stdout
