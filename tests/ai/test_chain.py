"""The fallback chain over real HTTP: which failures are retried, how long it waits,
when it falls back, and that streams fall back only before the first delta."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from bizos.ai.chain import (
    AllProvidersFailed,
    Attempt,
    ChainResult,
    StreamInterrupted,
    run_chain,
    stream_chain,
)
from bizos.ai.providers.anthropic import AnthropicProvider
from bizos.ai.providers.local import LocalProvider
from bizos.ai.providers.openai import OpenAICompatibleProvider
from bizos.ai.types import (
    ChatMessage,
    Completion,
    CompletionRequest,
    LlmProvider,
    Source,
    StreamChunk,
    TextDelta,
)
from tests.fakes.llm_servers import FakeLlmServer, Reply, closed_port_url, echo_of

QUESTION = "Do you ship to Switzerland?"
SOURCES = (Source(title="Shipping", text="We ship to the EU, the UK and Switzerland."),)


def request_for(provider: LlmProvider) -> CompletionRequest:
    return CompletionRequest(
        task="answer",
        messages=(ChatMessage("user", QUESTION),),
        inputs={"question": QUESTION},
        sources=SOURCES,
    )


class Waits:
    """Records what the chain would sleep, without sleeping."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def openai(server: FakeLlmServer, *, timeout: float = 5.0) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(server.url, "sk-test", "gpt-4o-mini", timeout)


def anthropic(server: FakeLlmServer) -> AnthropicProvider:
    return AnthropicProvider(server.url, "sk-ant", "claude-3-5-haiku-latest", 5.0)


def trail(attempts: Sequence[Attempt]) -> list[tuple[str, str, int | None]]:
    return [(a.provider, a.outcome, a.status) for a in attempts]


async def test_a_healthy_primary_answers_in_one_attempt(fake_openai: FakeLlmServer) -> None:
    result = await run_chain([openai(fake_openai), LocalProvider()], request_for)
    assert result.completion.text == echo_of(QUESTION)
    assert result.provider.name == "openai"
    assert trail(result.attempts) == [("openai", "ok", None)]
    assert result.attempts[0].model == "gpt-4o-mini"
    assert result.attempts[0].latency_ms >= 0


@pytest.mark.parametrize("status", [408, 429, 500, 503])
async def test_transient_failure_is_retried_on_the_same_provider(
    fake_openai: FakeLlmServer, fake_anthropic: FakeLlmServer, status: int
) -> None:
    fake_openai.script(Reply(status=status))
    waits = Waits()
    result = await run_chain(
        [openai(fake_openai), anthropic(fake_anthropic)], request_for, sleep=waits
    )
    assert result.provider.name == "openai"
    assert trail(result.attempts) == [("openai", "failed", status), ("openai", "ok", None)]
    assert result.attempts[0].retryable is True
    assert len(waits.seconds) == 1
    assert fake_anthropic.requests == []


async def test_retry_after_wins_over_backoff(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(Reply(status=429, retry_after=3))
    waits = Waits()
    await run_chain([openai(fake_openai)], request_for, base_delay=0.01, sleep=waits)
    assert waits.seconds == [3.0]


async def test_retry_after_beyond_the_cap_falls_back_at_once(
    fake_openai: FakeLlmServer, fake_anthropic: FakeLlmServer
) -> None:
    fake_openai.script(Reply(status=429, retry_after=120))
    waits = Waits()
    result = await run_chain(
        [openai(fake_openai), anthropic(fake_anthropic)], request_for, max_delay=8.0, sleep=waits
    )
    assert waits.seconds == []
    assert trail(result.attempts) == [("openai", "failed", 429), ("anthropic", "ok", None)]
    assert len(fake_openai.requests) == 1


async def test_backoff_grows_exponentially_within_the_cap(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(*[Reply(status=503)] * 5)
    waits = Waits()
    with pytest.raises(AllProvidersFailed):
        await run_chain(
            [openai(fake_openai)],
            request_for,
            max_retries=4,
            base_delay=1.0,
            max_delay=3.0,
            sleep=waits,
        )
    assert len(waits.seconds) == 4
    ceilings = [1.0, 2.0, 3.0, 3.0]
    for waited, ceiling in zip(waits.seconds, ceilings, strict=True):
        assert ceiling / 2 <= waited <= ceiling


async def test_persistent_5xx_exhausts_retries_then_falls_back(
    fake_openai: FakeLlmServer, fake_anthropic: FakeLlmServer
) -> None:
    fake_openai.script(Reply(status=500), Reply(status=502), Reply(status=503))
    result = await run_chain(
        [openai(fake_openai), anthropic(fake_anthropic)],
        request_for,
        max_retries=2,
        base_delay=0.001,
    )
    assert trail(result.attempts) == [
        ("openai", "failed", 500),
        ("openai", "failed", 502),
        ("openai", "failed", 503),
        ("anthropic", "ok", None),
    ]
    assert result.completion.provider == "anthropic"
    assert result.completion.text == echo_of(QUESTION)


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_client_errors_are_not_retried(
    fake_openai: FakeLlmServer, fake_anthropic: FakeLlmServer, status: int
) -> None:
    fake_openai.script(Reply(status=status))
    waits = Waits()
    result = await run_chain(
        [openai(fake_openai), anthropic(fake_anthropic)], request_for, sleep=waits
    )
    assert trail(result.attempts) == [("openai", "failed", status), ("anthropic", "ok", None)]
    assert result.attempts[0].retryable is False
    assert len(fake_openai.requests) == 1
    assert waits.seconds == []


async def test_connection_refused_is_retried_then_local_answers() -> None:
    dead = OpenAICompatibleProvider(closed_port_url(), "k", "gpt-4o-mini", 2.0)
    result = await run_chain([dead, LocalProvider()], request_for, base_delay=0.001)
    assert trail(result.attempts) == [
        ("openai", "failed", None),
        ("openai", "failed", None),
        ("openai", "failed", None),
        ("local", "ok", None),
    ]
    assert all(a.retryable for a in result.attempts[:3])
    assert result.provider.name == "local"
    assert "Switzerland" in result.completion.text


async def test_timeouts_are_retried_then_fallen_back(
    fake_openai: FakeLlmServer, fake_anthropic: FakeLlmServer
) -> None:
    fake_openai.script(Reply(delay=0.5), Reply(delay=0.5))
    result = await run_chain(
        [openai(fake_openai, timeout=0.05), anthropic(fake_anthropic)],
        request_for,
        max_retries=1,
        base_delay=0.001,
    )
    assert [a.provider for a in result.attempts] == ["openai", "openai", "anthropic"]
    assert all("timeout" in (a.detail or "") for a in result.attempts[:2])
    assert result.provider.name == "anthropic"


async def test_a_dropped_connection_is_retried(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(Reply(drop=True))
    result = await run_chain([openai(fake_openai)], request_for, base_delay=0.001)
    assert trail(result.attempts) == [("openai", "failed", None), ("openai", "ok", None)]


async def test_every_external_provider_down_still_gets_a_local_answer(
    fake_openai: FakeLlmServer, fake_anthropic: FakeLlmServer
) -> None:
    fake_openai.script(Reply(status=401))
    fake_anthropic.script(*[Reply(status=529)] * 3)
    result = await run_chain(
        [openai(fake_openai), anthropic(fake_anthropic), LocalProvider()],
        request_for,
        base_delay=0.001,
    )
    assert result.provider.name == "local"
    assert result.completion.text == "According to “Shipping”: " + SOURCES[0].text
    assert [a.outcome for a in result.attempts] == ["failed"] * 4 + ["ok"]


async def test_all_providers_failing_raises_with_every_attempt(
    fake_openai: FakeLlmServer, fake_anthropic: FakeLlmServer
) -> None:
    fake_openai.script(Reply(status=403))
    fake_anthropic.script(Reply(status=400))
    with pytest.raises(AllProvidersFailed) as caught:
        await run_chain([openai(fake_openai), anthropic(fake_anthropic)], request_for)
    assert trail(caught.value.attempts) == [
        ("openai", "failed", 403),
        ("anthropic", "failed", 400),
    ]
    assert "anthropic" in str(caught.value)


async def test_an_empty_chain_fails_cleanly() -> None:
    with pytest.raises(AllProvidersFailed) as caught:
        await run_chain([], request_for)
    assert caught.value.attempts == []


async def test_each_provider_gets_its_own_request(
    fake_openai: FakeLlmServer,
) -> None:
    """External providers may be sent a redacted request while local sees the original."""
    fake_openai.script(Reply(status=400))

    def per_provider(provider: LlmProvider) -> CompletionRequest:
        text = "Call [PERSON_1]" if provider.external else "Call Jane Doe"
        return CompletionRequest(task="answer", messages=(ChatMessage("user", text),))

    result = await run_chain([openai(fake_openai), LocalProvider()], per_provider)
    assert "Jane Doe" not in fake_openai.requests[0].text()
    assert "[PERSON_1]" in fake_openai.requests[0].text()
    assert result.provider.name == "local"


class Broken:
    """A provider with a bug in it."""

    name = "openai"
    model = "buggy"
    external = True

    async def complete(self, request: CompletionRequest) -> Completion:
        raise KeyError("choices")

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
        raise KeyError("choices")
        yield  # pragma: no cover - makes this an async generator


async def test_a_provider_bug_is_recorded_and_the_chain_moves_on() -> None:
    result = await run_chain([Broken(), LocalProvider()], request_for)
    assert result.attempts[0].detail == "internal error (KeyError)"
    assert result.attempts[0].retryable is False
    assert result.provider.name == "local"


# --- streams ---------------------------------------------------------------------------


async def drain(
    stream: AsyncIterator[TextDelta | ChainResult],
) -> tuple[list[str], ChainResult]:
    deltas: list[str] = []
    final: ChainResult | None = None
    async for item in stream:
        if isinstance(item, TextDelta):
            assert final is None, "no delta after the result"
            deltas.append(item.text)
        else:
            final = item
    assert final is not None
    return deltas, final


async def test_stream_from_a_healthy_provider(fake_anthropic: FakeLlmServer) -> None:
    deltas, result = await drain(stream_chain([anthropic(fake_anthropic)], request_for))
    assert "".join(deltas) == echo_of(QUESTION) == result.completion.text
    assert trail(result.attempts) == [("anthropic", "ok", None)]
    assert result.completion.completion_tokens == len(echo_of(QUESTION).split())


async def test_stream_falls_back_when_the_primary_fails_before_any_text(
    fake_openai: FakeLlmServer, fake_anthropic: FakeLlmServer
) -> None:
    fake_openai.script(Reply(status=401))
    deltas, result = await drain(
        stream_chain([openai(fake_openai), anthropic(fake_anthropic)], request_for)
    )
    assert "".join(deltas) == echo_of(QUESTION)
    assert result.provider.name == "anthropic"
    assert trail(result.attempts) == [("openai", "failed", 401), ("anthropic", "ok", None)]


async def test_stream_retries_a_rate_limit_before_any_text(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(Reply(status=429, retry_after=0.01))
    waits = Waits()
    deltas, result = await drain(stream_chain([openai(fake_openai)], request_for, sleep=waits))
    assert waits.seconds == [0.01]
    assert "".join(deltas) == echo_of(QUESTION)
    assert trail(result.attempts) == [("openai", "failed", 429), ("openai", "ok", None)]


async def test_stream_dropped_before_the_first_delta_still_falls_back(
    fake_openai: FakeLlmServer,
) -> None:
    fake_openai.script(Reply(drop_after_deltas=0), Reply(drop_after_deltas=0))
    deltas, result = await drain(
        stream_chain(
            [openai(fake_openai), LocalProvider()], request_for, max_retries=1, base_delay=0.001
        )
    )
    assert result.provider.name == "local"
    assert "".join(deltas) == result.completion.text
    assert "Switzerland" in result.completion.text
    assert [a.provider for a in result.attempts] == ["openai", "openai", "local"]


async def test_stream_broken_after_text_was_sent_does_not_fall_back(
    fake_openai: FakeLlmServer, fake_anthropic: FakeLlmServer
) -> None:
    fake_openai.script(Reply(text="We do ship there, and", drop_after_deltas=3))
    received: list[str] = []
    with pytest.raises(StreamInterrupted) as caught:
        async for item in stream_chain(
            [openai(fake_openai), anthropic(fake_anthropic)], request_for, base_delay=0.001
        ):
            assert isinstance(item, TextDelta)
            received.append(item.text)
    assert "".join(received) == "We do ship t"
    assert caught.value.partial_text == "We do ship t"
    assert trail(caught.value.attempts) == [("openai", "failed", None)]
    assert len(fake_openai.requests) == 1  # not retried either
    assert fake_anthropic.requests == []
    assert isinstance(caught.value, AllProvidersFailed)


async def test_stream_error_event_midway_is_not_papered_over(
    fake_anthropic: FakeLlmServer,
) -> None:
    fake_anthropic.script(Reply(text="Partial answer", error_after_deltas=1))
    with pytest.raises(StreamInterrupted) as caught:
        await drain(stream_chain([anthropic(fake_anthropic), LocalProvider()], request_for))
    assert caught.value.partial_text == "Part"
    assert "overloaded_error" in (caught.value.attempts[-1].detail or "")


async def test_stream_with_every_provider_failing_raises(
    fake_openai: FakeLlmServer, fake_anthropic: FakeLlmServer
) -> None:
    fake_openai.script(Reply(status=404))
    fake_anthropic.script(Reply(status=400))
    with pytest.raises(AllProvidersFailed) as caught:
        await drain(stream_chain([openai(fake_openai), anthropic(fake_anthropic)], request_for))
    assert not isinstance(caught.value, StreamInterrupted)
    assert trail(caught.value.attempts) == [
        ("openai", "failed", 404),
        ("anthropic", "failed", 400),
    ]


async def test_stream_provider_bug_before_text_falls_back() -> None:
    deltas, result = await drain(stream_chain([Broken(), LocalProvider()], request_for))
    assert result.provider.name == "local"
    assert "".join(deltas) == result.completion.text
    assert result.attempts[0].detail == "internal error (KeyError)"
