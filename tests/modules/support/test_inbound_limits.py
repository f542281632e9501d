"""Mail is bigger than API calls: the email webhook takes a message with attachments
beyond the general body limit, up to its own, and `bizos serve` starts the SMTP receiver
when a port is configured."""

from __future__ import annotations

import socket
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx

from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.runtime import Runtime
from tests.conftest import TenantLogin
from tests.modules.support.test_inbound_helpers import (
    build_email,
    configure_inbound,
    deliver,
    inbound_rows,
)


def _with_attachment(size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Maria Gonzalez <maria@example.com>"
    msg["To"] = "support@acme.example"
    msg["Subject"] = "Photos of the damaged parcel"
    msg.set_content("The box arrived crushed, photos attached.")
    msg.add_attachment(
        b"\xff\xd8" + b"x" * size, maintype="image", subtype="jpeg", filename="a.jpg"
    )
    return msg.as_bytes()


async def test_a_message_over_the_api_body_limit_but_within_the_mail_limit_is_stored(
    settings: Settings, db: Database, tenant: TenantLogin, client: httpx.AsyncClient
) -> None:
    await configure_inbound(client, tenant)
    raw = _with_attachment(4096)  # about 5.5 kB once base64-encoded
    limited = settings.model_copy(update={"max_body_bytes": 2048, "max_email_bytes": 64 * 1024})
    application: Any = create_app(limited, database=db, workers=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            accepted = await deliver(c, tenant.slug, raw)
            too_big = await deliver(c, tenant.slug, _with_attachment(80 * 1024))
    assert accepted.status_code == 202, accepted.text
    assert too_big.status_code == 413
    assert too_big.headers["content-type"].startswith("application/problem+json")
    assert len(await inbound_rows(db, tenant.tenant_id)) == 1


async def test_serve_starts_the_smtp_receiver_when_a_port_is_set(
    settings: Settings, db: Database, tenant: TenantLogin, client: httpx.AsyncClient
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    configured = settings.model_copy(
        update={"smtp_receiver_port": port, "workflows_enabled": False}
    )
    runtime = Runtime(configured, db, workers=True)
    await runtime.start()
    try:
        errors, _ = await aiosmtplib.send(
            build_email(to=f"support+{tenant.slug}@help.example"),
            sender="maria@example.com",
            recipients=[f"support+{tenant.slug}@help.example"],
            hostname="127.0.0.1",
            port=port,
            start_tls=False,
            use_tls=False,
        )
    finally:
        await runtime.stop()
    assert errors == {}
    assert len(await inbound_rows(db, tenant.tenant_id)) == 1
    # Stopped with the runtime: nothing listens on the port any more.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
