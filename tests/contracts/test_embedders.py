"""The embedder contract (``bizos.ai.types.EmbeddingProvider``), for every embedder.

Every embedder — the built-in local one, OpenAI-compatible embeddings (``ProviderEmbedder``
over real HTTP against the fake server in ``tests/fakes/llm_servers.py``) and, when a
model is at hand, sentence-transformers:

- has a name that says which embedder made a vector (the vector index compares only
  vectors of one name), the same for every instance of one kind;
- gives one vector per text, in order, each of ``dim`` plain finite floats;
- gives unit-length vectors (the index stores and compares them as cosines);
- gives a text the same vector every time, from any instance, alone or in a batch of any
  size; and different texts different vectors;
- embeds text in any script;
- asks nothing of anyone for nothing to embed.

Every embedder that calls a server also normalises what the server sends, refuses an
answer of the wrong count or size, and passes the server's failures on as
:class:`ProviderError` saying whether to retry.

Set ``BIZOS_TEST_SENTENCE_MODEL`` to a local sentence-transformers model directory to run
that embedder too (never downloaded here: tests stay on loopback).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from bizos.ai.embeddings import LocalEmbedder, ProviderEmbedder, SentenceTransformerEmbedder
from bizos.ai.providers.openai import OpenAICompatibleProvider
from bizos.ai.types import EmbeddingProvider, ProviderError
from tests.fakes.llm_servers import FakeLlmServer, Reply

SENTENCE_MODEL = os.environ.get("BIZOS_TEST_SENTENCE_MODEL", "")
HAS_SENTENCE_TRANSFORMERS = importlib.util.find_spec("sentence_transformers") is not None

EMBEDDERS = [
    "local",
    "openai",
    pytest.param(
        "sentence-transformers",
        marks=pytest.mark.skipif(
            not (SENTENCE_MODEL and HAS_SENTENCE_TRANSFORMERS),
            reason="needs sentence-transformers and BIZOS_TEST_SENTENCE_MODEL (a local model)",
        ),
    ),
]
OVER_HTTP = ["openai"]

TEXTS = [
    "How do I get my money back?",
    "Refunds reach the original card within five business days.",
    "Orders leave our warehouse in Leeds within one working day.",
]
ANY_SCRIPT = "Grüße aus Köln: naïve café, 東京 and 😀 ship on Monday."
# A small batch size for the HTTP embedder, so a long list crosses batch boundaries.
BATCH = 4


@dataclass
class Subject:
    embedder: EmbeddingProvider
    fresh: Callable[[], EmbeddingProvider]  # another instance of the same kind
    server: FakeLlmServer | None = None

    @property
    def http(self) -> FakeLlmServer:
        assert self.server is not None, "only embedders over HTTP have a server"
        return self.server


def _provider_embedder(server: FakeLlmServer) -> ProviderEmbedder:
    provider = OpenAICompatibleProvider(server.url, "sk-embed", "gpt-4o-mini", 5.0)
    return ProviderEmbedder(provider, model="text-embedding-3-small", batch_size=BATCH)


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeLlmServer]:
    """One fake server for the module; each test starts from a reset one."""
    server = FakeLlmServer("openai", embedding_dims=16).start()
    yield server
    server.stop()


def _subject(name: str, server: FakeLlmServer) -> Iterator[Subject]:
    if name == "local":
        yield Subject(LocalEmbedder(), LocalEmbedder)
    elif name == "sentence-transformers":
        yield Subject(
            SentenceTransformerEmbedder(SENTENCE_MODEL),
            lambda: SentenceTransformerEmbedder(SENTENCE_MODEL),
        )
    else:
        server.reset()
        yield Subject(_provider_embedder(server), lambda: _provider_embedder(server), server)
        server.reset()


@pytest.fixture(params=EMBEDDERS)
def subject(request: pytest.FixtureRequest, openai_server: FakeLlmServer) -> Iterator[Subject]:
    yield from _subject(request.param, openai_server)


@pytest.fixture(params=OVER_HTTP)
def remote(request: pytest.FixtureRequest, openai_server: FakeLlmServer) -> Iterator[Subject]:
    yield from _subject(request.param, openai_server)


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


# --- the contract: every embedder --------------------------------------------------------


async def test_one_vector_per_text_in_order_each_of_the_embedders_size(
    subject: Subject,
) -> None:
    vectors = await subject.embedder.embed(TEXTS)

    assert len(vectors) == len(TEXTS)
    assert subject.embedder.dim > 0
    assert all(len(v) == subject.embedder.dim for v in vectors)
    for text, vector in zip(TEXTS, vectors, strict=True):
        assert (await subject.embedder.embed([text]))[0] == pytest.approx(vector, abs=1e-6)


async def test_vectors_are_unit_length(subject: Subject) -> None:
    for vector in await subject.embedder.embed([*TEXTS, ANY_SCRIPT]):
        assert norm(vector) == pytest.approx(1.0, abs=1e-5)


async def test_vectors_are_plain_finite_floats(subject: Subject) -> None:
    [vector] = await subject.embedder.embed([TEXTS[0]])

    assert all(type(x) is float and math.isfinite(x) for x in vector)
    assert json.loads(json.dumps(vector)) == vector


async def test_a_text_always_gets_the_same_vector_from_any_instance(subject: Subject) -> None:
    first = await subject.embedder.embed(TEXTS)
    again = await subject.embedder.embed(TEXTS)
    other = await subject.fresh().embed(TEXTS)

    assert first == again == other


async def test_a_text_gets_the_same_vector_alone_or_in_a_long_batch(subject: Subject) -> None:
    batch = [f"Order {n} shipped from Leeds on day {n % 7}." for n in range(70)]

    together = await subject.embedder.embed(batch)
    alone = [(await subject.embedder.embed([text]))[0] for text in batch[::9]]

    assert len(together) == len(batch)
    for vector, expected in zip(alone, together[::9], strict=True):
        assert vector == pytest.approx(expected, abs=1e-6)


async def test_different_texts_get_different_vectors(subject: Subject) -> None:
    vectors = await subject.embedder.embed(TEXTS)

    assert len({tuple(v) for v in vectors}) == len(TEXTS)


async def test_text_in_any_script_is_embedded(subject: Subject) -> None:
    [vector] = await subject.embedder.embed([ANY_SCRIPT])

    assert len(vector) == subject.embedder.dim
    assert norm(vector) == pytest.approx(1.0, abs=1e-5)


async def test_the_name_says_which_embedder_made_a_vector(subject: Subject) -> None:
    assert subject.embedder.name
    assert subject.fresh().name == subject.embedder.name


async def test_nothing_to_embed_gives_nothing_and_asks_no_one(subject: Subject) -> None:
    assert await subject.embedder.embed([]) == []
    if subject.server is not None:
        assert subject.server.requests == []


# --- the contract: every embedder over HTTP ----------------------------------------------


def _answer(*vectors: list[float]) -> dict[str, object]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }


async def test_the_servers_vectors_are_normalised(remote: Subject) -> None:
    remote.http.script(Reply(body=_answer([3.0, 4.0])))

    [vector] = await remote.embedder.embed(["x"])

    assert vector == pytest.approx([0.6, 0.8])


@pytest.mark.parametrize(
    "body",
    [
        _answer([1.0, 0.0], [0.0, 1.0]),  # two vectors for one text
        _answer([]),  # an empty vector
        {"object": "list", "data": [{"index": 0, "embedding": "0.1,0.2"}]},
    ],
    ids=["wrong-count", "empty", "not-numbers"],
)
async def test_an_answer_of_the_wrong_shape_is_refused(
    remote: Subject, body: dict[str, object]
) -> None:
    remote.http.script(Reply(body=body))

    with pytest.raises(ProviderError) as refused:
        await remote.embedder.embed(["x"])

    assert refused.value.retryable is False


async def test_vectors_of_another_size_than_before_are_refused(remote: Subject) -> None:
    await remote.embedder.embed(["x"])
    remote.http.script(Reply(body=_answer([0.6, 0.8])))

    with pytest.raises(ProviderError) as refused:
        await remote.embedder.embed(["y"])

    assert refused.value.retryable is False


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (503, True), (400, False)])
async def test_server_failures_say_whether_to_retry(
    remote: Subject, status: int, retryable: bool
) -> None:
    remote.http.script(Reply(status=status))

    with pytest.raises(ProviderError) as failed:
        await remote.embedder.embed(["x"])

    assert (failed.value.status, failed.value.retryable) == (status, retryable)
