"""The fallback chain: primary -> secondary -> local, retrying only retryable failures.

A provider is retried (up to ``max_retries`` more times) only when its error is
retryable: 408, 429, 5xx, timeouts and connection errors. The wait is the server's
Retry-After when it sent one, else exponential backoff with jitter, never more than
``max_delay``; a Retry-After longer than ``max_delay`` means "not soon", so the chain
moves on to the next provider at once instead of hammering this one. Any other failure
moves on immediately. Every try is recorded as an :class:`Attempt`.

Streams fall back the same way, but only until the first delta reached the caller:
after that the caller has shown text, and a second provider's answer would not continue
it, so a failure then raises :class:`StreamInterrupted`.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, TypedDict, Unpack

import structlog

from bizos.ai.types import (
    Completion,
    CompletionRequest,
    LlmProvider,
    ProviderError,
    StreamEnd,
    TextDelta,
)

log = structlog.get_logger("bizos.ai.chain")

Outcome = Literal["ok", "failed"]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one provider."""

    provider: str
    model: str
    outcome: Outcome
    status: int | None  # the HTTP status of a failure, if it had one
    detail: str | None  # why it failed (never a key or a prompt)
    retryable: bool
    latency_ms: int

    def as_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ChainResult:
    completion: Completion
    provider: LlmProvider
    attempts: list[Attempt] = field(default_factory=list)


class AllProvidersFailed(Exception):
    """Every provider in the chain failed; ``attempts`` says how."""

    def __init__(self, attempts: Sequence[Attempt], message: str | None = None) -> None:
        self.attempts = list(attempts)
        last = self.attempts[-1] if self.attempts else None
        summary = f"{last.provider}: {last.detail}" if last else "no providers configured"
        super().__init__(message or f"all AI providers failed (last: {summary})")


class StreamInterrupted(AllProvidersFailed):
    """A stream failed after text had reached the caller, so no fallback was possible.
    ``partial_text`` is what had been sent."""

    def __init__(self, attempts: Sequence[Attempt], partial_text: str) -> None:
        self.partial_text = partial_text
        last = attempts[-1] if attempts else None
        where = f"{last.provider}: {last.detail}" if last else "unknown"
        super().__init__(attempts, f"the answer stream broke off ({where})")


class Retries(TypedDict, total=False):
    """How a chain retries a provider: up to ``max_retries`` more times (2), waiting from
    ``base_delay`` (0.5 s) up to ``max_delay`` (8 s) seconds with ``sleep``."""

    max_retries: int
    base_delay: float
    max_delay: float
    sleep: Sleep


@dataclass(frozen=True, slots=True)
class _Backoff:
    max_retries: int
    base_delay: float
    max_delay: float

    @classmethod
    def of(cls, options: Retries) -> _Backoff:
        retries, base = options.get("max_retries", 2), options.get("base_delay", 0.5)
        return cls(retries, base, options.get("max_delay", 8.0))

    def delay(self, retry: int, error: ProviderError) -> float | None:
        """Seconds to wait before retry number ``retry`` (0-based), or None to give up
        on this provider."""
        if not error.retryable or retry >= self.max_retries:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_delay else None
        ceiling = min(self.max_delay, self.base_delay * 2.0**retry)
        # "Equal jitter": at least half the backoff, so retries from many workers spread
        # out instead of retrying in lockstep.
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def _attempt(
    provider: LlmProvider,
    model: str,
    started: float,
    error: ProviderError | None = None,
    crash: str | None = None,
) -> Attempt:
    """The record of a try: failed with ``error`` or a ``crash`` (why), else ok."""
    return Attempt(
        provider=provider.name,
        model=model,
        outcome="ok" if error is None and crash is None else "failed",
        status=error.status if error is not None else None,
        detail=error.detail if error is not None else crash,
        retryable=error.retryable if error is not None else False,
        latency_ms=_elapsed_ms(started),
    )


def _failure(provider: LlmProvider, model: str, error: BaseException, started: float) -> Attempt:
    if isinstance(error, ProviderError):
        return _attempt(provider, model, started, error)
    # A bug in a provider must not take the feature down while another provider works;
    # the type goes on record, the message (which might quote a prompt) goes to the log.
    log.error(
        "ai.provider.crashed", provider=provider.name, error=type(error).__name__, exc_info=error
    )
    return _attempt(provider, model, started, crash=f"internal error ({type(error).__name__})")


def _success(provider: LlmProvider, completion: Completion, started: float) -> Attempt:
    return _attempt(provider, completion.model, started)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _requests(
    providers: Sequence[LlmProvider], request_for: Callable[[LlmProvider], CompletionRequest]
) -> Iterator[tuple[LlmProvider, CompletionRequest, str]]:
    """Each provider in turn with its request and the model that request asks of it."""
    for provider in providers:
        request = request_for(provider)
        yield provider, request, request.model or provider.model


async def run_chain(
    providers: Sequence[LlmProvider],
    request_for: Callable[[LlmProvider], CompletionRequest],
    **options: Unpack[Retries],
) -> ChainResult:
    """The first completion any provider gives, in order, retrying retryable failures.
    ``request_for`` builds each provider's request (external ones get a redacted one)."""
    backoff, sleep = _Backoff.of(options), options.get("sleep", asyncio.sleep)
    attempts: list[Attempt] = []
    for provider, request, model in _requests(providers, request_for):
        for retry in itertools.count():
            started = time.monotonic()
            try:
                completion = await provider.complete(request)
            except Exception as exc:
                wait = _failed(attempts, backoff, provider, model, exc, started, retry)
                if wait is None:
                    break
                await sleep(wait)
                continue
            attempts.append(_success(provider, completion, started))
            return ChainResult(completion, provider, attempts)
    raise AllProvidersFailed(attempts)


async def stream_chain(
    providers: Sequence[LlmProvider],
    request_for: Callable[[LlmProvider], CompletionRequest],
    **options: Unpack[Retries],
) -> AsyncIterator[TextDelta | ChainResult]:
    """Deltas of the first provider whose stream works, then a :class:`ChainResult`.

    Before the first delta is yielded a failure is retried or falls back exactly as in
    :func:`run_chain`; after it, the failure is raised as :class:`StreamInterrupted`."""
    backoff, sleep = _Backoff.of(options), options.get("sleep", asyncio.sleep)
    attempts: list[Attempt] = []
    for provider, request, model in _requests(providers, request_for):
        for retry in itertools.count():
            started = time.monotonic()
            sent: list[str] = []
            end: StreamEnd | None = None
            stream = provider.stream(request)
            try:
                async for chunk in stream:
                    if isinstance(chunk, StreamEnd):
                        end = chunk
                        break
                    if chunk.text:
                        sent.append(chunk.text)
                        yield chunk
                if end is None:
                    raise ProviderError(
                        "stream ended without its final usage",
                        provider=provider.name,
                        retryable=True,
                    )
            except Exception as exc:
                if sent:  # the caller has text already: no retry, no fallback
                    _failed(attempts, None, provider, model, exc, started, retry)
                    raise StreamInterrupted(attempts, "".join(sent)) from exc
                wait = _failed(attempts, backoff, provider, model, exc, started, retry)
                if wait is None:
                    break
                await sleep(wait)
                continue
            finally:
                await _close(stream)
            attempts.append(_success(provider, end.completion, started))
            yield ChainResult(end.completion, provider, attempts)
            return
    raise AllProvidersFailed(attempts)


def _failed(
    attempts: list[Attempt],
    backoff: _Backoff | None,
    provider: LlmProvider,
    model: str,
    error: Exception,
    started: float,
    retry: int,
) -> float | None:
    """Record and log a failed attempt; how long to wait before retrying it (``None``:
    give up on this provider; always ``None`` without a ``backoff``)."""
    attempts.append(_failure(provider, model, error, started))
    wait = (
        backoff.delay(retry, error)
        if backoff is not None and isinstance(error, ProviderError)
        else None
    )
    _log_failure(attempts[-1], wait)
    return wait


async def _close(stream: AsyncIterator[object]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


# What the log says of a failed attempt.
_LOGGED = ("provider", "model", "status", "detail", "retryable")


def _log_failure(attempt: Attempt, wait: float | None) -> None:
    said = {name: getattr(attempt, name) for name in _LOGGED}
    log.warning("ai.provider.failed", **said, retry_in=round(wait, 3) if wait is not None else None)
