"""The AI gateway (DESIGN rule 7): one door for every model call.

``generate`` / ``generate_stream`` / ``embed`` do, in order:

1. render the versioned prompt template (no database);
2. in one *read-only* unit of work: load the tenant's AI settings and provider chain
   (``openai`` / ``anthropic`` connectors with their decrypted BYOK keys, in the order
   of ``AiSettings.providers``; the built-in local provider always last), refuse with
   429 when the monthly budget is spent, and build the privacy redactor when a provider
   in the chain is external;
3. call the chain with no transaction open (SQLite has one writer; a model call takes
   seconds): external providers see the redacted prompt, and their answer is restored;
4. in a second unit of work: record the ``AiCall`` (usage and provenance) and its
   ``ai.usage.recorded`` event.

Callers must not hold a write transaction open while calling these functions.
Prompts, answers and keys never reach a log line or the ``AiCall`` row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any, NotRequired, TypedDict, Unpack

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai import chain, embeddings, metering, privacy, prompts
from bizos.ai.metering import CallRecord
from bizos.ai.providers import anthropic, local, openai
from bizos.ai.settings import EXTERNAL_PROVIDERS, load_settings
from bizos.ai.types import (
    TASKS,
    ChatMessage,
    CompletionRequest,
    LlmProvider,
    ProviderError,
    Source,
    TextDelta,
    ToolSpec,
)
from bizos.connectors.service import ConnectorSettings, connector_settings
from bizos.core.context import Context
from bizos.core.db import get_database
from bizos.core.errors import ServiceUnavailable

log = structlog.get_logger("bizos.ai.gateway")

DEFAULT_BASE_URL = {"openai": "https://api.openai.com/v1", "anthropic": None}
DEFAULT_MODEL = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_TIMEOUT_SECONDS = 60.0


class AiUnavailable(ServiceUnavailable, title="AI unavailable"):
    """Every provider of the chain failed (the built-in one included)."""


@dataclass(frozen=True, slots=True)
class AiResult:
    """A model's answer with everything needed to show where it came from."""

    text: str
    call_id: str
    provider: str
    model: str
    template: str
    template_version: str
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    sources: tuple[Source, ...] = ()
    attempts: tuple[dict[str, Any], ...] = ()

    def provenance(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _PROVENANCE}


# What an AI output keeps of its call to say where it came from.
_PROVENANCE: tuple[str, ...] = ("provider", "model", "template", "template_version")
_PROVENANCE += ("prompt_tokens", "completion_tokens", "call_id")
# The AiResult fields the call's record holds too (all but text and call_id).
_FROM_RECORD = tuple(f.name for f in fields(AiResult) if f.name in CallRecord.model_fields)
# The usage a completion reports, recorded as it is.
_USAGE = ("provider", "model", "prompt_tokens", "completion_tokens")


@dataclass(frozen=True, slots=True)
class EmbedResult:
    vectors: list[list[float]]
    model: str  # the embedder's name, e.g. local-hash-384 or openai/text-embedding-3-small


@dataclass(slots=True)
class _Plan:
    """What one call needs from the database, read before the call."""

    providers: list[LlmProvider]
    prices: dict[str, Any]
    currency: str
    redactor: privacy.Redactor | None = None


# --- the tenant's chain --------------------------------------------------------------


def _provider_from_connector(name: str, conn: ConnectorSettings) -> LlmProvider:
    """The provider behind a configured connector; its key comes decrypted from the
    connector store and lives only in the provider object."""
    config = conn.config
    base_url = str(config.get("base_url") or DEFAULT_BASE_URL[name] or "") or None
    base_url = base_url.rstrip("/") if base_url else None
    model = str(config.get("model") or DEFAULT_MODEL[name])
    timeout = float(config.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS)
    api_key = conn.secrets.get("api_key")
    if name == "openai":
        assert base_url is not None
        return openai.OpenAICompatibleProvider(
            base_url=base_url, api_key=api_key, model=model, timeout=timeout
        )
    return anthropic.AnthropicProvider(
        base_url=base_url, api_key=api_key or "", model=model, timeout=timeout
    )


async def tenant_chain(
    session: AsyncSession, ctx: Context, order: Sequence[str]
) -> list[LlmProvider]:
    """The providers to try, in order: ``order`` (or every configured LLM connector when
    empty), skipping those whose connector is not configured, then the local provider."""
    providers: list[LlmProvider] = []
    for name in order or EXTERNAL_PROVIDERS:
        if name not in EXTERNAL_PROVIDERS:
            continue
        conn = await connector_settings(session, ctx, name)
        if conn is None:
            continue
        if name == "anthropic" and not conn.secrets.get("api_key"):
            continue
        providers.append(_provider_from_connector(name, conn))
    providers.append(local.LocalProvider())
    return providers


async def external_model_configured(ctx: Context) -> bool:
    """Whether the tenant's chain has an external provider (OpenAI or Anthropic
    connector) before the built-in one; read in its own read-only unit of work."""
    async with get_database().unit_of_work(tenant_id=ctx.require_tenant(), readonly=True) as s:
        settings = await load_settings(s, ctx)
        providers = await tenant_chain(s, ctx, settings.providers)
    return any(p.external for p in providers)


async def check_tenant_budget(session: AsyncSession, ctx: Context) -> None:
    """429 when the tenant's AI budget for this month is spent (its settings read here)."""
    await metering.check_budget(session, ctx, await load_settings(session, ctx))


async def _plan(ctx: Context, *, texts: Sequence[str]) -> _Plan:
    """Read settings, chain and budget (429 when spent), and build the redactor, in one
    read-only unit of work."""
    async with get_database().unit_of_work(tenant_id=ctx.require_tenant(), readonly=True) as s:
        settings = await load_settings(s, ctx)
        await metering.check_budget(s, ctx, settings)
        providers = await tenant_chain(s, ctx, settings.providers)
        redactor = (
            await privacy.redactor_for(s, ctx, texts)
            if any(p.external for p in providers)
            else None
        )
        return _Plan(
            providers=providers,
            prices=dict(settings.prices or {}),
            currency=settings.currency,
            redactor=redactor,
        )


# --- requests ------------------------------------------------------------------------


def _texts_of(
    messages: Sequence[ChatMessage], variables: Mapping[str, str], sources: Sequence[Source]
) -> list[str]:
    return [
        *(m.content for m in messages),
        *(c.arguments for m in messages for c in m.tool_calls),
        *variables.values(),
        *(t for s in sources for t in (s.title, s.text)),
    ]


def _redacted(request: CompletionRequest, redactor: privacy.Redactor) -> CompletionRequest:
    """The request an external provider may see: every text field through the proxy,
    with one mapping for the whole request."""
    return replace(
        request,
        messages=tuple(_redacted_message(m, redactor) for m in request.messages),
        inputs={k: redactor.redact(v) for k, v in request.inputs.items()},
        sources=tuple(
            replace(s, title=redactor.redact(s.title), text=redactor.redact(s.text))
            for s in request.sources
        ),
    )


def _redacted_message(message: ChatMessage, redactor: privacy.Redactor) -> ChatMessage:
    return replace(
        message,
        content=redactor.redact(message.content),
        tool_calls=tuple(
            replace(c, arguments=redactor.redact(c.arguments)) for c in message.tool_calls
        ),
    )


def _request_for(
    plan: _Plan, request: CompletionRequest
) -> Callable[[LlmProvider], CompletionRequest]:
    redacted = _redacted(request, plan.redactor) if plan.redactor is not None else None

    def request_for(provider: LlmProvider) -> CompletionRequest:
        if provider.external:
            if redacted is None:  # cannot happen: the plan builds a redactor for externals
                raise RuntimeError("an external provider without the privacy proxy")
            return redacted
        return request

    return request_for


def _unavailable(feature: str, exc: chain.AllProvidersFailed) -> AiUnavailable:
    log.error(
        "ai.all_providers_failed",
        feature=feature,
        attempts=[a.as_json() for a in exc.attempts],
    )
    if isinstance(exc, chain.StreamInterrupted):
        return AiUnavailable("the AI answer broke off before it was complete; try again")
    return AiUnavailable("no AI provider could answer; try again later")


def _elapsed_ms(started: float) -> int:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading)."""
    return int((time.perf_counter() - started) * 1000)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown AI task {task!r}; known: {', '.join(TASKS)}")


def _is_external(plan: _Plan, provider_name: str) -> bool:
    return any(p.external for p in plan.providers if p.name == provider_name)


@dataclass(frozen=True, slots=True)
class _Call:
    """One call through the gateway: what it asks, for which feature, on what sources."""

    ctx: Context
    plan: _Plan
    rendered: prompts.RenderedPrompt
    request: CompletionRequest
    feature: str
    task: str
    sources: tuple[Source, ...]
    related: tuple[str, str] | None


async def _record(
    prepared: _Call, result: chain.ChainResult, *, started: float, streamed: bool, text: str
) -> AiResult:
    """Meter the chain's ``result`` (the call began at ``started``) and give the answer."""
    latency_ms = _elapsed_ms(started)
    plan, rendered, completion = prepared.plan, prepared.rendered, result.completion
    price = metering.price_for(
        completion.provider, completion.model, prices=plan.prices, currency=plan.currency
    )
    if price.source == "unpriced":
        log.warning("ai.model_unpriced", provider=completion.provider, model=completion.model)
    redactions = (
        plan.redactor.count
        if plan.redactor is not None and _is_external(plan, completion.provider)
        else 0
    )
    record = CallRecord(
        feature=prepared.feature,
        task=prepared.task,
        template=rendered.template,
        template_version=rendered.version,
        **{name: getattr(completion, name) for name in _USAGE},
        cost=metering.cost_of(price, completion.prompt_tokens, completion.completion_tokens),
        currency=plan.currency,
        sources=prepared.sources,
        attempts=tuple(a.as_json() for a in result.attempts),
        redactions=redactions,
        streamed=streamed,
        latency_ms=latency_ms,
        related=prepared.related,
    )
    async with get_database().unit_of_work(tenant_id=prepared.ctx.require_tenant()) as session:
        call = await metering.record_call(session, prepared.ctx, record)
    shared = {name: getattr(record, name) for name in _FROM_RECORD}
    return AiResult(text=text, call_id=call.id, **shared)


class Ask(TypedDict):
    """What a caller asks of :func:`generate` and :func:`generate_stream` (keywords):
    ``task`` (one of ``TASKS``) for ``feature``, the versioned prompt ``template`` and its
    ``variables``, the ``sources`` the answer may rest on (none), at most ``max_tokens``
    (800), and the record the output is about, ``related`` (type, id) or ``None``.
    ``exchange`` is a tool exchange to follow the rendered messages (assistant tool calls
    and their ``tool`` results) and ``tools`` the tools it names."""

    feature: str
    task: str
    template: str
    variables: Mapping[str, str]
    sources: NotRequired[Sequence[Source]]
    max_tokens: NotRequired[int]
    related: NotRequired[tuple[str, str] | None]
    exchange: NotRequired[Sequence[ChatMessage]]
    tools: NotRequired[Sequence[ToolSpec]]


async def _prepare(ctx: Context, ask: Ask) -> _Call:
    task, variables, sources = ask["task"], ask["variables"], tuple(ask.get("sources", ()))
    _check_task(task)
    rendered = prompts.render(ask["template"], variables, sources=sources)
    rendered = replace(rendered, messages=(*rendered.messages, *ask.get("exchange", ())))
    request = CompletionRequest(
        task=task,
        messages=rendered.messages,
        tools=tuple(ask.get("tools", ())),
        inputs=dict(variables),
        sources=sources,
        max_tokens=ask.get("max_tokens", 800),
    )
    plan = await _plan(ctx, texts=_texts_of(rendered.messages, variables, sources))
    return _Call(ctx, plan, rendered, request, ask["feature"], task, sources, ask.get("related"))


# --- the public door -----------------------------------------------------------------


async def generate(ctx: Context, **ask: Unpack[Ask]) -> AiResult:
    """One answer from the tenant's provider chain, metered and with provenance.

    Raises ``AiBudgetExhausted`` (429) before any provider is called when the month's
    budget is spent, and ``AiUnavailable`` (503) if every provider failed."""
    prepared = await _prepare(ctx, ask)
    plan = prepared.plan
    started = time.perf_counter()
    try:
        result = await chain.run_chain(plan.providers, _request_for(plan, prepared.request))
    except chain.AllProvidersFailed as exc:
        raise _unavailable(prepared.feature, exc) from exc
    text = result.completion.text
    if plan.redactor is not None and _is_external(plan, result.completion.provider):
        text = plan.redactor.restore(text)
    return await _record(prepared, result, started=started, streamed=False, text=text)


async def generate_stream(ctx: Context, **ask: Unpack[Ask]) -> AsyncIterator[TextDelta | AiResult]:
    """The answer as it is written: ``TextDelta`` pieces (privacy tokens already
    restored, never split across pieces), then the final :class:`AiResult`.

    Budget and failures as :func:`generate`; a stream that breaks off after text was
    sent cannot fall back and raises ``AiUnavailable``."""
    prepared = await _prepare(ctx, ask)
    plan = prepared.plan
    # The chain asks for each provider's request right before streaming from it, and
    # falls back only before the first delta: the last provider asked is the one whose
    # deltas arrive.
    asked: list[LlmProvider] = []
    build = _request_for(plan, prepared.request)

    def request_for(provider: LlmProvider) -> CompletionRequest:
        asked.append(provider)
        return build(provider)

    started = time.perf_counter()
    restorer: privacy.StreamRestorer | None = None
    shown: list[str] = []
    try:
        async for item in chain.stream_chain(plan.providers, request_for):
            if isinstance(item, TextDelta):
                piece = item.text
                if plan.redactor is not None and asked[-1].external:
                    restorer = restorer or plan.redactor.restorer()
                    piece = restorer.feed(piece)
                if piece:
                    shown.append(piece)
                    yield TextDelta(piece)
                continue
            if restorer is not None and (tail := restorer.finish()):
                shown.append(tail)
                yield TextDelta(tail)
            yield await _record(prepared, item, started=started, streamed=True, text="".join(shown))
            return
    except chain.AllProvidersFailed as exc:
        raise _unavailable(prepared.feature, exc) from exc


# --- embeddings ----------------------------------------------------------------------


EMBED_RETRIES = 2
EMBED_MAX_DELAY = 8.0


class _MeteredEmbeddings:
    """The OpenAI-compatible provider as an embeddings API that adds up the tokens the
    server counted (so a batch is metered by what it really cost) and retries a batch
    on retryable failures (408, 429 with Retry-After, 5xx, connection errors)."""

    def __init__(self, provider: openai.OpenAICompatibleProvider) -> None:
        self.provider = provider
        self.prompt_tokens = 0
        self.model: str | None = None

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        for retry in range(EMBED_RETRIES + 1):
            try:
                result = await self.provider.embed_with_usage(texts, model)
                break
            except ProviderError as exc:
                wait = exc.retry_after if exc.retry_after is not None else 0.5 * 2**retry
                if not exc.retryable or retry == EMBED_RETRIES or wait > EMBED_MAX_DELAY:
                    raise
                log.info("ai.embeddings_retry", status=exc.status, retry_in=wait)
                await asyncio.sleep(wait)
        self.prompt_tokens += result.prompt_tokens
        self.model = result.model
        return result.vectors


async def embed(ctx: Context, texts: Sequence[str], *, feature: str = "embedding") -> EmbedResult:
    """Vectors for ``texts`` from the tenant's embedder (``AiSettings.embeddings``).

    The built-in and sentence-transformers embedders run here, free and unmetered.
    Provider embeddings are budget-checked (429), see only redacted text, and are
    metered as one ``AiCall``. A provider failure raises ``AiUnavailable``: vectors of
    another embedder would not be comparable, so there is no silent fallback."""
    texts = list(texts)
    async with get_database().unit_of_work(tenant_id=ctx.require_tenant(), readonly=True) as s:
        settings = await load_settings(s, ctx)
        kind = settings.embeddings or "local"
        base, _, model = kind.partition(":")
        if base != "openai":
            embedder = embeddings.embedder_for(kind)
            conn = None
        else:
            await metering.check_budget(s, ctx, settings)
            conn = await connector_settings(s, ctx, "openai")
            if conn is None:
                raise AiUnavailable(
                    "openai embeddings are chosen in the AI settings but the openai connector "
                    "is not configured"
                )
            redactor = await privacy.redactor_for(s, ctx, texts)
        prices, currency = dict(settings.prices or {}), settings.currency
    if conn is None:
        return EmbedResult(await embedder.embed(texts), embedder.name)
    provider = _provider_from_connector("openai", conn)
    assert isinstance(provider, openai.OpenAICompatibleProvider)
    metered = _MeteredEmbeddings(provider)
    embedder = embeddings.embedder_for(kind, openai=metered, model=model or DEFAULT_EMBEDDING_MODEL)
    started = time.perf_counter()
    try:
        vectors = await embedder.embed([redactor.redact(t) for t in texts])
    except ProviderError as exc:
        log.warning("ai.embeddings_failed", status=exc.status, detail=exc.detail)
        raise AiUnavailable(f"the embeddings provider failed: {exc.detail}") from exc
    used_model = metered.model or model or DEFAULT_EMBEDDING_MODEL
    price = metering.price_for("openai", used_model, prices=prices, currency=currency)
    tokens = metered.prompt_tokens
    record = CallRecord(
        feature=feature,
        task="embed",
        provider="openai",
        model=used_model,
        prompt_tokens=tokens,
        completion_tokens=0,
        cost=metering.cost_of(price, tokens, 0),
        currency=currency,
        redactions=redactor.count,
        latency_ms=_elapsed_ms(started),
    )
    async with get_database().unit_of_work(tenant_id=ctx.require_tenant()) as session:
        await metering.record_call(session, ctx, record)
    return EmbedResult(vectors, embedder.name)
