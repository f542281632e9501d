"""The Anthropic provider against a local server speaking the Messages API."""

from __future__ import annotations

import pytest

from bizos.ai.providers.anthropic import API_VERSION, AnthropicProvider
from bizos.ai.types import ChatMessage, CompletionRequest, ProviderError, StreamEnd, TextDelta
from tests.fakes.llm_servers import FakeLlmServer, Reply, closed_port_url, echo_of


def ask(text: str, *, system: str | None = "You draft support replies.") -> CompletionRequest:
    messages = (ChatMessage("system", system),) if system else ()
    return CompletionRequest(
        task="draft", messages=(*messages, ChatMessage("user", text)), max_tokens=300
    )


def provider(
    server: FakeLlmServer, *, key: str = "sk-ant-test", timeout: float = 5.0
) -> AnthropicProvider:
    return AnthropicProvider(server.url, key, "claude-3-5-haiku-latest", timeout)


async def collect(p: AnthropicProvider, request: CompletionRequest) -> tuple[list[str], StreamEnd]:
    deltas: list[str] = []
    end: StreamEnd | None = None
    async for chunk in p.stream(request):
        if isinstance(chunk, TextDelta):
            deltas.append(chunk.text)
        else:
            end = chunk
    assert end is not None
    return deltas, end


async def test_message_returns_text_and_usage(fake_anthropic: FakeLlmServer) -> None:
    fake_anthropic.script(Reply(text="We ship in two days.", usage=(311, 7)))
    completion = await provider(fake_anthropic).complete(ask("When do you ship?"))
    assert completion.text == "We ship in two days."
    assert (completion.provider, completion.model) == ("anthropic", "claude-3-5-haiku-latest")
    assert (completion.prompt_tokens, completion.completion_tokens) == (311, 7)


async def test_system_prompt_goes_top_level_and_headers_are_the_vendors(
    fake_anthropic: FakeLlmServer,
) -> None:
    await provider(fake_anthropic).complete(ask("Where is my order?", system="Be kind."))
    (sent,) = fake_anthropic.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == API_VERSION
    assert "authorization" not in sent.headers
    assert sent.json["system"] == "Be kind."
    assert sent.json["messages"] == [{"role": "user", "content": "Where is my order?"}]
    assert sent.json["max_tokens"] == 300


async def test_no_system_field_without_a_system_message(fake_anthropic: FakeLlmServer) -> None:
    completion = await provider(fake_anthropic).complete(ask("hello", system=None))
    assert completion.text == echo_of("hello")
    assert "system" not in fake_anthropic.requests[0].json


async def test_adjacent_turns_of_one_role_are_merged(fake_anthropic: FakeLlmServer) -> None:
    request = CompletionRequest(
        task="answer",
        messages=(
            ChatMessage("system", "Rules."),
            ChatMessage("user", "Context: the refund policy."),
            ChatMessage("user", "Question: can I return shoes?"),
            ChatMessage("system", "Answer briefly."),
        ),
    )
    completion = await provider(fake_anthropic).complete(request)
    sent = fake_anthropic.requests[0].json
    assert sent["system"] == "Rules.\n\nAnswer briefly."
    assert sent["messages"] == [
        {
            "role": "user",
            "content": "Context: the refund policy.\n\nQuestion: can I return shoes?",
        }
    ]
    assert completion.text.endswith("Question: can I return shoes?")


async def test_a_base_url_ending_in_v1_is_accepted(fake_anthropic: FakeLlmServer) -> None:
    p = AnthropicProvider(fake_anthropic.url + "/v1/", "k", "claude", 5.0)
    await p.complete(ask("x"))
    assert fake_anthropic.requests[0].path == "/v1/messages"


async def test_stream_yields_text_deltas_and_usage_from_the_events(
    fake_anthropic: FakeLlmServer,
) -> None:
    fake_anthropic.script(Reply(text="Dear [PERSON_1], your refund is on its way.", usage=(90, 9)))
    deltas, end = await collect(provider(fake_anthropic), ask("refund?"))
    assert len(deltas) > 3
    assert "".join(deltas) == "Dear [PERSON_1], your refund is on its way."
    assert end.completion.text == "".join(deltas)
    # input tokens from message_start, output tokens from message_delta
    assert (end.completion.prompt_tokens, end.completion.completion_tokens) == (90, 9)
    assert fake_anthropic.requests[0].json["stream"] is True


@pytest.mark.parametrize("status", [408, 429, 500, 503, 529])
async def test_transient_statuses_are_retryable(fake_anthropic: FakeLlmServer, status: int) -> None:
    fake_anthropic.script(Reply(status=status, retry_after=3 if status == 429 else None))
    with pytest.raises(ProviderError) as caught:
        await provider(fake_anthropic).complete(ask("x"))
    assert (caught.value.status, caught.value.retryable) == (status, True)
    assert caught.value.retry_after == (3.0 if status == 429 else None)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
async def test_client_errors_are_not_retryable(fake_anthropic: FakeLlmServer, status: int) -> None:
    fake_anthropic.script(Reply(status=status))
    with pytest.raises(ProviderError) as caught:
        await provider(fake_anthropic).complete(ask("x"))
    assert (caught.value.status, caught.value.retryable) == (status, False)


async def test_a_wrong_key_is_rejected_for_good(fake_anthropic: FakeLlmServer) -> None:
    fake_anthropic.api_key = "sk-ant-right"
    with pytest.raises(ProviderError) as caught:
        await provider(fake_anthropic, key="sk-ant-wrong-key-123").complete(ask("x"))
    assert (caught.value.status, caught.value.retryable) == (401, False)
    assert "authentication_error" in caught.value.detail
    assert "sk-ant-wrong-key-123" not in caught.value.detail


async def test_connection_refused_and_timeouts_are_retryable(
    fake_anthropic: FakeLlmServer,
) -> None:
    refused = AnthropicProvider(closed_port_url(""), "k", "claude", 2.0)
    with pytest.raises(ProviderError) as caught:
        await refused.complete(ask("x"))
    assert caught.value.retryable is True
    fake_anthropic.script(Reply(delay=1.0))
    with pytest.raises(ProviderError) as slow:
        await provider(fake_anthropic, timeout=0.1).complete(ask("x"))
    assert slow.value.retryable is True
    assert "timeout" in slow.value.detail


async def test_overloaded_error_event_midstream_is_retryable(
    fake_anthropic: FakeLlmServer,
) -> None:
    fake_anthropic.script(Reply(text="Part of an answer", error_after_deltas=2))
    got: list[str] = []
    with pytest.raises(ProviderError) as caught:
        async for chunk in provider(fake_anthropic).stream(ask("x")):
            assert isinstance(chunk, TextDelta)
            got.append(chunk.text)
    assert "".join(got) == "Part of "
    assert caught.value.retryable is True
    assert "overloaded_error" in caught.value.detail


async def test_stream_dropped_before_message_stop_is_an_error(
    fake_anthropic: FakeLlmServer,
) -> None:
    fake_anthropic.script(Reply(text="Part of an answer", drop_after_deltas=1))
    with pytest.raises(ProviderError) as caught:
        await collect(provider(fake_anthropic), ask("x"))
    assert caught.value.retryable is True


async def test_stream_rejected_up_front_carries_the_status(fake_anthropic: FakeLlmServer) -> None:
    fake_anthropic.script(Reply(status=400))
    with pytest.raises(ProviderError) as caught:
        await collect(provider(fake_anthropic), ask("x"))
    assert (caught.value.status, caught.value.retryable) == (400, False)
    assert "invalid_request_error" in caught.value.detail
