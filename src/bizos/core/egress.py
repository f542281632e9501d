"""Outbound HTTP to URLs that tenants choose: which targets are allowed, and a transport
that connects only to the address it has judged.

One policy, applied twice:

* :func:`refuse_url` judges a URL as written (scheme, credentials, the host name or
  literal address). It answers at registration with a clear reason, and runs again
  before each delivery.
* :class:`GuardedTransport` resolves the host once per new connection, judges *every*
  resolved address with :func:`refuse_address`, and connects to one of those addresses.
  The URL keeps its host name, so the ``Host`` header, TLS SNI and certificate
  verification are all for the name, not the address. There is no second lookup that
  DNS rebinding could answer differently.

Addresses are normalised before they are judged: an IPv6 address that carries an IPv4
one (IPv4-mapped, NAT64 ``64:ff9b::/96``, 6to4, Teredo) is judged by what it carries,
and numeric IPv4 spellings (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``) are
read the way the system resolver reads them (``inet_aton``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to, in the resolver's order
Resolver = Callable[[str, int], Awaitable[list[str]]]

_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated (RFC 4291 2.5.5.1)
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598 shared address space
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
# ipaddress folds these into is_private; named here only so the refusal can say which.
_DOCUMENTATION = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
# Names that never leave the local network (RFC 6761, 6762, 8375; ICANN's .internal).
_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa")
# Hosts that inet_aton might read as an IPv4 address (digits, hex, dots).
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$", re.I)


class TargetRefused(httpx.ConnectError):
    """The target's address is not one outbound requests may go to."""


# --- the policy -------------------------------------------------------------------------


def _kind(address: IPAddress) -> str | None:
    """What makes a (normalised) address unfit, in words; None when it is public."""
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if any(address in network for network in _DOCUMENTATION):
        return "a documentation address"
    if address in _CGNAT:
        return "a shared (carrier-grade NAT) address"
    if address in _UNIQUE_LOCAL:
        return "a unique local address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a globally reachable address"
    return None


def refuse_address(address: IPAddress) -> str | None:
    """Why outbound requests must not go to ``address``; None when they may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return f"{address} has a zone index, which only names a local link"
        carried: list[tuple[str, ipaddress.IPv4Address]] = []
        if address.ipv4_mapped is not None:
            carried.append(("an IPv4-mapped address for", address.ipv4_mapped))
        elif address in _NAT64_WELL_KNOWN:
            carried.append(
                ("a NAT64 address for", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
            )
        elif address in _NAT64_LOCAL_USE:
            return f"{address} is a local-use NAT64 address"
        elif address in _IPV4_COMPATIBLE and int(address) > 1:
            return f"{address} is a deprecated IPv4-compatible address"
        elif address.sixtofour is not None:
            carried.append(("a 6to4 address for", address.sixtofour))
        elif address.teredo is not None:
            server, client = address.teredo
            carried += [("a Teredo address with server", server), ("a Teredo address for", client)]
        for how, ipv4 in carried:
            kind = _kind(ipv4)
            if kind is not None:
                return f"{address} is {how} {ipv4}, {kind}"
        if address.ipv4_mapped is not None or address in _NAT64_WELL_KNOWN:
            return None  # the carried IPv4 address is the real destination, and it is public
        if address.teredo is not None:
            return f"{address} is a Teredo tunnel address"
    kind = _kind(address)
    return None if kind is None else f"{address} is {kind}"


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, read as the resolver would read it; None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def refuse_host(host: str) -> str | None:
    """Why ``host`` (a name or a literal address) must not be called; None when it may."""
    host = host.lower()
    if not host:
        return "the URL has no host"
    address = literal_address(host)
    if address is not None:
        return refuse_address(address)
    if host.endswith("."):
        return f"{host} ends in a dot; use the name without it"
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
        return f"{host} is a local name"
    if "." not in host:
        return f"{host} is a single-label name; use a fully qualified public name"
    return None


def refuse_url(url: str, *, allow_private: bool = False) -> str | None:
    """Why ``url`` must not be called, judged as written; None when it may be.

    ``allow_private`` (development and tests only) lets local and private hosts through;
    the scheme and credential rules hold regardless.
    """
    # urllib's parser is lenient on purpose: a host that stricter parsers reject (such as
    # ``0177.0.0.1``) is still judged, and refused for what it means.
    try:
        parsed = urlsplit(url)
        host = parsed.hostname or ""
    except ValueError:
        return "the URL is not valid"
    if parsed.scheme.lower() not in ("http", "https"):
        return "only http and https URLs are allowed"
    if "@" in parsed.netloc:
        return "the URL must not contain a user name or password"
    if not host:
        return "the URL has no host"
    if allow_private:
        return None
    if ":" in host and literal_address(host) is None:
        return f"{host} is not a valid IPv6 address"
    return refuse_host(host)


# --- the transport ----------------------------------------------------------------------


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to through the system resolver, first answer first."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Connects to the host's address that passed :func:`refuse_address`, never re-resolving."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self._resolve = resolver or system_resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.addresses(host, port, within=timeout)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses() never answers an empty list
        raise failure

    async def addresses(self, host: str, port: int, *, within: float | None) -> list[str]:
        """Resolve ``host`` once and judge every answer; any bad answer refuses them all."""
        if not self.allow_private:
            refusal = refuse_host(host)
            if refusal is not None:
                raise TargetRefused(refusal)
        literal = literal_address(host)
        if literal is not None:
            return [str(literal)]
        try:
            resolved = await asyncio.wait_for(self._resolve(host, port), within)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not resolved:
            raise httpcore.ConnectError(f"{host} has no address")
        if not self.allow_private:
            for answer in resolved:
                refusal = refuse_address(ipaddress.ip_address(answer))
                if refusal is not None:
                    raise TargetRefused(f"{host} resolves to a refused address ({refusal})")
        return resolved

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("outbound requests do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, connecting through :class:`GuardedNetworkBackend`.

    Environment proxies are not used (a proxy would resolve the name itself). httpx has
    no public switch for the network backend yet, so the pool it builds is replaced by
    one that uses ours; the check below fails loudly should httpx change how it keeps it.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | str | bool = True,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(verify=verify, trust_env=False, limits=limits)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("this httpx version keeps its connection pool elsewhere")
        self.network_backend = GuardedNetworkBackend(allow_private=allow_private, resolver=resolver)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self.network_backend,
        )
