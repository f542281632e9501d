"""Local servers that speak the vendors' protocols, for testing the real channels:
an SMTP server (aiosmtpd) and a Twilio Messages API look-alike (stdlib HTTP server).
Both listen on 127.0.0.1 on a port the OS picks."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email
import email.policy
import ipaddress
import json
import ssl
import threading
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# --- SMTP ------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: str | None
    tls: bool

    @property
    def message(self) -> EmailMessage:
        # As a mail client reads it: wire CRLF line ends become local ones.
        parsed = email.message_from_bytes(
            self.content.replace(b"\r\n", b"\n"), policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[ReceivedMail] = field(default_factory=list)
    # address -> SMTP reply for RCPT TO, e.g. "550 5.1.1 no such user"
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data if session.authenticated else None
        self.received.append(
            ReceivedMail(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                content=bytes(envelope.original_content or b""),
                login=login.decode() if isinstance(login, bytes) else login,
                tls=session.ssl is not None,
            )
        )
        return "250 2.0.0 accepted"


@asynccontextmanager
async def smtp_server(
    *,
    tls_context: ssl.SSLContext | None = None,
    require_starttls: bool = False,
    credentials: tuple[str, str] | None = None,
) -> AsyncIterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 in this event loop. ``credentials`` turns on (and
    requires) AUTH; ``tls_context`` offers STARTTLS."""
    state = SmtpServer("127.0.0.1", 0)

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            credentials is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == credentials
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

    def protocol() -> SMTP:
        return SMTP(
            state,
            hostname="mx.test",
            tls_context=tls_context,
            require_starttls=require_starttls,
            authenticator=authenticate if credentials else None,
            auth_required=credentials is not None,
            auth_require_tls=False,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol, state.host, 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext


def self_signed_tls(directory: Path) -> Tls:
    """A certificate for 127.0.0.1, a server context using it and a client context that
    trusts it (and checks the host name), so STARTTLS is tested with verification on."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
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
    client = ssl.create_default_context(cafile=str(cert_path))
    return Tls(server=server, client=client)


# --- Twilio Messages API ---------------------------------------------------------------


@dataclass
class TwilioServer:
    base_url: str
    account_sid: str
    auth_token: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Force the next answers: (status, JSON body), consumed in order.
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


@contextmanager
def twilio_server(
    account_sid: str = "AC0123456789abcdef", auth_token: str = "tw-token"
) -> Iterator[TwilioServer]:
    """A threaded HTTP server answering ``POST /2010-04-01/Accounts/{sid}/Messages.json``
    as Twilio documents it: form body, basic auth, 201 with the message resource."""
    state = TwilioServer("", account_sid, auth_token)
    path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
            auth = self.headers.get("Authorization", "")
            state.requests.append(
                {
                    "path": self.path,
                    "form": form,
                    "auth": auth,
                    "content_type": self.headers.get("Content-Type"),
                }
            )
            expected = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
            if self.path != path:
                self._answer(404, {"code": 20404, "message": "not found", "status": 404})
            elif auth != expected:
                self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
            elif state.script:
                self._answer(*state.script.pop(0))
            elif not form.get("To", "").startswith("+"):
                self._answer(
                    400,
                    {
                        "code": 21211,
                        "status": 400,
                        "message": "The 'To' number is not a valid phone number.",
                    },
                )
            else:
                sid = f"SM{len(state.requests):032x}"
                self._answer(
                    201,
                    {
                        "sid": sid,
                        "status": "queued",
                        "to": form["To"],
                        "from": form.get("From"),
                        "body": form.get("Body"),
                        "account_sid": account_sid,
                    },
                )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
