"""Embedders: the local one is deterministic, unit length and ranks related texts first;
sentence-transformers is optional and says how to get it; provider embeddings go through
the OpenAI-compatible provider to a real (fake) server."""

from __future__ import annotations

import subprocess
import sys
import types
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bizos.ai.embeddings import (
    LOCAL_DIM,
    EmbeddingsUnavailable,
    LocalEmbedder,
    ProviderEmbedder,
    SentenceTransformerEmbedder,
    embedder_for,
    from_blob,
    local_vector,
    to_blob,
)
from bizos.ai.providers.openai import OpenAICompatibleProvider
from bizos.ai.types import ProviderError
from tests.fakes.llm_servers import FakeLlmServer, Reply

DOCS = {
    "refunds": "Refund policy: you can get a full refund within 30 days of purchase.",
    "shipping": "Shipping: parcels are delivered by courier within 3 business days, tracked.",
    "password": "To reset your password, open the login page and choose forgot password.",
    "contract": "The agreement renews automatically unless terminated with 90 days notice.",
    "hours": "Our opening hours are 9 to 5 on weekdays; we are closed on holidays.",
}


async def test_local_vectors_are_deterministic_unit_length_and_384_wide() -> None:
    embedder = LocalEmbedder()
    a, b, empty = await embedder.embed(["Where is my parcel?", "Where is my parcel?", ""])
    assert embedder.name == "local-hash-384" and embedder.dim == LOCAL_DIM == len(a)
    assert a == b
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-6
    assert not any(empty)  # a text without words has no direction


def test_local_vectors_are_the_same_in_a_fresh_process() -> None:
    # BLAKE2b, not hash(): PYTHONHASHSEED must not move a stored vector.
    code = (
        "from bizos.ai.embeddings import local_vector;"
        "print(repr(local_vector('Refund for order 42').tolist()[:8]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout.strip()
    assert out == repr(local_vector("Refund for order 42").tolist()[:8])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how do I get my money back", "refunds"),
        ("where is my package", "shipping"),
        ("I cannot sign in to my account", "password"),
        ("when does the contract renew", "contract"),
        ("refunds", "refunds"),
        ("are you open at the weekend", "hours"),
        ("delivry by courrier", "shipping"),  # misspelt: character n-grams still meet
    ],
)
def test_local_embeddings_rank_the_related_passage_first(query: str, expected: str) -> None:
    q = local_vector(query)
    scores = {name: float(q @ local_vector(text)) for name, text in DOCS.items()}
    assert max(scores, key=lambda k: scores[k]) == expected, scores


@given(st.text(max_size=200))
def test_any_text_embeds_to_unit_length_or_zero(text: str) -> None:
    norm = float(np.linalg.norm(local_vector(text)))
    assert norm == 0.0 or abs(norm - 1.0) < 1e-5


def test_blobs_round_trip_as_float32() -> None:
    vec = local_vector("a contract with notice dates")
    blob = to_blob(vec)
    assert len(blob) == 4 * LOCAL_DIM
    back = from_blob(blob)
    assert back.dtype == np.float32 and np.array_equal(back, vec)
    back[0] = 1.0  # writable: callers may normalise in place
    assert from_blob(to_blob([0.5, -1.25])).tolist() == [0.5, -1.25]
    with pytest.raises(ValueError):
        from_blob(b"\x00\x01\x02")


def test_sentence_transformers_missing_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(EmbeddingsUnavailable, match=r"bizos\[embeddings\]"):
        embedder_for("sentence-transformers")


class _StandInModel:
    """Stands in for the library's model class (the library itself is optional)."""

    def __init__(self, name: str, device: str | None = None) -> None:
        self.name = name

    def get_sentence_embedding_dimension(self) -> int:
        return 3

    def encode(self, texts: list[str], **kw: Any) -> np.ndarray[Any, Any]:
        assert kw["normalize_embeddings"] is True
        return np.array([[1.0, 0.0, 0.0] for _ in texts], dtype=np.float32)


async def test_sentence_transformers_are_used_when_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("sentence_transformers")
    module.SentenceTransformer = _StandInModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    embedder = embedder_for("sentence-transformers:/models/all-MiniLM-L6-v2")
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.name == "sentence-transformers/all-MiniLM-L6-v2" and embedder.dim == 3
    assert await embedder.embed(["a", "b"]) == [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    assert await embedder.embed([]) == []


async def test_provider_embeddings_come_from_the_server_normalised_in_batches(
    fake_openai: FakeLlmServer,
) -> None:
    provider = OpenAICompatibleProvider(fake_openai.url, "sk-test", "gpt-test")
    embedder = embedder_for("openai:text-embedding-3-small", openai=provider)
    assert isinstance(embedder, ProviderEmbedder)
    embedder.batch_size = 2
    vectors = await embedder.embed(["one", "two", "three"])
    assert embedder.name == "openai/text-embedding-3-small"
    assert embedder.dim == fake_openai.embedding_dims == len(vectors[0])
    assert all(abs(float(np.linalg.norm(v)) - 1.0) < 1e-6 for v in vectors)
    sent = [r.json for r in fake_openai.requests]
    assert [s["input"] for s in sent] == [["one", "two"], ["three"]]
    assert {s["model"] for s in sent} == {"text-embedding-3-small"}


async def test_provider_embeddings_of_the_wrong_shape_are_refused(
    fake_openai: FakeLlmServer,
) -> None:
    provider = OpenAICompatibleProvider(fake_openai.url, "sk-test", "gpt-test")
    embedder = ProviderEmbedder(provider, model="m", dim=16)  # the server answers 8
    with pytest.raises(ProviderError, match="expected 16"):
        await embedder.embed(["x"])
    fake_openai.script(
        Reply(body={"object": "list", "data": [], "model": "m", "usage": {"prompt_tokens": 1}})
    )
    with pytest.raises(ProviderError):
        await ProviderEmbedder(provider, model="m").embed(["x"])


def test_unknown_or_unconfigured_embedders_are_refused() -> None:
    assert isinstance(embedder_for("local"), LocalEmbedder)
    with pytest.raises(ValueError, match="unknown embedder"):
        embedder_for("word2vec")
    with pytest.raises(ValueError, match="configured"):
        embedder_for("openai")
