from __future__ import annotations

import httpx

from bizos.connectors import channels
from bizos.connectors.sandbox import SandboxEmailChannel, SandboxSmsChannel
from bizos.connectors.smtp import SmtpEmailChannel
from bizos.connectors.twilio import TwilioSmsChannel
from bizos.core.context import Context
from bizos.core.db import Database
from tests.conftest import TenantLogin


def ctx_of(tenant: TenantLogin) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_id=tenant.user_id, actor_type="user")


async def test_a_tenant_without_connectors_gets_the_sandbox(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        email = await channels.email_channel(session, ctx_of(tenant))
        sms = await channels.sms_channel(session, ctx_of(tenant))
        sender = await channels.email_sender(session, ctx_of(tenant))
    assert isinstance(email, SandboxEmailChannel)
    assert isinstance(sms, SandboxSmsChannel)
    assert sender == (channels.SANDBOX_SENDER, None)


async def test_configured_smtp_and_twilio_are_used_for_their_tenant_only(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    r = await client.put(
        "/api/v1/connectors/smtp",
        headers=tenant.headers,
        json={
            "config": {
                "host": "mx.acme.example",
                "port": 2525,
                "username": "mailer",
                "from_address": "hello@acme.example",
                "from_name": "Acme",
            },
            "secrets": {"password": "pw"},
        },
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        "/api/v1/connectors/twilio",
        headers=tenant.headers,
        json={
            "config": {"account_sid": "AC42", "from_number": "+15550001111"},
            "secrets": {"auth_token": "tok"},
        },
    )
    assert r.status_code == 200, r.text

    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        email = await channels.email_channel(session, ctx_of(tenant))
        sms = await channels.sms_channel(session, ctx_of(tenant))
        sender = await channels.email_sender(session, ctx_of(tenant))
        number = await channels.sms_sender(session, ctx_of(tenant))
    assert isinstance(email, SmtpEmailChannel)
    assert (email.host, email.port, email.username) == ("mx.acme.example", 2525, "mailer")
    assert isinstance(sms, TwilioSmsChannel)
    assert sms.account_sid == "AC42"
    assert sender == ("hello@acme.example", "Acme")
    assert number == "+15550001111"

    async with db.unit_of_work(tenant_id=other_tenant.tenant_id, readonly=True) as session:
        assert isinstance(
            await channels.email_channel(session, ctx_of(other_tenant)), SandboxEmailChannel
        )
