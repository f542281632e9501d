"""Stripe's webhook signature scheme, checked over the raw body.

``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=<hex>]``: each ``v1`` is
the hex HMAC-SHA256 of ``"{t}.{raw body}"`` keyed with the endpoint's signing secret.
Stripe sends several ``v1`` values while a secret is being rolled, so any one matching is
enough; other schemes (``v0`` is a test-mode leftover) are ignored. The timestamp must lie
within ``tolerance`` seconds of now, either side, so a captured delivery cannot be
replayed later. Comparisons are constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

DEFAULT_TOLERANCE_SECONDS = 300
SCHEME = "v1"
_MAX_HEADER = 4096
_MAX_SIGNATURES = 16


class SignatureError(Exception):
    """The delivery is not provably Stripe's (missing, malformed, wrong or stale)."""


class SignatureMissing(SignatureError):
    """No ``Stripe-Signature`` header, or an empty one."""


class SignatureMalformed(SignatureError):
    """A header that is not ``t=<unix seconds>,v1=<hex>``."""


class SignatureMismatch(SignatureError):
    """Well-formed, but no ``v1`` is the body's signature under the secret."""


class TimestampOutsideTolerance(SignatureError):
    """A genuine signature made too long ago (a replay, or a delivery held up) or too
    far in the future (a skewed clock). ``age`` is seconds before now (negative: ahead)."""

    def __init__(self, *, age: int, tolerance: int) -> None:
        super().__init__("the signature timestamp is outside the tolerance")
        self.age = age
        self.tolerance = tolerance


@dataclass(frozen=True, slots=True)
class SignatureHeader:
    timestamp: int
    signatures: tuple[str, ...]


def parse_header(header: str | None) -> SignatureHeader:
    """The timestamp and the ``v1`` signatures of a ``Stripe-Signature`` header."""
    if not header or not header.strip():
        raise SignatureMissing("no Stripe-Signature header")
    if len(header) > _MAX_HEADER:
        raise SignatureMalformed(f"the Stripe-Signature header is over {_MAX_HEADER} characters")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if not value.isdigit() or len(value) > 12:
                raise SignatureMalformed("the timestamp is not a number")
            timestamp = int(value)
        elif key == SCHEME and value:
            signatures.append(value.lower())
    if timestamp is None:
        raise SignatureMalformed("no timestamp in the Stripe-Signature header")
    if not signatures:
        raise SignatureMalformed("no v1 signature in the Stripe-Signature header")
    return SignatureHeader(timestamp, tuple(signatures[:_MAX_SIGNATURES]))


def compute_signature(body: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """The signed timestamp when ``header`` proves ``body`` came from the holder of
    ``secret`` within ``tolerance`` seconds; :class:`SignatureError` otherwise."""
    if not secret:
        raise SignatureError("no signing secret")
    parsed = parse_header(header)
    expected = compute_signature(body, secret, parsed.timestamp).encode()
    # Every candidate is compared (no early exit) so timing says nothing about which.
    matched = False
    for candidate in parsed.signatures:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    if not matched:
        raise SignatureMismatch("no signature matches the body")
    # Only a matching signature vouches for its timestamp, so age is judged after it.
    age = (time.time() if now is None else now) - parsed.timestamp
    if abs(age) > tolerance:
        raise TimestampOutsideTolerance(age=round(age), tolerance=tolerance)
    return parsed.timestamp
