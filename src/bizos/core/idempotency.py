"""Idempotency keys: a retried POST returns the first response instead of doing it twice.

A record per (owner, key) moves ``in_progress`` → ``completed`` (holding the response) or
is deleted when the request failed on our side (5xx), so the retry can run. The owner is
the credential (``core.auth.principal_key``: tenant and user for a token, the key for an
API key), so one caller's keys never collide with another's.

Stored response bodies can hold a secret shown once (a new API key, a webhook secret),
so they are sealed with AES-GCM under a key derived from the master secret and bound to
their owner and key; a body that no longer opens (master secret changed) is treated as
absent.

The records are global, not tenant rows: the middleware reads them before any tenant is
known, through system sessions.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.auth import derive_key
from bizos.core.db import Base, Database, utcnow
from bizos.core.ids import new_id

log = structlog.get_logger("bizos.idempotency")

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
_NONCE = 12
_PURGE_EVERY = 500


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __audit__ = False
    __table_args__ = (sa.UniqueConstraint("owner_key", "key"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    owner_key: Mapped[str] = mapped_column(sa.String(120))
    key: Mapped[str] = mapped_column(sa.String(255))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(12))
    response_status: Mapped[int | None]
    response_headers: Mapped[list[list[str]] | None] = mapped_column(sa.JSON)
    response_body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    locked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """sha256 over what makes two requests "the same". JSON bodies are compared by value,
    so key order and whitespace do not turn a genuine retry into a mismatch."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode()):
        digest.update(part)
        digest.update(b"\0")
    digest.update(canonical)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Outcome(enum.Enum):
    PROCEED = "proceed"  # this request holds the key: run it
    REPLAY = "replay"  # done before: answer with the stored response
    IN_PROGRESS = "in_progress"  # the first request is still running
    MISMATCH = "mismatch"  # the key was used for a different request


@dataclass(frozen=True, slots=True)
class Reservation:
    outcome: Outcome
    record_id: str | None = None
    response: StoredResponse | None = None


class IdempotencyStore:
    """Reserve, complete and release idempotency records; each call is its own short
    system transaction, separate from the request's unit of work."""

    def __init__(self, *, ttl_seconds: int, lease_seconds: int) -> None:
        self.ttl = dt.timedelta(seconds=ttl_seconds)
        self.lease = dt.timedelta(seconds=lease_seconds)
        self._cipher = AESGCM(derive_key("idempotency-response"))
        self._reservations = 0

    async def reserve(
        self, db: Database, *, owner_key: str, key: str, fingerprint: str
    ) -> Reservation:
        self._reservations += 1
        try:
            async with db.unit_of_work(system=True) as session:
                if self._reservations % _PURGE_EVERY == 0:
                    await purge_expired(session)
                return await self._reserve(
                    session, owner_key=owner_key, key=key, fingerprint=fingerprint
                )
        except IntegrityError:
            # A concurrent first request inserted the same key between our read and write.
            return Reservation(Outcome.IN_PROGRESS)

    async def _reserve(
        self, session: AsyncSession, *, owner_key: str, key: str, fingerprint: str
    ) -> Reservation:
        now = utcnow()
        record = await session.scalar(
            sa.select(IdempotencyRecord).where(
                IdempotencyRecord.owner_key == owner_key, IdempotencyRecord.key == key
            )
        )
        if record is None:
            record = IdempotencyRecord(
                owner_key=owner_key, key=key, **self._fresh(fingerprint, now)
            )
            session.add(record)
            await session.flush()
            return Reservation(Outcome.PROCEED, record.id)
        if record.expires_at <= now:
            return await self._take_over(session, record, fingerprint, now)
        if record.fingerprint != fingerprint:
            return Reservation(Outcome.MISMATCH)
        if record.status == COMPLETED:
            response = self._open(record)
            if response is None:
                return await self._take_over(session, record, fingerprint, now)
            return Reservation(Outcome.REPLAY, record.id, response)
        if record.locked_at + self.lease <= now:
            # The first request's process died mid-request: its lease ran out.
            return await self._take_over(session, record, fingerprint, now)
        return Reservation(Outcome.IN_PROGRESS)

    def _fresh(self, fingerprint: str, now: dt.datetime) -> dict[str, Any]:
        """A reservation starting now: in progress, leased, expiring after the TTL."""
        return {
            "fingerprint": fingerprint,
            "status": IN_PROGRESS,
            "created_at": now,
            "locked_at": now,
            "expires_at": now + self.ttl,
        }

    async def _take_over(
        self, session: AsyncSession, record: IdempotencyRecord, fingerprint: str, now: dt.datetime
    ) -> Reservation:
        result = await session.execute(
            sa.update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == record.id,
                IdempotencyRecord.locked_at == record.locked_at,
            )
            .values(
                response_status=None,
                response_headers=None,
                response_body=None,
                **self._fresh(fingerprint, now),
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            return Reservation(Outcome.IN_PROGRESS)  # another retry took it over first
        return Reservation(Outcome.PROCEED, record.id)

    async def complete(
        self, db: Database, *, record_id: str, owner_key: str, key: str, response: StoredResponse
    ) -> None:
        sealed = self._seal(response.body, owner_key, key)
        async with db.unit_of_work(system=True) as session:
            await session.execute(
                sa.update(IdempotencyRecord)
                .where(IdempotencyRecord.id == record_id)
                .values(
                    status=COMPLETED,
                    response_status=response.status,
                    response_headers=[[k, v] for k, v in response.headers],
                    response_body=sealed,
                )
            )

    async def release(self, db: Database, *, record_id: str) -> None:
        """Forget a reservation so the client's retry runs the request afresh."""
        async with db.unit_of_work(system=True) as session:
            await session.execute(
                sa.delete(IdempotencyRecord).where(
                    IdempotencyRecord.id == record_id, IdempotencyRecord.status == IN_PROGRESS
                )
            )

    def _seal(self, body: bytes, owner_key: str, key: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._cipher.encrypt(nonce, body, _aad(owner_key, key))

    def _open(self, record: IdempotencyRecord) -> StoredResponse | None:
        sealed = record.response_body or b""
        try:
            body = self._cipher.decrypt(
                sealed[:_NONCE], sealed[_NONCE:], _aad(record.owner_key, record.key)
            )
        except (InvalidTag, ValueError):
            log.warning("idempotency.response_unreadable", record_id=record.id)
            return None
        headers = [(str(k), str(v)) for k, v in (record.response_headers or [])]
        return StoredResponse(int(record.response_status or 200), headers, body)


def _aad(owner_key: str, key: str) -> bytes:
    return json.dumps([owner_key, key]).encode()


async def purge_expired(session: AsyncSession) -> int:
    """Delete records past their expiry; returns how many went."""
    result: Any = await session.execute(
        sa.delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
    )
    return int(result.rowcount or 0)
