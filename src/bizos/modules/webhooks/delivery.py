"""The webhook sender: POSTs queued deliveries, signed per Standard Webhooks.

Guarantees:

* **Signed.** ``webhook-id`` (the event id, stable across retries so receivers can
  dedupe), ``webhook-timestamp`` (seconds, per attempt) and ``webhook-signature:
  v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed with the secret's
  decoded bytes.
* **In order per endpoint.** Only the head of an endpoint's queue (its oldest open
  delivery by event sequence) is ever sent; a later event waits while an earlier one is
  being retried. A dead delivery (attempts exhausted) stops holding the queue.
* **Endpoints are independent.** Heads of different endpoints are sent concurrently and
  a slow or failing endpoint only ever holds back its own queue.
* **Only to public addresses.** The URL is judged before each attempt, and the
  connection resolves the host once, judges every answer and connects to an address
  that passed, keeping the host name for ``Host``, SNI and certificate checks, so DNS
  rebinding between a check and the connection is impossible. Redirects are not
  followed. ``webhook_allow_private_targets`` (tests, development) lifts the address rule.
* **At least once.** A delivery is claimed by bumping its attempt count and pushing its
  due time past the request timeout (a lease); a sender that dies mid-request leaves it
  to be retried when the lease runs out. HTTP happens outside any database transaction.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import sqlalchemy as sa
import structlog

from bizos.core.config import Settings, get_settings
from bizos.core.crypto import SecretDecryptionError
from bizos.core.db import Database, utcnow
from bizos.core.dispatcher import backoff_delay
from bizos.core.egress import GuardedTransport, TargetRefused, refuse_url
from bizos.core.events import Wakeup, on_commit, wake_after_commit
from bizos.core.ids import new_id
from bizos.core.observability import metrics
from bizos.modules.webhooks.models import (
    ATTEMPTS,
    DEAD,
    DELIVERIES,
    ENDPOINTS,
    OPEN_STATUSES,
    RETRYING,
    SUCCEEDED,
)
from bizos.modules.webhooks.service import SECRET_PREFIX, WAKE_TOPIC, open_secret

log = structlog.get_logger("bizos.webhooks")

_LEASE_MARGIN_SECONDS = 30.0
_MAX_ERROR_CHARS = 500
USER_AGENT = "bizos-webhooks/1"


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass(frozen=True, slots=True)
class _Claim:
    delivery_id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    payload: str
    attempt: int
    url: str
    secret_sealed: str

    def fields(self, *names: str) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names}


# What an attempt's log line and its row in ATTEMPTS say of its claim.
_LOGGED = ("delivery_id", "endpoint_id", "event_id", "attempt")
_STORED = ("tenant_id", *_LOGGED, "event_type")


@dataclass(frozen=True, slots=True)
class _Result:
    response_status: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.error is None


class WebhookSender:
    """Sends due deliveries. ``deliver_due`` is one pass (tests drive it directly)."""

    def __init__(
        self,
        database: Database,
        settings: Settings | None = None,
        *,
        max_in_flight: int = 32,
    ) -> None:
        self.db = database
        self.settings = settings or get_settings()
        self._client: httpx.AsyncClient | None = None
        self.max_in_flight = max_in_flight
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wakeup = Wakeup()
        self._stopping = False

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # No redirects: a 3xx is the receiver's answer, not a place to send the body.
            self._client = httpx.AsyncClient(
                transport=GuardedTransport(
                    allow_private=self.settings.webhook_allow_private_targets
                ),
                timeout=self.settings.webhook_timeout_seconds,
                follow_redirects=False,
                headers={"user-agent": USER_AGENT},
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # one pass

    async def deliver_due(self) -> int:
        """Send the due head of every endpoint's queue and wait for the answers."""
        claims = await self._claim_due(self.max_in_flight)
        await asyncio.gather(*(self._deliver(c) for c in claims))
        return len(claims)

    async def _claim_due(self, limit: int) -> list[_Claim]:
        if limit <= 0:
            return []
        d, ep = DELIVERIES, ENDPOINTS
        earlier = d.alias("earlier")
        now = utcnow()
        heads = (
            sa.select(
                d.c.id,
                d.c.tenant_id,
                d.c.endpoint_id,
                d.c.event_id,
                d.c.event_type,
                d.c.payload,
                d.c.attempts,
                ep.c.url,
                ep.c.secret_sealed,
            )
            .join(ep, ep.c.id == d.c.endpoint_id)
            .where(
                ep.c.deleted_at.is_(None),
                d.c.status.in_(OPEN_STATUSES),
                d.c.next_attempt_at <= now,
                ~sa.exists().where(
                    earlier.c.endpoint_id == d.c.endpoint_id,
                    earlier.c.status.in_(OPEN_STATUSES),
                    earlier.c.event_sequence < d.c.event_sequence,
                ),
            )
            .order_by(d.c.next_attempt_at)
            .limit(limit)
        )
        lease_until = now + dt.timedelta(
            seconds=self.settings.webhook_timeout_seconds + _LEASE_MARGIN_SECONDS
        )
        claims: list[_Claim] = []
        # The queue spans tenants, like the dispatcher's read of the log: a system session.
        async with self.db.unit_of_work(system=True) as session:
            for row in (await session.execute(heads)).all():
                taken = await session.execute(
                    sa.update(d)
                    .where(
                        d.c.id == row.id,
                        d.c.attempts == row.attempts,
                        d.c.status.in_(OPEN_STATUSES),
                    )
                    .values(attempts=row.attempts + 1, next_attempt_at=lease_until)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    claims.append(
                        _Claim(
                            row.id,
                            row.tenant_id,
                            row.endpoint_id,
                            row.event_id,
                            row.event_type,
                            row.payload,
                            row.attempts + 1,
                            row.url,
                            row.secret_sealed,
                        )
                    )
        return claims

    async def _deliver(self, claim: _Claim) -> None:
        try:
            result = await self._post(claim)
        except Exception as exc:  # never lose the bookkeeping to an unexpected error
            log.exception("webhook.delivery_crashed", delivery_id=claim.delivery_id)
            result = _Result(None, f"{type(exc).__name__}"[:_MAX_ERROR_CHARS], 0)
        await self._record(claim, result)

    async def _post(self, claim: _Claim) -> _Result:
        try:
            secret = open_secret(
                claim.secret_sealed, tenant_id=claim.tenant_id, endpoint_id=claim.endpoint_id
            )
        except SecretDecryptionError:
            return _Result(None, "the endpoint's signing secret cannot be opened", 0)
        refusal = refuse_url(claim.url, allow_private=self.settings.webhook_allow_private_targets)
        if refusal is not None:
            return _Result(None, f"refused: {refusal}", 0)
        body = claim.payload.encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": claim.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                secret, msg_id=claim.event_id, timestamp=timestamp, body=body
            ),
        }
        started = time.perf_counter()
        try:
            response = await self.client.post(claim.url, content=body, headers=headers)
        except TargetRefused as exc:  # a resolved address failed the check: nothing was sent
            return _Result(None, f"refused: {exc}"[:_MAX_ERROR_CHARS], _elapsed_ms(started))
        except httpx.HTTPError as exc:
            failure = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
            return _Result(None, failure, _elapsed_ms(started))
        status = response.status_code
        return _Result(
            status, None if 200 <= status < 300 else f"HTTP {status}", _elapsed_ms(started)
        )

    async def _record(self, claim: _Claim, result: _Result) -> None:
        now = utcnow()
        if result.ok:
            status, next_attempt_at = SUCCEEDED, None
        elif claim.attempt >= self.settings.webhook_max_attempts:
            status, next_attempt_at = DEAD, None
        else:
            delay = backoff_delay(claim.attempt, self.settings.webhook_base_backoff)
            status, next_attempt_at = RETRYING, now + dt.timedelta(seconds=delay)
        d = DELIVERIES
        async with self.db.unit_of_work(tenant_id=claim.tenant_id) as session:
            await session.execute(
                sa.update(d)
                .where(
                    d.c.tenant_id == claim.tenant_id,
                    d.c.id == claim.delivery_id,
                    d.c.status.in_(OPEN_STATUSES),  # a deleted endpoint's stay cancelled
                )
                .values(
                    status=status,
                    next_attempt_at=next_attempt_at,
                    last_response_status=result.response_status,
                    last_error=result.error,
                    updated_at=now,
                )
            )
            await session.execute(
                sa.insert(ATTEMPTS).values(
                    id=new_id(),
                    status="succeeded" if result.ok else "failed",
                    next_attempt_at=next_attempt_at,
                    created_at=now,
                    **claim.fields(*_STORED),
                    **asdict(result),  # response_status, error, duration_ms
                )
            )
            if status != RETRYING:  # the endpoint's next delivery is now at the head
                wake_after_commit(session, WAKE_TOPIC)
        metrics.webhook_deliveries.labels(outcome=status).inc()
        log.info(
            "webhook.attempted",
            **claim.fields(*_LOGGED),
            outcome=status,
            response_status=result.response_status,
        )

    # the loop

    async def run_forever(self) -> None:
        """Claim and send until :meth:`stop`; woken by commits that queued deliveries."""
        self._wakeup.bind()
        # _stopping is not reset here: a stop() that arrives before the first poll counts.
        unsubscribe = on_commit(WAKE_TOPIC, self.wake)
        try:
            while not self._stopping:
                self._wakeup.clear()
                try:
                    for claim in await self._claim_due(self.max_in_flight - len(self._in_flight)):
                        task = asyncio.create_task(self._deliver(claim))
                        self._in_flight.add(task)
                        task.add_done_callback(self._finished)
                except Exception:
                    log.exception("webhook.poll_failed")
                await self._wakeup.sleep(self.settings.webhook_poll_interval)
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
        finally:
            unsubscribe()
            await self.aclose()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.wake()

    def wake(self) -> None:
        self._wakeup.wake()

    def stop(self) -> None:
        self._stopping = True
        self.wake()


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
