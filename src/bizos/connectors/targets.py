"""Where connectors may call: the endpoints a tenant admin sets are tenant-chosen targets.

An LLM, enrichment, shipping or Twilio ``base_url`` and the SMTP host come from
``PUT /api/v1/connectors/{provider}``, so in a shared deployment any tenant could point
them at the server's own network (a database port, ``169.254.169.254``, Redis) and read
the answer back through an error message. They follow the webhook policy of
:mod:`bizos.core.egress`, unless the operator sets
``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS`` (single-company self-hosting with a model or a
mail relay on the local network):

* at configuration, :func:`refuse_config_targets` judges every endpoint as written and,
  when its name resolves, every address it resolves to (422 with the reason; a name that
  does not resolve yet is accepted);
* at every call, :func:`http_client` connects only to an address that passed, resolving
  the name once (no second lookup for DNS rebinding to answer), and follows no
  redirects; :func:`open_smtp_socket` does the same for SMTP. A config stored before
  the rule is refused here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from bizos.core.config import get_settings
from bizos.core.egress import (
    GuardedNetworkBackend,
    GuardedTransport,
    TargetRefused,
    literal_address,
    refuse_address,
    refuse_host,
    refuse_url,
    system_resolver,
)
from bizos.core.errors import Unprocessable, field_error

__all__ = [
    "TargetRefused",
    "allow_private_targets",
    "http_client",
    "open_smtp_socket",
    "refuse_config_targets",
]

# Config keys that name an endpoint the server calls, judged for every provider.
URL_KEYS = ("base_url",)
# How long configuring a connector waits for a name to resolve before accepting it as is.
RESOLVE_SECONDS = 3.0


def allow_private_targets() -> bool:
    """``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS``: whether endpoints may be private."""
    return get_settings().connector_allow_private_targets


# --- at configuration --------------------------------------------------------------------


async def refuse_config_targets(
    provider: str, config: Mapping[str, Any], *, allow_private: bool
) -> None:
    """422 naming each endpoint of a (validated) ``config`` that the server must not call.

    Judged as written first (scheme, credentials, local names, every spelling of a local
    address); then a name is resolved once and each answer judged, so an obvious mistake
    is told now rather than at the first call. A name that does not resolve (yet) passes:
    every call resolves and judges it again.
    """
    if allow_private:
        return
    errors = []
    for key in URL_KEYS:
        url = config.get(key)
        if url is None:
            continue
        reason = refuse_url(str(url))
        if reason is None:
            parts = urlsplit(str(url))
            default_port = 443 if parts.scheme.lower() == "https" else 80
            reason = await _refuse_resolved(parts.hostname or "", parts.port or default_port)
        if reason is not None:
            errors.append(field_error(["body", "config", key], reason))
    if provider == "smtp" and config.get("host") is not None:
        host = str(config["host"])
        reason = refuse_host(host) or await _refuse_resolved(host, int(config.get("port") or 25))
        if reason is not None:
            errors.append(field_error(["body", "config", "host"], reason))
    if errors:
        raise Unprocessable("connector endpoints must be publicly reachable", errors=errors)


async def _refuse_resolved(host: str, port: int) -> str | None:
    if literal_address(host) is not None:
        return None  # an address was judged as written
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            answers = await system_resolver(host, port)
    except (OSError, TimeoutError, UnicodeError):
        return None
    for answer in answers:
        reason = refuse_address(ipaddress.ip_address(answer))
        if reason is not None:
            return f"{host} resolves to a refused address ({reason})"
    return None


# --- at call time ------------------------------------------------------------------------


class EndpointTransport(GuardedTransport):
    """:class:`GuardedTransport` that also judges each request's URL as written (scheme,
    credentials), the rule a connector's endpoint passed when it was configured."""

    def __init__(self, *, allow_private: bool) -> None:
        super().__init__(allow_private=allow_private, verify=_tls_context())
        self.allow_private = allow_private

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.allow_private:
            reason = refuse_url(str(request.url))
            if reason is not None:
                raise TargetRefused(reason, request=request)
        return await super().handle_async_request(request)


@cache
def _tls_context() -> ssl.SSLContext:
    """The CA bundle as httpx builds it by default (SSL_CERT_FILE/SSL_CERT_DIR honoured),
    loaded once rather than for every short-lived client."""
    return httpx.create_ssl_context(trust_env=True)


def http_client(*, timeout: float | httpx.Timeout, allow_private: bool) -> httpx.AsyncClient:
    """A client for a tenant-chosen endpoint: the name is resolved once per connection,
    every answer is judged and the connection goes to one that passed (``Host``, SNI and
    the certificate stay the name's). Redirects are not followed, and the environment's
    HTTP(S)_PROXY is not used (a proxy would resolve the name itself).

    A refusal raises :class:`TargetRefused` (an ``httpx.ConnectError``) before any byte
    is sent.
    """
    return httpx.AsyncClient(
        transport=EndpointTransport(allow_private=allow_private),
        timeout=timeout,
        follow_redirects=False,
    )


async def open_smtp_socket(
    host: str, port: int, *, allow_private: bool, within: float
) -> socket.socket:
    """A TCP connection to an SMTP ``host``: resolved once, every answer judged, connected
    to the first answer that takes it. The caller speaks SMTP on it and keeps ``host``
    as the name for TLS (SNI and the certificate check). ``within`` bounds the lookup
    and the connection together.

    Raises :class:`TargetRefused` for a host or address that must not be called, and
    ``OSError`` (``TimeoutError`` included) when no address could be reached.
    """
    backend = GuardedNetworkBackend(allow_private=allow_private)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(within):
        try:
            addresses = await backend.addresses(host, port, within=within)
        except httpcore.ConnectTimeout as exc:
            raise TimeoutError(str(exc)) from exc
        except httpcore.ConnectError as exc:  # the name does not resolve
            raise OSError(str(exc)) from exc
        failure: OSError | None = None
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, (address, port))
            except OSError as exc:
                sock.close()
                failure = exc
                continue
            except BaseException:
                sock.close()
                raise
            return sock
    assert failure is not None  # addresses() never answers an empty list
    raise failure
