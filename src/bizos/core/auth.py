"""Credentials, principals and typed scope dependencies.

Two kinds of credential reach the API as ``Authorization: Bearer <token>``:

* an access token: a JWT (HS256, ``alg`` pinned, ``kid`` naming the signing key so keys
  can rotate) whose session must still be live;
* an API key ``bos_<random>``, stored only as ``hash_secret(key)``, with its own scopes.

``core`` cannot import the identity module, so the identity module registers an
``Authenticator`` at start-up; the dependencies here call it. Default deny: a route that
declares no scope dependency is public only if it says so.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any, Literal, Protocol, get_args

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Depends, Request

from bizos.core.config import get_settings
from bizos.core.errors import Forbidden, Unauthenticated

# Literals so that the API's schemas show them as enums; the tuples keep their order.
ScopeName = Literal[
    "crm:read",
    "crm:write",
    "support:read",
    "support:write",
    "commerce:read",
    "commerce:write",
    "billing:read",
    "billing:write",
    "kb:read",
    "kb:write",
    "ai:use",
    "copilot:read",
    "automation:read",
    "automation:write",
    "admin",
]
Role = Literal["owner", "admin", "member", "viewer"]
SCOPES: tuple[str, ...] = get_args(ScopeName)
ROLES: tuple[str, ...] = get_args(Role)

_READ = frozenset(s for s in SCOPES if s.endswith(":read"))
_WRITE = frozenset(s for s in SCOPES if s.endswith(":write")) | {"ai:use"}
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": frozenset(SCOPES),
    "admin": frozenset(SCOPES),
    "member": _READ | _WRITE,
    "viewer": _READ,
}

API_KEY_PREFIX = "bos_"
JWT_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    actor_id: str
    actor_type: str  # "user" | "api_key"
    scopes: frozenset[str]
    role: str | None = None
    session_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def has(self, scope: str) -> bool:
        return scope in self.scopes


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal: ...


_authenticator: Authenticator | None = None


def set_authenticator(auth: Authenticator | None) -> None:
    global _authenticator
    _authenticator = auth


# --- signing keys ---------------------------------------------------------------


def derive_key(purpose: str, key_id: str = "") -> bytes:
    """A 32-byte key for ``purpose`` derived from the master secret (HKDF-SHA256)."""
    return _derive(get_settings().resolved_secret_key(), purpose, key_id)


@lru_cache(maxsize=256)
def _derive(master: bytes, purpose: str, key_id: str) -> bytes:
    # Cached: every API-key check and refresh derives the token-hash key.
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"bizos", info=f"{purpose}:{key_id}".encode()
    ).derive(master)


_jwt_keys: dict[str, bytes] = {}


def _jwt_key(kid: str) -> bytes:
    if kid not in _jwt_keys:
        _jwt_keys[kid] = derive_key("jwt", kid)
    return _jwt_keys[kid]


def accepted_key_ids() -> set[str]:
    s = get_settings()
    return {s.jwt_key_id, *s.jwt_previous_key_ids}


def issue_access_token(
    *, tenant_id: str, user_id: str, session_id: str, role: str
) -> tuple[str, int]:
    s = get_settings()
    now = int(time.time())
    ttl = s.access_token_ttl_seconds
    claims = {
        "iss": "bizos",
        "sub": user_id,
        "tid": tenant_id,
        "sid": session_id,
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "typ": "access",
    }
    token = jwt.encode(
        claims, _jwt_key(s.jwt_key_id), algorithm=JWT_ALGORITHM, headers={"kid": s.jwt_key_id}
    )
    return token, ttl


def decode_access_token(token: str) -> dict[str, Any]:
    """Verify signature, algorithm, expiry and key id; raise ``Unauthenticated`` otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthenticated("malformed token") from exc
    kid = header.get("kid")
    if header.get("alg") != JWT_ALGORITHM or not isinstance(kid, str):
        raise Unauthenticated("unsupported token")
    if kid not in accepted_key_ids():
        raise Unauthenticated("unknown signing key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _jwt_key(kid),
            algorithms=[JWT_ALGORITHM],
            issuer="bizos",
            options={"require": ["exp", "iat", "sub", "tid", "sid"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid token") from exc
    if claims.get("typ") != "access":
        raise Unauthenticated("invalid token")
    return claims


def hash_secret(secret: str) -> str:
    """Keyed hash for high-entropy secrets (API keys, refresh tokens); never for passwords."""
    return hmac.new(derive_key("token-hash"), secret.encode(), hashlib.sha256).hexdigest()


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@lru_cache(maxsize=4096)
def principal_key(token: str) -> str | None:
    """A stable, cheap identity for rate limits and idempotency: no database access.

    JWTs are verified (signature only); API keys are keyed by their hash. Memoised: the
    answer only names whose bucket a request counts against, and decoding a JWT costs a
    third of a millisecond; authentication itself always checks expiry and revocation.
    """
    if token.startswith(API_KEY_PREFIX):
        return "key:" + hash_secret(token)[:32]
    try:
        claims = decode_access_token(token)
    except Unauthenticated:
        return None
    return f"user:{claims['tid']}:{claims['sub']}"


# --- dependencies -----------------------------------------------------------------


async def authenticate(request: Request) -> Principal:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("missing bearer token")
    principal = await authenticate_token(token)
    request.state.principal = principal
    return principal


async def authenticate_token(token: str) -> Principal:
    """The principal of a presented credential, resolved as every request resolves its
    bearer token (through the principal cache); 401 if it is not valid now. For callers
    that hold a token outside an HTTP request (``bizos mcp`` over stdio)."""
    if _authenticator is None:
        raise Unauthenticated("authentication is not configured")
    principal = principal_cache.get(token)
    if principal is None:
        principal = await _authenticator.authenticate(token)
        principal_cache.put(token, principal)
    return principal


class PrincipalCache:
    """Resolved principals kept for a moment, so a burst of reads costs one lookup.

    Anything that revokes or narrows a credential calls :func:`forget_principals`, which
    empties this process's cache at once; other processes notice within ``ttl`` seconds
    (``BIZOS_AUTH_CACHE_SECONDS``, 0 turns the cache off).
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._max = max_entries

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(token, None)
            return None
        return entry[1]

    def put(self, token: str, principal: Principal) -> None:
        ttl = get_settings().auth_cache_seconds
        if ttl <= 0:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[token] = (time.monotonic() + ttl, principal)

    def clear(self) -> None:
        self._entries.clear()


principal_cache = PrincipalCache()


def forget_principals() -> None:
    """Drop every cached principal (a session, key or user was revoked or changed)."""
    principal_cache.clear()


def require(*scopes: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates and demands every scope in ``scopes``."""
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes {unknown}")

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        missing = [s for s in scopes if s not in principal.scopes]
        if missing:
            raise Forbidden(f"missing scope: {', '.join(missing)}")
        return principal

    dependency.__name__ = "require_" + "_".join(s.replace(":", "_") for s in scopes)
    return dependency


Authenticated = Annotated[Principal, Depends(authenticate)]
Admin = Annotated[Principal, Depends(require("admin"))]
CrmRead = Annotated[Principal, Depends(require("crm:read"))]
CrmWrite = Annotated[Principal, Depends(require("crm:write"))]
SupportRead = Annotated[Principal, Depends(require("support:read"))]
SupportWrite = Annotated[Principal, Depends(require("support:write"))]
CommerceRead = Annotated[Principal, Depends(require("commerce:read"))]
CommerceWrite = Annotated[Principal, Depends(require("commerce:write"))]
BillingRead = Annotated[Principal, Depends(require("billing:read"))]
BillingWrite = Annotated[Principal, Depends(require("billing:write"))]
KbRead = Annotated[Principal, Depends(require("kb:read"))]
KbWrite = Annotated[Principal, Depends(require("kb:write"))]
AiUse = Annotated[Principal, Depends(require("ai:use"))]
# Asking the copilot is reading (every role may); each tool still needs its own scope.
CopilotRead = Annotated[Principal, Depends(require("copilot:read"))]
AutomationRead = Annotated[Principal, Depends(require("automation:read"))]
AutomationWrite = Annotated[Principal, Depends(require("automation:write"))]
