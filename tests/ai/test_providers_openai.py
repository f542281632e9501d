"""The OpenAI-compatible provider against a local server speaking the OpenAI wire format."""

from __future__ import annotations

import httpx
import pytest

from bizos.ai.providers.openai import OpenAICompatibleProvider
from bizos.ai.types import ChatMessage, CompletionRequest, ProviderError, StreamEnd, TextDelta
from tests.fakes.llm_servers import FakeLlmServer, Reply, closed_port_url, echo_of


def ask(text: str, *, system: str = "You are helpful.") -> CompletionRequest:
    return CompletionRequest(
        task="answer",
        messages=(ChatMessage("system", system), ChatMessage("user", text)),
        max_tokens=120,
    )


def provider(
    server: FakeLlmServer, *, key: str | None = "sk-test-123", timeout: float = 5.0
) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(server.url, key, "gpt-4o-mini", timeout)


async def collect(
    p: OpenAICompatibleProvider, request: CompletionRequest
) -> tuple[list[str], StreamEnd]:
    deltas: list[str] = []
    end: StreamEnd | None = None
    async for chunk in p.stream(request):
        if isinstance(chunk, TextDelta):
            deltas.append(chunk.text)
        else:
            end = chunk
    assert end is not None
    return deltas, end


async def test_completion_returns_the_answer_and_the_servers_token_counts(
    fake_openai: FakeLlmServer,
) -> None:
    fake_openai.script(Reply(text="Refunds take five days.", usage=(42, 6)))
    completion = await provider(fake_openai).complete(ask("How long do refunds take?"))
    assert completion.text == "Refunds take five days."
    assert (completion.provider, completion.model) == ("openai", "gpt-4o-mini")
    assert (completion.prompt_tokens, completion.completion_tokens) == (42, 6)


async def test_request_carries_model_messages_limits_and_bearer_key(
    fake_openai: FakeLlmServer,
) -> None:
    await provider(fake_openai).complete(ask("Where is my parcel?", system="Be brief."))
    (sent,) = fake_openai.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-123"
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.json["max_tokens"] == 120
    assert sent.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is my parcel?"},
    ]
    assert "stream" not in sent.json


async def test_a_server_without_keys_gets_no_authorization_header(
    fake_openai: FakeLlmServer,
) -> None:
    completion = await provider(fake_openai, key=None).complete(ask("hi there"))
    assert completion.text == echo_of("hi there")
    assert "authorization" not in fake_openai.requests[0].headers


async def test_request_model_overrides_the_configured_one(fake_openai: FakeLlmServer) -> None:
    request = CompletionRequest(
        task="answer", messages=(ChatMessage("user", "x"),), model="llama3.1:8b"
    )
    completion = await provider(fake_openai).complete(request)
    assert fake_openai.requests[0].json["model"] == "llama3.1:8b"
    assert completion.model == "llama3.1:8b"


async def test_stream_yields_the_whole_answer_in_pieces_then_usage(
    fake_openai: FakeLlmServer,
) -> None:
    deltas, end = await collect(provider(fake_openai), ask("Call [PERSON_1] back tomorrow"))
    assert len(deltas) > 3
    assert "".join(deltas) == echo_of("Call [PERSON_1] back tomorrow")
    assert end.completion.text == "".join(deltas)
    usage_sent = fake_openai.requests[0].json
    assert usage_sent["stream"] is True
    assert usage_sent["stream_options"] == {"include_usage": True}
    # The server's own counts (words + framing in the fake), not an estimate.
    assert end.completion.prompt_tokens == (3 + 3) + (4 + 3)
    assert end.completion.completion_tokens == len(echo_of("Call [PERSON_1] back tomorrow").split())


async def test_stream_usage_overrides_are_reported(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(Reply(text="Yes.", usage=(1000, 2)))
    _, end = await collect(provider(fake_openai), ask("Open on Sunday?"))
    assert (end.completion.prompt_tokens, end.completion.completion_tokens) == (1000, 2)


async def test_a_server_that_ignores_include_usage_gets_estimated_counts(
    fake_openai: FakeLlmServer,
) -> None:
    body = (
        'data: {"choices":[{"index":0,"delta":{"content":"Hello there"},"finish_reason":null}]}\n\n'
        'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        "data: [DONE]\n\n"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    p = OpenAICompatibleProvider("http://llm.invalid/v1", None, "m", 5.0, client=client)
    async with client:
        deltas, end = await collect(p, ask("hi"))
    assert deltas == ["Hello there"]
    assert end.completion.completion_tokens == 2
    assert end.completion.prompt_tokens > 0


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
async def test_transient_statuses_are_retryable(fake_openai: FakeLlmServer, status: int) -> None:
    fake_openai.script(Reply(status=status))
    with pytest.raises(ProviderError) as caught:
        await provider(fake_openai).complete(ask("x"))
    assert caught.value.retryable is True
    assert caught.value.status == status
    assert caught.value.provider == "openai"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retryable(fake_openai: FakeLlmServer, status: int) -> None:
    fake_openai.script(Reply(status=status))
    with pytest.raises(ProviderError) as caught:
        await provider(fake_openai).complete(ask("x"))
    assert caught.value.retryable is False
    assert caught.value.status == status


async def test_rate_limit_reports_retry_after_seconds(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(Reply(status=429, retry_after=7))
    with pytest.raises(ProviderError) as caught:
        await provider(fake_openai).complete(ask("x"))
    assert caught.value.retry_after == 7.0
    assert "rate_limit" in caught.value.detail or "requests" in caught.value.detail


async def test_retry_after_as_an_http_date_is_read(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(Reply(status=503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    with pytest.raises(ProviderError) as caught:
        await provider(fake_openai).complete(ask("x"))
    # A date in the past means "now".
    assert caught.value.retry_after == 0.0


async def test_wrong_key_is_401_and_the_key_is_not_in_the_error(
    fake_openai: FakeLlmServer,
) -> None:
    fake_openai.api_key = "sk-right-key"
    fake_openai.script(
        Reply(
            status=401,
            body={
                "error": {
                    "message": "Incorrect API key provided: sk-wrong-secret-99",
                    "type": "invalid_request_error",
                }
            },
        )
    )
    with pytest.raises(ProviderError) as caught:
        await provider(fake_openai, key="sk-wrong-secret-99").complete(ask("x"))
    assert caught.value.status == 401
    assert caught.value.retryable is False
    assert "sk-wrong-secret-99" not in caught.value.detail
    assert "sk-wrong-secret-99" not in repr(provider(fake_openai, key="sk-wrong-secret-99"))


async def test_connection_refused_is_retryable() -> None:
    p = OpenAICompatibleProvider(closed_port_url(), "k", "m", 2.0)
    with pytest.raises(ProviderError) as caught:
        await p.complete(ask("x"))
    assert caught.value.retryable is True
    assert caught.value.status is None


async def test_a_dropped_connection_is_retryable(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(Reply(drop=True))
    with pytest.raises(ProviderError) as caught:
        await provider(fake_openai).complete(ask("x"))
    assert caught.value.retryable is True


async def test_a_slow_server_times_out_retryably(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(Reply(delay=1.0))
    with pytest.raises(ProviderError) as caught:
        await provider(fake_openai, timeout=0.1).complete(ask("x"))
    assert caught.value.retryable is True
    assert "timeout" in caught.value.detail


async def test_a_malformed_success_body_is_an_error_not_an_empty_answer(
    fake_openai: FakeLlmServer,
) -> None:
    fake_openai.script(Reply(body={"choices": []}))
    with pytest.raises(ProviderError) as caught:
        await provider(fake_openai).complete(ask("x"))
    assert caught.value.retryable is False


async def test_stream_refused_before_start_raises_with_status(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(Reply(status=429, retry_after=2))
    with pytest.raises(ProviderError) as caught:
        await collect(provider(fake_openai), ask("x"))
    assert (caught.value.status, caught.value.retryable, caught.value.retry_after) == (
        429,
        True,
        2.0,
    )


async def test_stream_cut_off_midway_is_an_error_after_the_first_deltas(
    fake_openai: FakeLlmServer,
) -> None:
    fake_openai.script(
        Reply(text="A long answer that will not arrive in full", drop_after_deltas=2)
    )
    got: list[str] = []
    with pytest.raises(ProviderError) as caught:
        async for chunk in provider(fake_openai).stream(ask("x")):
            assert isinstance(chunk, TextDelta)
            got.append(chunk.text)
    assert "".join(got) == "A long a"
    assert caught.value.retryable is True


async def test_stream_error_chunk_is_an_error(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(Reply(text="Partial answer here", error_after_deltas=1))
    with pytest.raises(ProviderError) as caught:
        await collect(provider(fake_openai), ask("x"))
    assert caught.value.retryable is True
    assert "server_error" in caught.value.detail


async def test_embeddings_come_back_in_input_order_with_usage(fake_openai: FakeLlmServer) -> None:
    p = OpenAICompatibleProvider(
        fake_openai.url, "k", "gpt-4o-mini", 5.0, embedding_model="text-embedding-3-small"
    )
    result = await p.embed_with_usage(["refund policy", "shipping times", "refund policy"])
    assert result.model == "text-embedding-3-small"
    assert len(result.vectors) == 3
    assert all(len(v) == fake_openai.embedding_dims for v in result.vectors)
    assert result.vectors[0] == result.vectors[2] != result.vectors[1]
    assert result.prompt_tokens == 6
    sent = fake_openai.requests[0]
    assert sent.path == "/v1/embeddings"
    assert sent.json["input"] == ["refund policy", "shipping times", "refund policy"]
    assert await p.embed(["a"], model="other-model") == [
        (await p.embed_with_usage(["a"], model="other-model")).vectors[0]
    ]
    assert fake_openai.requests[-1].json["model"] == "other-model"


async def test_embeddings_of_nothing_make_no_request(fake_openai: FakeLlmServer) -> None:
    assert await provider(fake_openai).embed([]) == []
    assert fake_openai.requests == []


async def test_embedding_failures_are_classified(fake_openai: FakeLlmServer) -> None:
    fake_openai.script(Reply(status=503), Reply(status=400))
    p = provider(fake_openai)
    with pytest.raises(ProviderError) as first:
        await p.embed(["x"])
    with pytest.raises(ProviderError) as second:
        await p.embed(["x"])
    assert (first.value.retryable, second.value.retryable) == (True, False)


async def test_a_shared_client_gets_the_key_per_request(fake_openai: FakeLlmServer) -> None:
    async with httpx.AsyncClient() as client:
        one = OpenAICompatibleProvider(fake_openai.url, "sk-one", "m", 5.0, client=client)
        two = OpenAICompatibleProvider(fake_openai.url, "sk-two", "m", 5.0, client=client)
        await one.complete(ask("a"))
        await two.complete(ask("b"))
        await one.complete(ask("c"))
    keys = [r.headers["authorization"] for r in fake_openai.requests]
    assert keys == ["Bearer sk-one", "Bearer sk-two", "Bearer sk-one"]
