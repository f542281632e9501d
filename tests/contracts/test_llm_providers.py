"""The LLM provider contract (``bizos.ai.types.LlmProvider``), for every provider.

Every provider — the built-in local one, OpenAI-compatible and Anthropic (the last two
over real HTTP against the fake servers in ``tests/fakes/llm_servers.py``):

- answers a request with a :class:`Completion` naming the provider and the model that
  wrote it, and counting the prompt and answer tokens;
- streams the same answer as text pieces that join to exactly the full text (its
  whitespace included), then ends once with a :class:`StreamEnd` carrying the whole
  answer and its usage;
- keeps text in any script intact, and concurrent requests apart;
- says whether prompts leave the machine (``external``: the privacy proxy applies);
- never shows its key;
- refuses a request it cannot serve with a :class:`ProviderError` that is not retryable.

Every provider that calls a server over HTTP also:

- reports the server's own token counts when it gives them, and uses the request's model;
- turns 408, 429, 5xx, timeouts, refused and dropped connections into retryable errors
  with the status and the server's Retry-After, and other 4xx into final ones;
- treats a stream that is cut off, or carries an error, as an error, never a short answer;
- treats a success body that is not the documented shape as an error, never an empty
  answer; and keeps a key echoed in an error out of the error.

Embeddings (served by the OpenAI-compatible provider only) have their own contract in
``test_embedders.py``.

Adding a provider means adding it to ``PROVIDERS`` (and to ``OVER_HTTP`` if it calls a
server) and to ``_subject``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bizos.ai.providers.anthropic import AnthropicProvider
from bizos.ai.providers.local import LocalProvider
from bizos.ai.providers.openai import OpenAICompatibleProvider
from bizos.ai.types import (
    ChatMessage,
    Completion,
    CompletionRequest,
    LlmProvider,
    ProviderError,
    StreamEnd,
    TextDelta,
)
from tests.fakes.llm_servers import FakeLlmServer, Reply, closed_port_url

PROVIDERS = ["local", "openai", "anthropic"]
OVER_HTTP = ["openai", "anthropic"]

KEY = "sk-contract-secret-1234"
SHORT = "Where is my parcel?"
LONG = (
    "Our warehouse in Leeds packs every order within one working day. Express parcels "
    "arrive the next morning. Refunds reach the original card within five business days."
)
ANY_SCRIPT = "Grüße aus Köln: the naïve café in 東京 ships every order on Monday 😀."


@dataclass
class Subject:
    """One provider under test, and what the test may do to it."""

    provider: LlmProvider
    external: bool
    key: str | None
    server: FakeLlmServer | None = None
    # A provider of this kind pointed at ``url`` with ``key`` and ``timeout``.
    build: Callable[[str, str, float], LlmProvider] | None = None
    # Success bodies that are not the vendor's documented shape.
    malformed_bodies: list[dict[str, Any]] = field(default_factory=list)

    def refuse_next(self) -> CompletionRequest:
        """A request this provider will refuse (for a reason retrying will not change)."""
        if self.server is None:
            return CompletionRequest(task="horoscope", messages=(ChatMessage("user", SHORT),))
        self.server.script(Reply(status=400))
        return ask(SHORT)

    def ending_in_a_line_break(self) -> CompletionRequest:
        """A request whose answer ends in a line break."""
        if self.server is None:
            # A blank signature leaves the local draft ending in "Best regards,\n".
            return CompletionRequest(
                task="draft",
                messages=(ChatMessage("user", SHORT),),
                inputs={"message": SHORT, "signature": " "},
            )
        self.server.script(*[Reply(text="Best regards,\n")] * 2)
        return ask(SHORT)

    @property
    def http(self) -> FakeLlmServer:
        assert self.server is not None, "only providers over HTTP have a server"
        return self.server

    def pointed_at(self, url: str, *, key: str = KEY, timeout: float = 5.0) -> LlmProvider:
        assert self.build is not None
        return self.build(url, key, timeout)


def ask(text: str, *, model: str | None = None) -> CompletionRequest:
    """One request every provider serves: the local one summarises ``inputs``, a model
    server reads the ``messages`` (the fakes echo the last user message)."""
    return CompletionRequest(
        task="summarize",
        messages=(
            ChatMessage("system", "Summarise the customer's message in their words."),
            ChatMessage("user", text),
        ),
        inputs={"text": text},
        max_tokens=200,
        model=model,
    )


def _openai(url: str, key: str, timeout: float) -> LlmProvider:
    return OpenAICompatibleProvider(url, key, "gpt-4o-mini", timeout)


def _anthropic(url: str, key: str, timeout: float) -> LlmProvider:
    return AnthropicProvider(url, key, "claude-3-5-haiku-latest", timeout)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeLlmServer]]:
    """One fake server per vendor for the module (starting and stopping one costs more
    than the tests); each test starts from a reset one."""
    started = {kind: FakeLlmServer(kind).start() for kind in ("openai", "anthropic")}
    yield started
    for server in started.values():
        server.stop()


def _subject(name: str, servers: dict[str, FakeLlmServer]) -> Iterator[Subject]:
    if name == "local":
        yield Subject(LocalProvider(), external=False, key=None)
        return
    server = servers[name]
    server.reset()
    if name == "openai":
        yield Subject(
            _openai(server.url, KEY, 5.0),
            external=True,
            key=KEY,
            server=server,
            build=_openai,
            malformed_bodies=[
                {},
                {"choices": []},
                {"choices": [{"message": {"role": "assistant", "content": 42}}]},
            ],
        )
    else:
        yield Subject(
            _anthropic(server.url, KEY, 5.0),
            external=True,
            key=KEY,
            server=server,
            build=_anthropic,
            malformed_bodies=[
                {},
                {"content": None},
                {"content": "a bare string instead of content blocks"},
            ],
        )
    server.reset()


@pytest.fixture(params=PROVIDERS)
def subject(request: pytest.FixtureRequest, servers: dict[str, FakeLlmServer]) -> Iterator[Subject]:
    yield from _subject(request.param, servers)


@pytest.fixture(params=OVER_HTTP)
def remote(request: pytest.FixtureRequest, servers: dict[str, FakeLlmServer]) -> Iterator[Subject]:
    yield from _subject(request.param, servers)


async def streamed(
    provider: LlmProvider, request: CompletionRequest
) -> tuple[list[str], StreamEnd]:
    """The text pieces of a stream and its end, checking the end comes once and last."""
    pieces: list[str] = []
    ends: list[StreamEnd] = []
    async for chunk in provider.stream(request):
        assert not ends, "nothing may follow the end of a stream"
        if isinstance(chunk, TextDelta):
            pieces.append(chunk.text)
        else:
            assert isinstance(chunk, StreamEnd)
            ends.append(chunk)
    assert len(ends) == 1, "a stream ends exactly once"
    return pieces, ends[0]


# --- the contract: every provider ---------------------------------------------------------


async def test_an_answer_names_the_provider_and_the_model_that_wrote_it(
    subject: Subject,
) -> None:
    completion = await subject.provider.complete(ask(SHORT))

    assert completion.text.strip()
    assert completion.provider == subject.provider.name
    assert completion.model == subject.provider.model


async def test_an_answer_counts_the_tokens_it_used(subject: Subject) -> None:
    completion = await subject.provider.complete(ask(LONG))

    assert completion.prompt_tokens > 0
    assert completion.completion_tokens > 0


async def test_streamed_pieces_join_to_the_full_answer_which_ends_the_stream(
    subject: Subject,
) -> None:
    pieces, end = await streamed(subject.provider, ask(LONG))

    assert "".join(pieces) == end.completion.text
    assert all(pieces), "no empty pieces"
    assert end.completion.provider == subject.provider.name
    assert end.completion.model == subject.provider.model
    assert end.completion.prompt_tokens > 0 and end.completion.completion_tokens > 0


async def test_a_stream_tells_the_same_answer_as_a_completion(subject: Subject) -> None:
    completion = await subject.provider.complete(ask(LONG))
    pieces, end = await streamed(subject.provider, ask(LONG))

    assert "".join(pieces) == end.completion.text == completion.text


async def test_an_answer_ending_in_a_line_break_streams_it_too(subject: Subject) -> None:
    request = subject.ending_in_a_line_break()
    completion = await subject.provider.complete(request)
    pieces, end = await streamed(subject.provider, request)

    assert completion.text.endswith("\n")
    assert "".join(pieces) == end.completion.text == completion.text


async def test_a_long_answer_arrives_in_several_pieces(subject: Subject) -> None:
    pieces, _ = await streamed(subject.provider, ask(LONG))

    assert len(pieces) > 1


async def test_text_in_any_script_arrives_intact(subject: Subject) -> None:
    completion = await subject.provider.complete(ask(ANY_SCRIPT))
    pieces, end = await streamed(subject.provider, ask(ANY_SCRIPT))

    assert ANY_SCRIPT in completion.text
    assert "".join(pieces) == end.completion.text == completion.text


async def test_concurrent_requests_each_get_their_own_answer(subject: Subject) -> None:
    questions = [f"Order number {n} has not arrived in Leeds yet." for n in range(1, 6)]
    alone = [(await subject.provider.complete(ask(q))).text for q in questions]

    together = await asyncio.gather(*(subject.provider.complete(ask(q)) for q in questions))

    assert [c.text for c in together] == alone
    assert all(q in answer for q, answer in zip(questions, alone, strict=True))


async def test_the_provider_says_whether_prompts_leave_the_machine(subject: Subject) -> None:
    assert subject.provider.external is subject.external


async def test_a_provider_never_shows_its_key(subject: Subject) -> None:
    if subject.key is not None:
        assert subject.key not in repr(subject.provider)
        assert subject.key not in str(subject.provider)


async def test_a_request_it_cannot_serve_is_refused_for_good(subject: Subject) -> None:
    with pytest.raises(ProviderError) as refused:
        await subject.provider.complete(subject.refuse_next())

    assert refused.value.retryable is False
    assert refused.value.provider == subject.provider.name


async def test_a_refused_stream_yields_no_text(subject: Subject) -> None:
    pieces: list[object] = []
    with pytest.raises(ProviderError) as refused:
        async for chunk in subject.provider.stream(subject.refuse_next()):
            pieces.append(chunk)

    assert pieces == []
    assert refused.value.retryable is False


# --- the contract: every provider over HTTP -----------------------------------------------


async def test_the_model_reads_the_whole_conversation(remote: Subject) -> None:
    await remote.provider.complete(ask(SHORT))

    [sent] = remote.http.requests
    assert "Summarise the customer" in sent.text() and SHORT in sent.text()


async def test_the_servers_own_token_counts_are_reported(remote: Subject) -> None:
    remote.http.script(
        Reply(text="Tomorrow.", usage=(42, 6)), Reply(text="Tomorrow.", usage=(42, 6))
    )

    completion = await remote.provider.complete(ask(SHORT))
    _, end = await streamed(remote.provider, ask(SHORT))

    assert (completion.prompt_tokens, completion.completion_tokens) == (42, 6)
    assert (end.completion.prompt_tokens, end.completion.completion_tokens) == (42, 6)


async def test_the_requests_model_is_used_instead_of_the_configured_one(
    remote: Subject,
) -> None:
    completion = await remote.provider.complete(ask(SHORT, model="house-model-2"))
    _, end = await streamed(remote.provider, ask(SHORT, model="house-model-2"))

    assert [r.json["model"] for r in remote.http.requests] == ["house-model-2"] * 2
    assert completion.model == end.completion.model == "house-model-2"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 529])
async def test_a_transient_failure_may_pass_later(remote: Subject, status: int) -> None:
    remote.http.script(Reply(status=status), Reply(status=status))

    with pytest.raises(ProviderError) as answered:
        await remote.provider.complete(ask(SHORT))
    with pytest.raises(ProviderError) as streaming:
        await streamed(remote.provider, ask(SHORT))

    for failure in (answered.value, streaming.value):
        assert (failure.retryable, failure.status) == (True, status)
        assert failure.provider == remote.provider.name
    # Nothing is remembered: the next request is answered.
    assert (await remote.provider.complete(ask(SHORT))).text


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
async def test_a_client_error_is_refused_for_good(remote: Subject, status: int) -> None:
    remote.http.script(Reply(status=status), Reply(status=status))

    with pytest.raises(ProviderError) as answered:
        await remote.provider.complete(ask(SHORT))
    with pytest.raises(ProviderError) as streaming:
        await streamed(remote.provider, ask(SHORT))

    for failure in (answered.value, streaming.value):
        assert (failure.retryable, failure.status) == (False, status)


async def test_a_rate_limit_says_when_to_come_back(remote: Subject) -> None:
    remote.http.script(Reply(status=429, retry_after=7), Reply(status=429, retry_after=2))

    with pytest.raises(ProviderError) as answered:
        await remote.provider.complete(ask(SHORT))
    with pytest.raises(ProviderError) as streaming:
        await streamed(remote.provider, ask(SHORT))

    assert answered.value.retry_after == 7.0
    assert streaming.value.retry_after == 2.0


async def test_an_unreachable_server_may_pass_later(remote: Subject) -> None:
    provider = remote.pointed_at(closed_port_url())

    with pytest.raises(ProviderError) as answered:
        await provider.complete(ask(SHORT))
    with pytest.raises(ProviderError) as streaming:
        await streamed(provider, ask(SHORT))

    for failure in (answered.value, streaming.value):
        assert (failure.retryable, failure.status) == (True, None)


async def test_a_dropped_connection_may_pass_later(remote: Subject) -> None:
    remote.http.script(Reply(drop=True), Reply(drop=True))

    with pytest.raises(ProviderError) as answered:
        await remote.provider.complete(ask(SHORT))
    with pytest.raises(ProviderError) as streaming:
        await streamed(remote.provider, ask(SHORT))

    assert answered.value.retryable is True and streaming.value.retryable is True


async def test_a_server_slower_than_the_timeout_may_pass_later(remote: Subject) -> None:
    provider = remote.pointed_at(remote.http.url, timeout=0.1)
    remote.http.script(Reply(delay=1.0), Reply(delay=1.0))

    with pytest.raises(ProviderError) as answered:
        await provider.complete(ask(SHORT))
    with pytest.raises(ProviderError) as streaming:
        await streamed(provider, ask(SHORT))

    for failure in (answered.value, streaming.value):
        assert failure.retryable is True
        assert "timeout" in failure.detail


async def test_a_stream_cut_off_midway_is_an_error_not_a_short_answer(
    remote: Subject,
) -> None:
    remote.http.script(Reply(text=LONG, drop_after_deltas=3))
    pieces: list[str] = []

    with pytest.raises(ProviderError) as cut:
        async for chunk in remote.provider.stream(ask(SHORT)):
            assert isinstance(chunk, TextDelta), "no end for an answer cut short"
            pieces.append(chunk.text)

    assert cut.value.retryable is True
    assert pieces and LONG.startswith("".join(pieces)) and "".join(pieces) != LONG


async def test_a_stream_that_ends_before_any_text_is_an_error(remote: Subject) -> None:
    remote.http.script(Reply(text=LONG, drop_after_deltas=0))

    with pytest.raises(ProviderError) as cut:
        await streamed(remote.provider, ask(SHORT))

    assert cut.value.retryable is True


async def test_an_error_inside_a_stream_is_an_error(remote: Subject) -> None:
    remote.http.script(Reply(text=LONG, error_after_deltas=2))

    with pytest.raises(ProviderError) as failed:
        await streamed(remote.provider, ask(SHORT))

    assert failed.value.provider == remote.provider.name


async def test_a_success_body_of_the_wrong_shape_is_an_error_not_an_empty_answer(
    remote: Subject,
) -> None:
    answers: list[Completion] = []
    for body in remote.malformed_bodies:
        remote.http.script(Reply(body=body))
        with pytest.raises(ProviderError) as failed:
            answers.append(await remote.provider.complete(ask(SHORT)))
        assert failed.value.retryable is False, body

    assert answers == []


async def test_a_wrong_key_is_refused_for_good_and_never_repeated(remote: Subject) -> None:
    echoed = {
        "type": "error",
        "error": {
            "type": "authentication_error",
            "message": f"Incorrect API key provided: {KEY}. Find your key in the console.",
        },
    }
    remote.http.script(Reply(status=401, body=echoed), Reply(status=401, body=echoed))

    with pytest.raises(ProviderError) as answered:
        await remote.provider.complete(ask(SHORT))
    with pytest.raises(ProviderError) as streaming:
        await streamed(remote.provider, ask(SHORT))

    for failure in (answered.value, streaming.value):
        assert (failure.status, failure.retryable) == (401, False)
        assert KEY not in failure.detail and KEY not in str(failure)
