"""The demo's webhook doors come with signing secrets, and the signing recipes the README
gives (scripts/webhooks/*.sh: openssl computes the signature, curl posts) are accepted by
a running server as they stand."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.demo import DEMO_SLUG
from bizos.demo.webhooks import DemoWebhook, ensure_demo_webhook_secrets
from bizos.modules.identity import service as identity
from bizos.modules.webhooks.models import InboundWebhook

SCRIPTS = Path(__file__).parents[2] / "scripts" / "webhooks"
SECRET_VARIABLE = {"shopify": "SHOPIFY_SECRET", "stripe": "STRIPE_SECRET", "email": "EMAIL_SECRET"}
needs_tools = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "openssl", "curl")),
    reason="the recipes need bash, openssl and curl",
)


async def demo_workspace(db: Database) -> str:
    async with db.unit_of_work(system=True) as session:
        tenant = await identity.create_tenant(
            session, Context(actor_type="system"), name="Northwind", slug=DEMO_SLUG
        )
        return tenant.id


async def test_the_demo_gets_one_signing_secret_per_door_and_keeps_it(
    db: Database, settings: Settings
) -> None:
    assert await ensure_demo_webhook_secrets(settings, db) == []  # no demo, nothing made
    await demo_workspace(db)

    first = await ensure_demo_webhook_secrets(settings, db)
    again = await ensure_demo_webhook_secrets(settings, db)

    assert [(d.provider, d.path) for d in first] == [
        ("shopify", "/webhooks/shopify/demo"),
        ("stripe", "/webhooks/stripe/demo"),
        ("email", "/webhooks/email/demo"),
    ]
    assert len({d.secret for d in first}) == 3 and all(len(d.secret) > 32 for d in first)
    assert first[1].secret.startswith("whsec_")
    assert again == first  # set once, then kept


@pytest.fixture
async def server(app: Any) -> AsyncIterator[str]:
    """The test app over real HTTP on a free port, served by this test's event loop."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.01)
    port = served.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    await task


async def run_recipe(name: str, base_url: str, secret: str, workdir: Path) -> tuple[int, str]:
    door = name.removesuffix(".sh")
    env = {
        **os.environ,
        "BIZOS": base_url,
        "TENANT": DEMO_SLUG,
        SECRET_VARIABLE[door]: secret,
    }
    proc = await asyncio.create_subprocess_exec(
        "bash",
        str(SCRIPTS / name),
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


def secret_of(doors: list[DemoWebhook], provider: str) -> str:
    return next(d.secret for d in doors if d.provider == provider)


@needs_tools
async def test_each_signing_recipe_is_accepted_and_stored(
    server: str, db: Database, settings: Settings, tmp_path: Path
) -> None:
    tenant_id = await demo_workspace(db)
    doors = await ensure_demo_webhook_secrets(settings, db)

    for door in ("shopify", "stripe", "email"):
        code, out = await run_recipe(f"{door}.sh", server, secret_of(doors, door), tmp_path)
        assert code == 0, out
        assert '"status":"accepted"' in out, out

    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        stored = (await s.scalars(sa.select(InboundWebhook.provider))).all()
    assert sorted(stored) == ["email", "shopify", "stripe"]


@needs_tools
async def test_a_recipe_signed_with_another_secret_is_told_the_signature_does_not_match(
    server: str, db: Database, settings: Settings, tmp_path: Path
) -> None:
    await demo_workspace(db)
    doors = await ensure_demo_webhook_secrets(settings, db)
    for door in ("shopify", "stripe", "email"):
        wrong = secret_of(doors, door) + "x"
        code, out = await run_recipe(f"{door}.sh", server, wrong, tmp_path)
        assert code != 0
        assert "https://bizos.dev/problems/webhook-signature-mismatch" in out, out
        assert wrong not in out and secret_of(doors, door) not in out
