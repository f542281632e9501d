"""Email over SMTP with aiosmtplib.

Transport security follows the connector config: ``use_tls`` for implicit TLS (port
465); otherwise ``starttls`` True demands STARTTLS, False never upgrades, and None (the
default) upgrades whenever the server offers it. AUTH is used when a username is set.

The host is resolved once and the connection made to an address that was judged
(``connectors.targets``); TLS (SNI and the certificate check) is for the host name. A
tenant's connector (:meth:`SmtpEmailChannel.from_connector`) may not point inside the
server's network unless ``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS`` is set; a channel the
operator builds (the platform mail) keeps whatever host it was given.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import structlog

from bizos.connectors.base import (
    DeliveryError,
    OutboundEmail,
    SendResult,
    envelope_recipients,
    render_email,
)
from bizos.connectors.targets import TargetRefused, allow_private_targets, open_smtp_socket

log = structlog.get_logger("bizos.connectors.smtp")


def _classify(exc: Exception) -> DeliveryError:
    """Map an SMTP failure to a ``DeliveryError``: 4xx and network trouble may pass later."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        retryable = any(400 <= c < 500 for c in codes)
        return DeliveryError(
            f"recipients refused ({', '.join(map(str, codes))})", retryable=retryable
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"SMTP {exc.code}: {exc.message}", retryable=400 <= exc.code < 500)
    if isinstance(
        exc,
        (
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPTimeoutError,
            aiosmtplib.SMTPServerDisconnected,
            OSError,
        ),
    ):
        return DeliveryError(f"SMTP server unreachable: {type(exc).__name__}", retryable=True)
    # SMTPNotSupported and friends: the server cannot do what the config asks for.
    return DeliveryError(f"SMTP error: {type(exc).__name__}: {exc}", retryable=False)


class SmtpEmailChannel:
    provider = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        starttls: bool | None = None,
        use_tls: bool = False,
        timeout: float = 30.0,
        validate_certs: bool = True,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        allow_private: bool = True,
    ) -> None:
        """``allow_private`` False refuses a host inside the server's network (a tenant's
        choice: :meth:`from_connector` passes the platform setting)."""
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.starttls = starttls
        self.use_tls = use_tls
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.tls_context = tls_context
        self.local_hostname = local_hostname
        self.allow_private = allow_private

    def __repr__(self) -> str:  # never show the password
        return f"SmtpEmailChannel(host={self.host!r}, port={self.port}, user={self.username!r})"

    @classmethod
    def from_connector(
        cls, config: Mapping[str, Any], secrets: Mapping[str, str]
    ) -> SmtpEmailChannel:
        """Build from a validated ``smtp`` connector (see ``connectors.providers``): the
        host is the tenant's choice, judged unless the operator allows private targets."""
        return cls(
            host=str(config["host"]),
            port=int(config["port"]),
            username=config.get("username"),
            password=secrets.get("password"),
            starttls=config.get("starttls"),
            use_tls=bool(config.get("use_tls", False)),
            timeout=float(config.get("timeout_seconds", 30.0)),
            validate_certs=bool(config.get("validate_certs", True)),
            allow_private=allow_private_targets(),
        )

    def render(self, message: OutboundEmail) -> EmailMessage:
        return render_email(message)

    async def send(self, message: OutboundEmail) -> SendResult:
        mime = self.render(message)
        recipients = envelope_recipients(message)
        try:
            sock = await open_smtp_socket(
                self.host, self.port, allow_private=self.allow_private, within=self.timeout
            )
        except TargetRefused as exc:
            log.warning("smtp.host_refused", host=self.host, port=self.port, reason=str(exc))
            raise DeliveryError(f"SMTP host refused: {exc}", retryable=False) from exc
        except OSError as exc:
            raise self._send_failed(_classify(exc), retryable=True) from exc
        try:
            refused = await self._send_on(sock, mime, recipients)
        except (aiosmtplib.SMTPException, OSError) as exc:
            error = _classify(exc)
            raise self._send_failed(error, retryable=error.retryable) from exc
        if refused:
            # Some recipients took it; the message is out and must not be sent twice.
            log.warning("smtp.recipients_partly_refused", refused=len(refused))
        return SendResult(
            "sent",
            self.provider,
            message.message_id,
            detail={"refused": ",".join(sorted(refused))} if refused else {},
        )

    def _send_failed(self, error: DeliveryError, *, retryable: bool) -> DeliveryError:
        """Log a failed send (never the message) and give its ``error`` to raise."""
        log.warning(
            "smtp.send_failed",
            host=self.host,
            port=self.port,
            retryable=retryable,
            error=error.detail,
        )
        return error

    async def _send_on(
        self, sock: socket.socket, mime: EmailMessage, recipients: list[str]
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        """Speak SMTP on the connected ``sock``; aiosmtplib takes it over. ``hostname``
        stays the name, for SNI and the certificate check (implicit TLS and STARTTLS)."""
        try:
            refused, _reply = await aiosmtplib.send(
                mime,
                sender=mime["From"].addresses[0].addr_spec,
                recipients=recipients,
                hostname=self.host,
                sock=sock,
                username=self.username,
                password=self._password if self.username else None,
                start_tls=None if self.use_tls else self.starttls,
                use_tls=self.use_tls,
                timeout=self.timeout,
                validate_certs=self.validate_certs,
                tls_context=self.tls_context,
                local_hostname=self.local_hostname,
            )
        except BaseException:
            sock.close()  # in case it failed before aiosmtplib took the socket over
            raise
        return refused
