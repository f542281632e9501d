"""The optional built-in SMTP receiver (aiosmtpd): mail straight to the support desk.

Point an MX (or a forwarding rule) at ``bizos smtp-receiver``. A recipient names the
workspace: ``support+<slug>@any.domain`` anywhere, or ``<slug>@<domain>`` for a domain
the receiver is configured with (``--domain``). ``RCPT TO`` for any other address, or an
unknown workspace, is refused with 550 — nothing is accepted that we cannot file. The
message is stored exactly like a webhook delivery (``store_email``: durable before the
250 reply, deduplicated by ``Message-ID``) and filed by the workers from the event log.

The server runs on the caller's event loop (not aiosmtpd's threaded ``Controller``), so
it shares the process's database engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from bizos.core.context import Context
from bizos.core.db import get_database
from bizos.modules.support.inbound.api import tenant_id_for_slug
from bizos.modules.support.inbound.service import store_email

log = structlog.get_logger("bizos.support.smtp")

DATA_SIZE_LIMIT = 25 * 1024 * 1024
SUPPORT_PREFIX = "support+"


def tenant_slug_for(address: str, domains: Iterable[str] = ()) -> str | None:
    """The workspace slug a recipient address names, or None."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or not local:
        return None
    local, domain = local.lower(), domain.lower().rstrip(".")
    if local.startswith(SUPPORT_PREFIX):
        slug = local.removeprefix(SUPPORT_PREFIX)
    elif domain in {d.lower().rstrip(".") for d in domains}:
        slug = local
    else:
        return None
    return slug if slug and len(slug) <= 60 else None


class SupportMailHandler:
    """aiosmtpd handler: accept recipients that name a workspace, store the message."""

    def __init__(self, domains: Iterable[str] = ()) -> None:
        self.domains = tuple(domains)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        slug = tenant_slug_for(address, self.domains)
        if slug is None or await tenant_id_for_slug(slug) is None:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:
            content = envelope.content
            raw = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else b""
        if not raw or not raw.strip():
            return "554 5.6.0 Empty message"
        tenants: dict[str, str] = {}
        for address in envelope.rcpt_tos:
            slug = tenant_slug_for(address, self.domains)
            tenant_id = await tenant_id_for_slug(slug) if slug else None
            if tenant_id is not None:
                tenants.setdefault(tenant_id, address)
        try:
            for tenant_id, address in tenants.items():
                ctx = Context(tenant_id=tenant_id, actor_type="webhook", ip=_peer_host(session))
                async with get_database().unit_of_work(tenant_id=tenant_id) as db_session:
                    stored = await store_email(
                        db_session, ctx, raw, headers={"x-envelope-to": address}
                    )
                log.info("support.smtp_stored", duplicate=stored.duplicate)
        except Exception:
            log.exception("support.smtp_store_failed")
            return "451 4.3.0 Temporary failure, please try again"
        return "250 2.0.0 Message accepted"


def _peer_host(session: Session) -> str | None:
    peer: Any = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


async def start_smtp_receiver(
    *, host: str = "127.0.0.1", port: int = 2525, domains: Iterable[str] = ()
) -> asyncio.Server:
    """Listen for SMTP on ``host:port`` in the running loop; close the returned server to
    stop. The database must be initialised (``init_database``) first."""
    handler = SupportMailHandler(domains)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            data_size_limit=DATA_SIZE_LIMIT,
            enable_SMTPUTF8=True,
            hostname="bizos",
            ident="bizos support receiver",
            loop=loop,
        ),
        host=host,
        port=port,
    )
    log.info("support.smtp_listening", host=host, port=port)
    return server
