"""Webhook targets cannot reach the server's own network: every spelling of a local or
private address is refused at registration, and delivery connects only to the address
that passed the check (so DNS rebinding cannot swap it afterwards)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.egress import GuardedTransport, refuse_url
from bizos.modules.webhooks import service
from bizos.modules.webhooks.delivery import WebhookSender
from bizos.modules.webhooks.schemas import WebhookEndpointCreate
from tests.conftest import TenantLogin
from tests.modules.events.helpers import problem
from tests.modules.webhooks.receiver import Receiver, running_receiver, verify_standard_webhook
from tests.modules.webhooks.test_delivery import attempts, emit
from tests.modules.webhooks.test_endpoints import ENDPOINTS, create_endpoint

PUBLIC_IP = "93.184.216.34"  # a globally routable address (example.com's former one)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # This module registers endpoints the way production does: private targets refused.
    return settings.model_copy(update={"webhook_allow_private_targets": False})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


# --- registration -----------------------------------------------------------------------

# (url, what the refusal says)
REFUSED = [
    ("http://localhost./hook", "localhost. ends in a dot; use the name without it"),
    (
        "https://hooks.example.com./hook",
        "hooks.example.com. ends in a dot; use the name without it",
    ),
    ("http://intranet/hook", "intranet is a single-label name; use a fully qualified public name"),
    ("http://localhost/hook", "localhost is a local name"),
    ("http://admin.localhost/hook", "admin.localhost is a local name"),
    ("http://printer.local/hook", "printer.local is a local name"),
    ("http://metadata.google.internal/x", "metadata.google.internal is a local name"),
    ("http://127.0.0.1:8080/x", "127.0.0.1 is a loopback address"),
    ("http://2130706433/x", "127.0.0.1 is a loopback address"),  # decimal
    ("http://0177.0.0.1/x", "127.0.0.1 is a loopback address"),  # octal
    ("http://0x7f.0.0.1/x", "127.0.0.1 is a loopback address"),  # hex
    ("http://0x7f000001/x", "127.0.0.1 is a loopback address"),  # one hex number
    ("http://127.1/x", "127.0.0.1 is a loopback address"),  # short form
    ("http://0.0.0.0/x", "0.0.0.0 is the unspecified address"),
    ("http://10.0.0.5/x", "10.0.0.5 is a private address"),
    ("http://172.16.3.4/x", "172.16.3.4 is a private address"),
    ("http://192.168.1.1/x", "192.168.1.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
    ("http://100.64.0.1/x", "100.64.0.1 is a shared (carrier-grade NAT) address"),
    ("http://224.0.0.1/x", "224.0.0.1 is a multicast address"),
    ("http://240.0.0.1/x", "240.0.0.1 is a reserved address"),
    ("http://192.0.2.10/x", "192.0.2.10 is a documentation address"),
    ("http://198.51.100.7/x", "198.51.100.7 is a documentation address"),
    ("http://203.0.113.9/x", "203.0.113.9 is a documentation address"),
    ("http://[::1]/x", "::1 is a loopback address"),
    ("http://[::]/x", ":: is the unspecified address"),
    ("http://[fe80::1]/x", "fe80::1 is a link-local address"),
    ("http://[fec0::1]/x", "fec0::1 is a site-local address"),
    ("http://[fd12:3456::1]/x", "fd12:3456::1 is a unique local address"),
    ("http://[ff02::1]/x", "ff02::1 is a multicast address"),
    ("http://[2001:db8::1]/x", "2001:db8::1 is a documentation address"),
    (
        "http://[::ffff:127.0.0.1]/x",
        "::ffff:7f00:1 is an IPv4-mapped address for 127.0.0.1, a loopback address",
    ),
    (
        "http://[::ffff:a9fe:a9fe]/x",
        "::ffff:a9fe:a9fe is an IPv4-mapped address for 169.254.169.254, a link-local address",
    ),
    ("http://[::7f00:1]/x", "::7f00:1 is a deprecated IPv4-compatible address"),
    (
        "http://[64:ff9b::7f00:1]/x",
        "64:ff9b::7f00:1 is a NAT64 address for 127.0.0.1, a loopback address",
    ),
    (
        "http://[64:ff9b::a00:5]/x",
        "64:ff9b::a00:5 is a NAT64 address for 10.0.0.5, a private address",
    ),
    ("http://[64:ff9b:1::5db8:d822]/x", "64:ff9b:1::5db8:d822 is a local-use NAT64 address"),
    (
        "http://[2002:7f00:1::]/x",
        "2002:7f00:1:: is a 6to4 address for 127.0.0.1, a loopback address",
    ),
    (
        "http://[2002:a9fe:a9fe::1]/x",
        "2002:a9fe:a9fe::1 is a 6to4 address for 169.254.169.254, a link-local address",
    ),
    (  # Teredo: server 65.54.227.120, client 127.0.0.1 (stored inverted, as Teredo does)
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x",
        "2001:0:4136:e378:8000:63bf:80ff:fffe is a Teredo address for 127.0.0.1,"
        " a loopback address",
    ),
    (  # Teredo: server 10.0.0.1 (private), client 93.184.216.34
        "http://[2001:0:a00:1::a247:27cb]/x",
        "2001:0:a00:1::a247:27cb is a Teredo address with server 10.0.0.1, a private address",
    ),
    (  # Teredo with public server and client: still a tunnel, not a global address
        "http://[2001:0:4136:e378::a247:27cb]/x",
        "2001:0:4136:e378::a247:27cb is a Teredo tunnel address",
    ),
]

ALLOWED = [
    "https://hooks.example.com/bizos",
    f"https://{PUBLIC_IP}/hook",
    "http://[2606:4700:4700::1111]/x",
    "http://[2002:5db8:d822::1]/x",  # 6to4 for a public address
    "http://[::ffff:5db8:d822]/x",  # IPv4-mapped public address
    "http://[64:ff9b::5db8:d822]/x",  # what DNS64 answers for a public IPv4-only host
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_the_policy_names_why_a_target_is_refused(url: str, reason: str) -> None:
    assert refuse_url(url) == reason


@pytest.mark.parametrize("url", ALLOWED)
def test_the_policy_lets_public_targets_through(url: str) -> None:
    assert refuse_url(url) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://files.example.com/x", "only http and https URLs are allowed"),
        ("https://user:pw@hooks.example.com/x", "the URL must not contain a user name or password"),
        ("https://:pw@hooks.example.com/x", "the URL must not contain a user name or password"),
    ],
)
def test_scheme_and_credentials_are_refused_even_where_private_targets_are_allowed(
    url: str, reason: str
) -> None:
    assert refuse_url(url, allow_private=True) == reason
    assert refuse_url("http://localhost:8080/x", allow_private=True) is None


async def test_registering_each_local_or_private_spelling_is_a_422_saying_why(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    answers: dict[str, Any] = {}
    for url, _reason in REFUSED:
        r = await client.post(
            ENDPOINTS, headers=tenant.headers, json={"url": url, "events": ["crm.*"]}
        )
        body = problem(r, 422)
        answers[url] = (body["detail"], body["errors"])
    assert answers == {
        url: (
            "webhook endpoints must be publicly reachable",
            [{"loc": ["body", "url"], "msg": reason}],
        )
        for url, reason in REFUSED
    }
    assert (await client.get(ENDPOINTS, headers=tenant.headers)).json()["items"] == []


async def test_public_endpoints_register_in_every_form(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for url in ALLOWED:
        await create_endpoint(client, tenant, url=url)
    listed = (await client.get(ENDPOINTS, headers=tenant.headers)).json()["items"]
    assert len(listed) == len(ALLOWED)


# --- delivery ---------------------------------------------------------------------------


@dataclass
class ScriptedDns:
    """The system resolver, answering chosen names from a script (each lookup takes the
    next answer; the last repeats) and recording every name it is asked for."""

    scripts: dict[str, list[list[str]]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def script(self, name: str, *answers: list[str]) -> None:
        self.scripts[name] = list(answers)

    def lookups(self, name: str) -> int:
        return self.asked.count(name)


@pytest.fixture(autouse=True)
def outside_addresses_unreachable(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No test here sends a packet off this machine: a connection to a non-loopback
    address is recorded and refused before any socket is opened."""
    tried: list[str] = []
    real = httpcore.AnyIOBackend.connect_tcp

    async def connect_tcp(self: Any, host: str, port: int, *args: Any, **kw: Any) -> Any:
        if not ipaddress.ip_address(host).is_loopback:
            tried.append(host)
            raise httpcore.ConnectError(f"tests do not connect to {host}")
        return await real(self, host, port, *args, **kw)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)
    return tried


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> ScriptedDns:
    scripted = ScriptedDns()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in scripted.scripts:
            return real(host, port, *args, **kwargs)
        scripted.asked.append(name)
        answers = scripted.scripts[name]
        current = answers.pop(0) if len(answers) > 1 else answers[0]
        result = []
        for address in current:
            if ipaddress.ip_address(address).version == 6:
                result.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return result

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return scripted


def sender_for(db: Database, settings: Settings, *, allow_private: bool) -> WebhookSender:
    return WebhookSender(
        db,
        settings.model_copy(
            update={
                "webhook_allow_private_targets": allow_private,
                "webhook_timeout_seconds": 2.0,
                "webhook_max_attempts": 3,
            }
        ),
    )


async def test_dns_rebinding_after_the_check_cannot_reach_a_local_server(
    app: Any,
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
    dns: ScriptedDns,
    outside_addresses_unreachable: list[str],
) -> None:
    name = "rebind.bizos-test.example"
    # The first lookup answers a public address; every later one answers loopback.
    dns.script(name, [PUBLIC_IP], ["127.0.0.1"])
    endpoint = await create_endpoint(client, tenant, url=f"http://{name}:{receiver.port}/hook")
    await emit(app, db, tenant, "crm.lead.created")

    sender = sender_for(db, settings, allow_private=False)
    try:
        assert await sender.deliver_due() == 1
    finally:
        await sender.aclose()

    assert receiver.at("/hook") == []
    assert dns.lookups(name) == 1  # checked and connected on the same answer
    assert outside_addresses_unreachable == [PUBLIC_IP]  # the address that passed
    [attempt] = await attempts(client, tenant, endpoint["id"])
    assert attempt["status"] == "failed" and attempt["response_status"] is None


async def test_a_name_with_any_private_answer_is_not_called_at_all(
    app: Any,
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
    dns: ScriptedDns,
) -> None:
    name = "mixed.bizos-test.example"
    dns.script(name, [PUBLIC_IP, "127.0.0.1"])
    endpoint = await create_endpoint(client, tenant, url=f"http://{name}:{receiver.port}/hook")
    await emit(app, db, tenant, "crm.lead.created")

    sender = sender_for(db, settings, allow_private=False)
    try:
        await sender.deliver_due()
    finally:
        await sender.aclose()

    assert receiver.at("/hook") == []
    [attempt] = await attempts(client, tenant, endpoint["id"])
    assert attempt["error"] == (
        f"refused: {name} resolves to a refused address (127.0.0.1 is a loopback address)"
    )


async def test_an_endpoint_stored_before_the_stricter_rules_is_refused_at_delivery(
    app: Any,
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
) -> None:
    # Registered while private targets were allowed, sent after they no longer are.
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        created = await service.create_endpoint(
            session,
            Context(tenant_id=tenant.tenant_id),
            body=WebhookEndpointCreate(
                url=f"http://localhost.:{receiver.port}/old", events=["crm.*"]
            ),
            allow_private_targets=True,
        )
    endpoint = {"id": created.id}
    await emit(app, db, tenant, "crm.lead.created")

    sender = sender_for(db, settings, allow_private=False)
    try:
        await sender.deliver_due()
    finally:
        await sender.aclose()

    assert receiver.at("/old") == []
    [attempt] = await attempts(client, tenant, endpoint["id"])
    assert attempt["error"] == "refused: localhost. ends in a dot; use the name without it"


async def test_delivery_to_an_allowed_host_connects_to_its_checked_address_with_its_host_header(
    app: Any,
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
    dns: ScriptedDns,
) -> None:
    # Local targets are allowed only by explicit configuration (tests, development).
    name = "receiver.bizos-test.example"
    dns.script(name, ["127.0.0.1"], ["192.0.2.1"])  # a second lookup would go nowhere
    endpoint = await create_endpoint(client, tenant, url=f"http://{name}:{receiver.port}/hook")
    [lead] = await emit(app, db, tenant, "crm.lead.created")

    sender = sender_for(db, settings, allow_private=True)
    try:
        assert await sender.deliver_due() == 1
    finally:
        await sender.aclose()

    [request] = receiver.at("/hook")
    assert request.headers["host"] == f"{name}:{receiver.port}"
    assert request.headers["webhook-id"] == lead
    assert verify_standard_webhook(endpoint["secret"], request.headers, request.body)
    assert dns.lookups(name) == 1
    [attempt] = await attempts(client, tenant, endpoint["id"])
    assert (attempt["status"], attempt["response_status"]) == ("succeeded", 200)


async def test_a_redirect_is_the_receivers_answer_and_is_not_followed(
    app: Any,
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
    dns: ScriptedDns,
) -> None:
    name = "moved.bizos-test.example"
    dns.script(name, ["127.0.0.1"])
    receiver.scripts["/moved"] = [307]
    receiver.locations["/moved"] = receiver.url("/internal-admin")
    endpoint = await create_endpoint(client, tenant, url=f"http://{name}:{receiver.port}/moved")
    await emit(app, db, tenant, "crm.lead.created")

    sender = sender_for(db, settings, allow_private=True)
    try:
        await sender.deliver_due()
    finally:
        await sender.aclose()

    assert len(receiver.at("/moved")) == 1
    assert receiver.at("/internal-admin") == []
    [attempt] = await attempts(client, tenant, endpoint["id"])
    assert (attempt["status"], attempt["error"]) == ("failed", "HTTP 307")


# --- TLS: the name is verified although the connection goes to an address --------------


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def issue_certificate(directory: Path, name: str) -> TlsFiles:
    """A throwaway CA and a server certificate for ``name`` signed by it."""
    now = dt.datetime.now(dt.UTC)

    def build(subject: str, issuer: str, public: Any, signer: Any, *, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("bizos test CA", "bizos test CA", ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build(name, "bizos test CA", key.public_key(), ca_key, ca=False)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@dataclass
class TlsServer:
    port: int
    server_names: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@contextmanager
def running_tls_server(files: TlsFiles) -> Iterator[TlsServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    state = TlsServer(port=0)

    def remember_sni(_sock: Any, server_name: str | None, _ctx: Any) -> None:
        state.server_names.append(server_name)

    context.sni_callback = remember_sni

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hosts.append(self.headers["host"])
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


async def test_tls_is_verified_for_the_host_name_while_connecting_to_the_checked_address(
    tmp_path: Path, dns: ScriptedDns
) -> None:
    name, stranger = "secure.bizos-test.example", "other.bizos-test.example"
    dns.script(name, ["127.0.0.1"])
    dns.script(stranger, ["127.0.0.1"])  # same address, but the certificate is not its
    files = issue_certificate(tmp_path, name)
    trust = ssl.create_default_context(cafile=str(files.ca))
    with running_tls_server(files) as server:
        transport = GuardedTransport(allow_private=True, verify=trust)
        async with httpx.AsyncClient(transport=transport) as http:
            ok = await http.get(f"https://{name}:{server.port}/")
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(f"https://{stranger}:{server.port}/")
    assert ok.status_code == 200
    assert server.server_names[0] == name
    assert server.hosts == [f"{name}:{server.port}"]
    assert dns.lookups(name) == 1
