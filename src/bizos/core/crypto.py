"""Envelope encryption for secrets at rest (DESIGN rule 6).

Every value is sealed with its own random 256-bit data key (DEK) under AES-GCM; the DEK
is wrapped (AES-GCM again) with a key-encryption key (KEK) derived from the master
secret by HKDF (``derive_key("kek", key_id)``). A blob is one ASCII string::

    v1.<kek id>.<b64url(wrap nonce | wrapped DEK)>.<b64url(nonce | ciphertext)>

The ciphertext's associated data binds it to where it lives (for connector secrets:
tenant, provider and secret name), so a blob copied to another row or tenant does not
decrypt. The associated data does *not* include the KEK id: rotation re-wraps the DEK
under the current KEK and leaves the ciphertext untouched, so plaintext never has to
be handled to rotate.

Rotation: ``BIZOS_KEK_ID`` names the KEK for new blobs; ``BIZOS_KEK_PREVIOUS_IDS`` lists
ids that are still accepted for reading. Rotate by moving the old id into the previous
list, running ``rewrap`` over every blob (see ``connectors.service.rotate_connector_secrets``),
then dropping the old id.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bizos.core.auth import derive_key
from bizos.core.config import Settings, get_settings

VERSION = "v1"
_NONCE_BYTES = 12
_DEK_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_DATA_AAD_PREFIX = b"bizos:data:v1:"
_WRAP_AAD_PREFIX = b"bizos:dek:v1:"


class SecretDecryptionError(ValueError):
    """A blob is malformed, tampered with, bound elsewhere, or under a retired key.

    The message never contains key material or plaintext.
    """


def associated_data(*parts: str) -> bytes:
    """Canonical, unambiguous associated data for a list of names."""
    return json.dumps(list(parts), separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True, slots=True)
class Keyring:
    """Which KEK seals new blobs and which ids are still accepted for reading."""

    current_id: str
    previous_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for kid in (self.current_id, *self.previous_ids):
            if not _KEY_ID.match(kid):
                raise ValueError(f"invalid key id {kid!r}: use letters, digits, '-' or '_'")

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Keyring:
        s = settings or get_settings()
        return cls(current_id=s.kek_id, previous_ids=tuple(s.kek_previous_ids))

    def accepts(self, kid: str) -> bool:
        return kid == self.current_id or kid in self.previous_ids

    def kek(self, kid: str) -> AESGCM:
        if not self.accepts(kid):
            raise SecretDecryptionError(f"key id {kid!r} is not accepted")
        return AESGCM(derive_key("kek", kid))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SecretDecryptionError("malformed blob") from exc


@dataclass(frozen=True, slots=True)
class _Parts:
    kid: str
    wrapped: bytes  # wrap nonce | wrapped DEK
    sealed: bytes  # data nonce | ciphertext


def _parse(blob: str) -> _Parts:
    pieces = blob.split(".")
    if len(pieces) != 4 or pieces[0] != VERSION or not _KEY_ID.match(pieces[1]):
        raise SecretDecryptionError("malformed blob")
    wrapped, sealed = _unb64(pieces[2]), _unb64(pieces[3])
    if len(wrapped) <= _NONCE_BYTES or len(sealed) <= _NONCE_BYTES:
        raise SecretDecryptionError("malformed blob")
    return _Parts(pieces[1], wrapped, sealed)


def _format(parts: _Parts) -> str:
    return ".".join((VERSION, parts.kid, _b64(parts.wrapped), _b64(parts.sealed)))


def _wrap(keyring: Keyring, dek: bytes) -> bytes:
    kid = keyring.current_id
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + keyring.kek(kid).encrypt(nonce, dek, _WRAP_AAD_PREFIX + kid.encode())


def _unwrap(keyring: Keyring, parts: _Parts) -> bytes:
    nonce, body = parts.wrapped[:_NONCE_BYTES], parts.wrapped[_NONCE_BYTES:]
    try:
        return keyring.kek(parts.kid).decrypt(nonce, body, _WRAP_AAD_PREFIX + parts.kid.encode())
    except InvalidTag as exc:
        raise SecretDecryptionError("data key does not unwrap") from exc


def encrypt(plaintext: str, *, aad: bytes, keyring: Keyring | None = None) -> str:
    """Seal ``plaintext`` under a fresh data key bound to ``aad``; returns the blob."""
    ring = keyring or Keyring.from_settings()
    dek = AESGCM.generate_key(bit_length=_DEK_BYTES * 8)
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(dek).encrypt(nonce, plaintext.encode(), _DATA_AAD_PREFIX + aad)
    return _format(_Parts(ring.current_id, _wrap(ring, dek), nonce + ciphertext))


def decrypt(blob: str, *, aad: bytes, keyring: Keyring | None = None) -> str:
    """Open a blob sealed for ``aad``; raises ``SecretDecryptionError`` otherwise."""
    ring = keyring or Keyring.from_settings()
    parts = _parse(blob)
    dek = _unwrap(ring, parts)
    nonce, body = parts.sealed[:_NONCE_BYTES], parts.sealed[_NONCE_BYTES:]
    try:
        plaintext = AESGCM(dek).decrypt(nonce, body, _DATA_AAD_PREFIX + aad)
    except InvalidTag as exc:
        raise SecretDecryptionError("ciphertext does not authenticate") from exc
    try:
        return plaintext.decode()
    except UnicodeDecodeError as exc:  # pragma: no cover - only reachable by forging a tag
        raise SecretDecryptionError("plaintext is not text") from exc


def key_id_of(blob: str) -> str:
    return _parse(blob).kid


def needs_rewrap(blob: str, *, keyring: Keyring | None = None) -> bool:
    ring = keyring or Keyring.from_settings()
    return _parse(blob).kid != ring.current_id


def rewrap(blob: str, *, keyring: Keyring | None = None) -> str:
    """Move a blob to the current KEK: unwrap its data key and wrap it again.

    The ciphertext (and so the plaintext and its binding) is untouched; a blob already
    under the current KEK is returned unchanged.
    """
    ring = keyring or Keyring.from_settings()
    parts = _parse(blob)
    if parts.kid == ring.current_id:
        return blob
    dek = _unwrap(ring, parts)
    return _format(_Parts(ring.current_id, _wrap(ring, dek), parts.sealed))
