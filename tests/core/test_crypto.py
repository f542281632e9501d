from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bizos.core import crypto
from bizos.core.crypto import Keyring, SecretDecryptionError, associated_data

AAD = associated_data("tenant-a", "smtp", "password")
RING = Keyring(current_id="kek1")


def _flip(blob: str, segment: int) -> str:
    """Flip one bit in a base64 segment of the blob, keeping it well-formed."""
    parts = blob.split(".")
    raw = bytearray(base64.urlsafe_b64decode(parts[segment] + "=" * (-len(parts[segment]) % 4)))
    raw[-1] ^= 0x01
    parts[segment] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return ".".join(parts)


def test_secret_round_trips_and_blob_names_its_key() -> None:
    blob = crypto.encrypt("hunter2-Ω", aad=AAD, keyring=RING)
    assert blob.startswith("v1.kek1.")
    assert "hunter2" not in blob
    assert crypto.decrypt(blob, aad=AAD, keyring=RING) == "hunter2-Ω"


def test_each_encryption_uses_a_fresh_data_key_and_nonce() -> None:
    a = crypto.encrypt("same", aad=AAD, keyring=RING)
    b = crypto.encrypt("same", aad=AAD, keyring=RING)
    assert a.split(".")[2] != b.split(".")[2]
    assert a.split(".")[3] != b.split(".")[3]


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300))
def test_any_text_round_trips(secret: str) -> None:
    assert (
        crypto.decrypt(crypto.encrypt(secret, aad=AAD, keyring=RING), aad=AAD, keyring=RING)
        == secret
    )


@pytest.mark.parametrize("segment", [2, 3], ids=["wrapped-key", "ciphertext"])
def test_tampered_blob_does_not_decrypt(segment: int) -> None:
    blob = crypto.encrypt("s3cret", aad=AAD, keyring=RING)
    with pytest.raises(SecretDecryptionError):
        crypto.decrypt(_flip(blob, segment), aad=AAD, keyring=RING)


@pytest.mark.parametrize(
    "blob", ["", "v1", "v2.kek1.AAAA.AAAA", "v1.kek1.!!!.AAAA", "v1.kek1.AAAA.AAAA", "v1..a.b"]
)
def test_malformed_blob_is_refused(blob: str) -> None:
    with pytest.raises(SecretDecryptionError):
        crypto.decrypt(blob, aad=AAD, keyring=RING)


def test_blob_copied_to_another_tenant_or_name_does_not_decrypt() -> None:
    blob = crypto.encrypt("s3cret", aad=AAD, keyring=RING)
    for other in (
        associated_data("tenant-b", "smtp", "password"),
        associated_data("tenant-a", "twilio", "password"),
        associated_data("tenant-a", "smtp", "api_key"),
    ):
        with pytest.raises(SecretDecryptionError):
            crypto.decrypt(blob, aad=other, keyring=RING)


def test_associated_data_cannot_be_confused_by_separators() -> None:
    assert associated_data("a.b", "c") != associated_data("a", "b.c")


def test_swapping_the_key_id_does_not_decrypt() -> None:
    ring = Keyring(current_id="kek2", previous_ids=("kek1",))
    blob = crypto.encrypt("s3cret", aad=AAD, keyring=RING)
    forged = blob.replace("v1.kek1.", "v1.kek2.", 1)
    with pytest.raises(SecretDecryptionError):
        crypto.decrypt(forged, aad=AAD, keyring=ring)


def test_rotation_keeps_old_blobs_readable_and_rewrap_moves_them() -> None:
    old = crypto.encrypt("s3cret", aad=AAD, keyring=RING)
    rotated = Keyring(current_id="kek2", previous_ids=("kek1",))

    assert crypto.decrypt(old, aad=AAD, keyring=rotated) == "s3cret"
    assert crypto.needs_rewrap(old, keyring=rotated)

    moved = crypto.rewrap(old, keyring=rotated)
    assert crypto.key_id_of(moved) == "kek2"
    assert moved.split(".")[3] == old.split(".")[3], "ciphertext is not re-encrypted"
    assert not crypto.needs_rewrap(moved, keyring=rotated)
    assert crypto.rewrap(moved, keyring=rotated) == moved

    retired = Keyring(current_id="kek2")
    assert crypto.decrypt(moved, aad=AAD, keyring=retired) == "s3cret"
    with pytest.raises(SecretDecryptionError):
        crypto.decrypt(old, aad=AAD, keyring=retired)


def test_keys_derive_from_the_master_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from bizos.core.config import get_settings

    blob = crypto.encrypt("s3cret", aad=AAD, keyring=RING)
    monkeypatch.setenv("BIZOS_SECRET_KEY", "a-different-master-secret")
    get_settings.cache_clear()
    try:
        with pytest.raises(SecretDecryptionError):
            crypto.decrypt(blob, aad=AAD, keyring=RING)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_keyring_follows_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from bizos.core.config import get_settings

    monkeypatch.setenv("BIZOS_KEK_ID", "kek9")
    monkeypatch.setenv("BIZOS_KEK_PREVIOUS_IDS", '["kek1"]')
    get_settings.cache_clear()
    try:
        assert Keyring.from_settings() == Keyring("kek9", ("kek1",))
        assert crypto.key_id_of(crypto.encrypt("x", aad=AAD)) == "kek9"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_invalid_key_id_is_refused() -> None:
    with pytest.raises(ValueError):
        Keyring(current_id="kek.1")
