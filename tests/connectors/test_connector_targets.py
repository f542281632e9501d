"""Connector endpoints are chosen by a tenant admin, so they are outbound targets like
webhook URLs (issue 11, item 5): an LLM, enrichment, shipping or Twilio ``base_url`` and
the SMTP host must be publicly reachable unless the operator sets
``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS`` (single-company self-hosting).

They are judged when configured (422 with the reason) and again at every call, where the
name is resolved once, every answer is judged and the connection goes to an address that
passed; a config stored before the rule is refused at call time and fails cleanly.

The shared test settings allow private targets (the fake vendor servers listen on
127.0.0.1); here the default is restored unless a test asks for ``allow_private_targets``.
Names are answered by a patched resolver, and a connection to any address outside the
loopback network is refused and recorded, so nothing here ever leaves the machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bizos.ai import gateway
from bizos.ai.providers.openai import OpenAICompatibleProvider
from bizos.ai.types import ChatMessage, CompletionRequest, ProviderError
from bizos.app import create_app
from bizos.connectors.base import DeliveryError, OutboundEmail, OutboundSms
from bizos.connectors.enrichment import EnrichmentRefused
from bizos.connectors.enrichment.clearbit import ClearbitEnricher
from bizos.connectors.models import ConnectorConfig
from bizos.connectors.service import secret_aad
from bizos.connectors.shipping import LabelRequest, Parcel, ShippingRefused, ShippoProvider
from bizos.connectors.smtp import SmtpEmailChannel
from bizos.connectors.twilio import TwilioSmsChannel
from bizos.core import crypto
from bizos.core.config import Settings, get_settings
from bizos.core.db import Database
from bizos.core.events import Event
from tests.ai.test_gateway_support import calls_of, ctx_of
from tests.conftest import TenantLogin, signup
from tests.connectors.clearbit_server import clearbit_server
from tests.connectors.servers import SmtpServer, smtp_server, twilio_server
from tests.connectors.shippo_server import shippo_server
from tests.fakes.llm_servers import FakeLlmServer, Reply, fake_openai
from tests.modules.crm.leads.helpers import get_lead, post_lead

__all__ = ["fake_openai"]  # a fixture used below

# --- the network a test sees ----------------------------------------------------------


@dataclass
class Network:
    """Names the patched resolver answers (None: the name does not resolve), and every
    connection that was attempted to an address outside the loopback network."""

    names: dict[str, list[str] | None] = field(default_factory=dict)
    outside: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    net = Network()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in net.names:
            return real_getaddrinfo(host, port, family, type, proto, flags)
        net.lookups.append(name)
        answers = net.names[name]
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        port_number = int(port or 0)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port_number, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port_number))
            for a in answers
        ]

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple):
            host = str(address[0]).split("%")[0]
            if not ipaddress.ip_address(host).is_loopback:
                net.outside.append(host)
                raise ConnectionRefusedError(f"the test network refuses {host}")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield net


@pytest.fixture
def allow_private_targets() -> bool:
    """The platform default; a test parametrizes this to True for self-hosting."""
    return False


@pytest.fixture(autouse=True)
def connector_setting(
    allow_private_targets: bool, monkeypatch: pytest.MonkeyPatch
) -> Iterator[bool]:
    """``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS`` as the test wants it, set before the
    ``settings`` fixture reads the environment, so the API (``app.state.settings``) and
    the code that calls out (``get_settings()``) agree."""
    monkeypatch.setenv("BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS", str(allow_private_targets).lower())
    get_settings.cache_clear()
    yield allow_private_targets
    monkeypatch.undo()  # the servers and the app are gone by now
    get_settings.cache_clear()


@pytest.fixture
def settings(connector_setting: bool, settings: Settings) -> Settings:
    """The shared settings, read once the environment says what this test wants (the
    suite's privacy guard may ask for them before this module's autouse fixtures)."""
    assert settings.connector_allow_private_targets is connector_setting
    return settings


allowed = pytest.mark.parametrize("allow_private_targets", [True])


async def _put(
    client: httpx.AsyncClient, tenant: TenantLogin, provider: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.put(f"/api/v1/connectors/{provider}", json=body, headers=tenant.headers)


def _reason(response: httpx.Response, field_name: str) -> str:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["detail"] == "connector endpoints must be publicly reachable"
    [error] = problem["errors"]
    assert error["loc"] == ["body", "config", field_name]
    return str(error["msg"])


# --- at configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://127.0.0.1:11434/v1", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        (
            "http://[::ffff:127.0.0.1]/v1",
            "::ffff:7f00:1 is an IPv4-mapped address for 127.0.0.1, a loopback address",
        ),
        (
            "http://models.corp.example/v1",
            "models.corp.example resolves to a refused address (10.20.30.40 is a private address)",
        ),
        ("http://localhost:6379/", "localhost is a local name"),
    ],
)
async def test_an_llm_base_url_inside_the_servers_network_is_refused_with_the_reason(
    client: httpx.AsyncClient, tenant: TenantLogin, network: Network, base_url: str, reason: str
) -> None:
    network.names["models.corp.example"] = ["10.20.30.40"]

    r = await _put(client, tenant, "openai", {"config": {"base_url": base_url, "model": "m"}})

    assert _reason(r, "base_url") == reason
    missing = await client.get("/api/v1/connectors/openai", headers=tenant.headers)
    assert missing.status_code == 404
    assert network.outside == []


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("anthropic", {"config": {}, "secrets": {"api_key": "sk-ant-x"}}),
        ("enrichment", {"config": {"provider": "clearbit"}, "secrets": {"api_key": "k"}}),
        ("shipping", {"config": {"vendor": "shippo"}, "secrets": {"api_key": "k"}}),
        (
            "twilio",
            {
                "config": {"account_sid": "AC1", "from_number": "+15550001111"},
                "secrets": {"auth_token": "t"},
            },
        ),
    ],
)
async def test_every_connector_base_url_is_judged(
    client: httpx.AsyncClient, tenant: TenantLogin, provider: str, body: dict[str, Any]
) -> None:
    body["config"]["base_url"] = "http://169.254.169.254/"

    r = await _put(client, tenant, provider, body)

    assert _reason(r, "base_url") == "169.254.169.254 is a link-local address"


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("localhost", "localhost is a local name"),
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("redis", "redis is a single-label name; use a fully qualified public name"),
        ("mail.corp.example", "mail.corp.example resolves to a refused address (10.0.0.25 is a "
         "private address)"),
    ],
)  # fmt: skip
async def test_an_smtp_host_inside_the_servers_network_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin, network: Network, host: str, reason: str
) -> None:
    network.names["mail.corp.example"] = ["93.184.215.14", "10.0.0.25"]
    config = {"host": host, "port": 587, "from_address": "hello@acme.example"}

    r = await _put(client, tenant, "smtp", {"config": config})

    assert _reason(r, "host") == reason


async def test_public_endpoints_are_accepted_and_a_name_that_does_not_resolve_yet_too(
    client: httpx.AsyncClient, tenant: TenantLogin, network: Network
) -> None:
    network.names.update({"api.openai.com": ["104.18.7.192"], "mail.acme.example": None})

    llm = await _put(
        client, tenant, "openai", {"config": {"base_url": "https://api.openai.com/v1"}}
    )
    smtp = await _put(
        client,
        tenant,
        "smtp",
        {"config": {"host": "mail.acme.example", "port": 587, "from_address": "a@acme.example"}},
    )

    assert llm.status_code == 200, llm.text
    assert smtp.status_code == 200, smtp.text
    assert network.lookups == ["api.openai.com", "mail.acme.example"]
    assert network.outside == []


@allowed
async def test_a_self_hosted_model_on_localhost_works_when_the_operator_allows_private_targets(
    client: httpx.AsyncClient, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    r = await _put(client, tenant, "openai", {"config": {"base_url": fake_openai.url}})
    assert r.status_code == 200, r.text

    result = await gateway.generate(
        ctx_of(tenant),
        feature="test",
        task="draft",
        template="support.draft",
        variables={"message": "Where is my order?"},
    )

    assert result.provider == "openai"
    assert len(fake_openai.requests) == 1


# --- at call time: configs stored before the rule ----------------------------------------


async def _store(db: Database, tenant: TenantLogin, provider: str, config: dict[str, Any]) -> None:
    """A connector as a server before this rule could have stored it (no judgement)."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        session.add(ConnectorConfig(tenant_id=tenant.tenant_id, provider=provider, config=config))


async def test_a_stored_llm_on_loopback_is_refused_and_the_local_provider_answers(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await _store(db, tenant, "openai", {"base_url": fake_openai.url, "model": "gpt-test"})

    result = await gateway.generate(
        ctx_of(tenant),
        feature="test",
        task="draft",
        template="support.draft",
        variables={"message": "Where is my order?"},
    )

    assert result.provider == "local"
    assert fake_openai.requests == []
    [refused, answered] = result.attempts
    assert refused["provider"] == "openai"
    assert refused["detail"] == "endpoint refused: 127.0.0.1 is a loopback address"
    assert refused["retryable"] is False  # one try: another would be refused the same way
    assert answered["outcome"] == "ok"
    [call] = await calls_of(db, tenant)
    assert call.provider == "local"


async def test_a_stored_llm_name_that_resolves_inside_is_refused_before_connecting(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, network: Network
) -> None:
    network.names["llm.corp.example"] = ["10.9.8.7"]
    await _store(db, tenant, "openai", {"base_url": "http://llm.corp.example/v1"})

    result = await gateway.generate(
        ctx_of(tenant),
        feature="test",
        task="draft",
        template="support.draft",
        variables={"message": "Where is my order?"},
    )

    assert result.provider == "local"
    assert result.attempts[0]["detail"] == (
        "endpoint refused: llm.corp.example resolves to a refused address "
        "(10.9.8.7 is a private address)"
    )
    assert network.lookups == ["llm.corp.example"]
    assert network.outside == []


@allowed
async def test_a_model_error_repeats_the_status_and_the_vendors_text_fields_only(
    fake_openai: FakeLlmServer,
) -> None:
    fake_openai.script(
        Reply(
            status=400,
            body={
                "error": {
                    "type": {"leaked": "internal type"},
                    "message": {"rows": ["customer 1", "customer 2"]},
                }
            },
        ),
        Reply(
            status=400,
            body={"error": {"type": "invalid_request_error", "message": "no model llama9"}},
        ),
    )
    provider = OpenAICompatibleProvider(fake_openai.url, None, "m")
    request = CompletionRequest(task="draft", messages=(ChatMessage("user", "hi"),))

    with pytest.raises(ProviderError) as internal:
        await provider.complete(request)
    with pytest.raises(ProviderError) as vendor:
        await provider.complete(request)

    assert internal.value.detail == "HTTP 400"
    assert vendor.value.detail == "HTTP 400: invalid_request_error: no model llama9"


# enrichment runs in the lead flow, so this one uses a whole server


@pytest.fixture
async def server(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """API plus dispatcher and durable workflows, as ``bizos serve`` runs them."""
    running = settings.model_copy(
        update={"workflows_enabled": True, "executor_id": f"test-{uuid.uuid4().hex[:8]}"}
    )
    app = create_app(running, database=db, workers=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_a_stored_enrichment_endpoint_on_loopback_fails_the_step_and_the_lead_goes_on(
    server: httpx.AsyncClient, db: Database
) -> None:
    tenant = await signup(server)
    with clearbit_server() as provider:
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            session.add(
                ConnectorConfig(
                    tenant_id=tenant.tenant_id,
                    provider="enrichment",
                    config={"provider": "clearbit", "base_url": provider.base_url},
                    secrets={"api_key": _sealed(tenant, "enrichment", "api_key", provider.api_key)},
                )
            )

        created = await post_lead(server, tenant, email="ada@contoso.com", company="Contoso")
        lead = await _until(server, tenant, created["id"])
        lookups = provider.lookups()

    assert lookups == 0
    assert lead["enrichment_status"] == "failed"
    assert lead["owner_id"] == tenant.user_id
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        failed = await session.scalar(
            sa.select(Event).where(
                Event.type == "crm.lead.enrichment_failed", Event.aggregate_id == created["id"]
            )
        )
    assert failed is not None
    assert failed.data["error"] == "clearbit endpoint refused: 127.0.0.1 is a loopback address"


def _sealed(tenant: TenantLogin, provider: str, name: str, value: str) -> str:
    return crypto.encrypt(value, aad=secret_aad(tenant.tenant_id, provider, name))


async def _until(client: httpx.AsyncClient, tenant: TenantLogin, lead_id: str) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            lead = await get_lead(client, tenant, lead_id)
            if lead["enrichment_status"] != "pending" and lead["owner_id"]:
                return lead
            await asyncio.sleep(0.05)


async def test_a_stored_shipping_endpoint_on_loopback_is_refused_without_a_request() -> None:
    box = Parcel(length=Decimal(30), width=Decimal(20), height=Decimal(10), weight=Decimal(1))
    address = {"name": "A", "street1": "1 Road", "city": "Springfield", "country": "US"}
    with shippo_server() as server:
        provider = ShippoProvider.from_connector(
            {"vendor": "shippo", "base_url": server.base_url}, {"api_key": server.api_key}
        )
        with pytest.raises(ShippingRefused) as raised:
            await provider.buy_label(
                LabelRequest(
                    reference="SO-1", address_from=address, address_to=address, parcels=(box,)
                )
            )
        assert server.requests == []
    assert str(raised.value) == "shippo endpoint refused: 127.0.0.1 is a loopback address"


async def test_a_stored_enrichment_endpoint_is_refused_for_good_not_retried() -> None:
    with clearbit_server() as server:
        enricher = ClearbitEnricher.from_connector(
            {"base_url": server.base_url}, {"api_key": server.api_key}
        )
        with pytest.raises(EnrichmentRefused):
            await enricher.lookup_company("contoso.com")
        assert server.lookups() == 0


async def test_a_stored_twilio_endpoint_on_loopback_is_refused_for_good() -> None:
    with twilio_server() as server:
        channel = TwilioSmsChannel.from_connector(
            {
                "account_sid": server.account_sid,
                "from_number": "+15550001111",
                "base_url": server.base_url,
            },
            {"auth_token": server.auth_token},
        )
        with pytest.raises(DeliveryError) as raised:
            await channel.send(OutboundSms(to="+15551230001", body="Shipped"))
        assert server.requests == []
    assert raised.value.retryable is False
    assert raised.value.detail == "twilio endpoint refused: 127.0.0.1 is a loopback address"


MESSAGE = OutboundEmail(
    sender="hello@acme.example",
    to=("ada@example.com",),
    subject="Your order",
    text="It has shipped.",
    message_id="<order-1@acme.example>",
)


async def test_a_stored_smtp_host_on_loopback_is_refused_without_connecting() -> None:
    async with smtp_server() as server:
        channel = SmtpEmailChannel.from_connector(
            {"host": server.host, "port": server.port, "from_address": "hello@acme.example"}, {}
        )
        with pytest.raises(DeliveryError) as raised:
            await channel.send(MESSAGE)
        assert server.received == []
    assert raised.value.retryable is False
    assert raised.value.detail == "SMTP host refused: 127.0.0.1 is a loopback address"


async def test_a_stored_smtp_name_that_resolves_inside_is_refused_before_connecting(
    network: Network,
) -> None:
    network.names["mail.corp.example"] = ["2001:db8::25"]
    channel = SmtpEmailChannel.from_connector(
        {"host": "mail.corp.example", "port": 25, "from_address": "hello@acme.example"}, {}
    )

    with pytest.raises(DeliveryError) as raised:
        await channel.send(MESSAGE)

    assert raised.value.detail == (
        "SMTP host refused: mail.corp.example resolves to a refused address "
        "(2001:db8::25 is a documentation address)"
    )
    assert network.lookups == ["mail.corp.example"]
    assert network.outside == []


# --- SMTP connects to the address it judged, and TLS is for the name -------------------


def _tls_for(name: str, directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for ``name`` only (no address in it), and a
    client context that trusts it and checks the host name."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    return server, ssl.create_default_context(cafile=str(cert_path))


@asynccontextmanager
async def implicit_tls_smtp_server(tls: ssl.SSLContext) -> AsyncIterator[SmtpServer]:
    """An SMTP server on 127.0.0.1 that speaks TLS from the first byte (port 465 style)."""
    state = SmtpServer("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(state, hostname="mx.test"), "127.0.0.1", 0, ssl=tls
    )
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


@allowed
async def test_smtp_with_starttls_reaches_the_resolved_address_and_verifies_the_name(
    network: Network, tmp_path: Path
) -> None:
    network.names["mail.selfhosted.example"] = ["127.0.0.1"]
    server_tls, client_tls = _tls_for("mail.selfhosted.example", tmp_path)
    async with smtp_server(tls_context=server_tls, require_starttls=True) as server:
        channel = SmtpEmailChannel(
            host="mail.selfhosted.example",
            port=server.port,
            starttls=True,
            tls_context=client_tls,
            allow_private=True,
        )
        await channel.send(MESSAGE)

    assert network.lookups == ["mail.selfhosted.example"]
    assert [mail.tls for mail in server.received] == [True]


@allowed
async def test_smtp_with_implicit_tls_reaches_the_resolved_address_and_verifies_the_name(
    network: Network, tmp_path: Path
) -> None:
    network.names["smtps.selfhosted.example"] = ["127.0.0.1"]
    server_tls, client_tls = _tls_for("smtps.selfhosted.example", tmp_path)
    async with implicit_tls_smtp_server(server_tls) as server:
        channel = SmtpEmailChannel(
            host="smtps.selfhosted.example",
            port=server.port,
            use_tls=True,
            tls_context=client_tls,
            allow_private=True,
        )
        await channel.send(MESSAGE)

    assert network.lookups == ["smtps.selfhosted.example"]
    assert [mail.rcpt_tos for mail in server.received] == [["ada@example.com"]]


@allowed
async def test_with_private_targets_allowed_a_stored_local_smtp_host_sends(
    network: Network,
) -> None:
    async with smtp_server() as server:
        channel = SmtpEmailChannel.from_connector(
            {"host": "127.0.0.1", "port": server.port, "from_address": "hello@acme.example"}, {}
        )
        await channel.send(MESSAGE)

    assert len(server.received) == 1
