"""Embedders: built-in local, sentence-transformers (optional), provider.

* :class:`LocalEmbedder` needs no download and no network: it hashes lexical features of
  a text into 384 signed buckets (the "hashing trick") and L2-normalises the sum. The
  features are word stems, adjacent-stem pairs, character 3- and 4-grams of each word
  (spelling variants and compounds still meet) and a small table of business synonyms
  ("money back" meets "refund"), so texts that share words or their variants land near
  each other. Deterministic across processes and machines (BLAKE2b, not ``hash()``).
* :class:`SentenceTransformerEmbedder` wraps ``sentence-transformers`` (the optional extra
  ``bizos[embeddings]``), imported only when one is built.
* :class:`ProviderEmbedder` asks an OpenAI-compatible server's ``/v1/embeddings``.

Vectors are stored as float32 bytes (:func:`to_blob` / :func:`from_blob`).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import itertools
import math
import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from bizos.ai.privacy import fold
from bizos.ai.types import EmbeddingProvider, ProviderError

LOCAL_NAME = "local-hash-384"
LOCAL_DIM = 384
DEFAULT_SENTENCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_PROVIDER_MODEL = "text-embedding-3-small"

_WORD = re.compile(r"[^\W_]+")

_STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how
    i if in into is it its me my no not of on or our please so than that the their them
    then there these they this to us was we were what when where which who why will with
    would you your hi hello thanks thank regards dear""".split()  # noqa: SIM905
)

# Words that mean the same thing in a small business's mail, by stem.
_CONCEPTS: dict[str, tuple[str, ...]] = {
    "refund": ("refund", "reimburs", "reimbursement", "moneyback", "chargeback", "repay"),
    "cancel": ("cancel", "cancellation", "terminat", "termination", "unsubscrib", "quit"),
    "shipping": (
        "ship", "shipment", "deliver", "delivery", "courier", "parcel", "packag", "package",
        "track", "tracking", "dispatch", "arriv", "arrive",
    ),
    "billing": ("invoic", "invoice", "bill", "billing", "receipt", "payment", "pay", "charg"),
    "price": ("price", "pric", "cost", "fee", "expensiv", "cheap"),
    "return": ("return", "exchang", "exchange", "sendback"),
    "defect": ("broken", "damag", "damage", "defect", "defective", "faulty", "crack", "bug"),
    "account": ("account", "login", "password", "signin", "logon", "username"),
    "contract": ("contract", "agreement"),
    "renewal": ("renew", "renewal", "extend", "extension"),
    "discount": ("discount", "coupon", "voucher", "promo", "rebate"),
    "late": ("late", "delay", "overdue", "slow"),
    "warranty": ("warranty", "guarantee", "guarante"),
    "hours": ("hour", "opening", "weekend", "holiday"),
}  # fmt: skip
_CONCEPT_OF = {stem: concept for concept, stems in _CONCEPTS.items() for stem in stems}
# Two-word phrases that mean one concept word.
_PHRASES = {("money", "back"): "moneyback", ("send", "back"): "sendback", ("sign", "in"): "signin",
            ("log", "in"): "signin"}  # fmt: skip

# Shared with the retrieval embedder (``termvectors``), which leaves "opening" out of the
# hours concept: "opening hours" is about hours, "opening a bag" is not.
STOPWORDS = _STOPWORDS
PHRASES = _PHRASES
CONCEPT_OF = {s: c for s, c in _CONCEPT_OF.items() if s != "opening"}

_WEIGHT_WORD = 1.0
_WEIGHT_PAIR = 0.6
_WEIGHT_CHARS = 0.35
_WEIGHT_CONCEPT = 0.9


def stem(word: str) -> str:
    """A light English suffix stripper: enough to meet plural and verb forms."""
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + keep
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _features(text: str) -> dict[str, float]:
    words = [w.lower() for w in _WORD.findall(fold(text))]
    phrased: list[str] = []
    i = 0
    while i < len(words):
        pair = (words[i], words[i + 1]) if i + 1 < len(words) else None
        if pair in _PHRASES:
            phrased.append(_PHRASES[pair])
            i += 2
        else:
            phrased.append(words[i])
            i += 1
    content = [w for w in phrased if w not in _STOPWORDS]
    stems = [stem(w) for w in content]
    counts: dict[str, float] = {}

    def add(feature: str, weight: float) -> None:
        counts[feature] = counts.get(feature, 0.0) + weight

    for word, s in zip(content, stems, strict=True):
        add("w:" + s, _WEIGHT_WORD)
        concept = _CONCEPT_OF.get(s) or _CONCEPT_OF.get(word)
        if concept is not None:
            add("c:" + concept, _WEIGHT_CONCEPT)
        padded = f"<{word}>"
        grams = [padded[j : j + n] for n in (3, 4) for j in range(len(padded) - n + 1)]
        for gram in grams:
            add("g:" + gram, _WEIGHT_CHARS / math.sqrt(len(grams)))
    for a, b in itertools.pairwise(stems):
        add(f"p:{a} {b}", _WEIGHT_PAIR)
    # Sub-linear term frequency: the tenth mention of a word adds less than the second.
    return {f: (1.0 + math.log(c)) if c > 1.0 else c for f, c in counts.items()}


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, (1.0 if value >> 63 else -1.0)


def local_vector(text: str, dim: int = LOCAL_DIM) -> npt.NDArray[np.float32]:
    """The local embedding of ``text``: unit length, or all zeros for a text without
    words."""
    vec = np.zeros(dim, dtype=np.float64)
    for feature, weight in _features(text).items():
        index, sign = _bucket(feature, dim)
        vec[index] += sign * weight
    norm = float(np.linalg.norm(vec))
    if norm > 0.0:
        vec /= norm
    return vec.astype(np.float32)


class LocalEmbedder:
    """Hashing embedder (see the module doc); no download, no network."""

    name = LOCAL_NAME
    dim = LOCAL_DIM

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        return [local_vector(t, self.dim).tolist() for t in texts]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if len(texts) <= 32:
            return self.embed_sync(texts)
        # Large batches (a whole document) off the event loop.
        return await asyncio.to_thread(self.embed_sync, list(texts))


class EmbeddingsUnavailable(RuntimeError):
    """An embedder was asked for whose optional dependency is not installed."""


class SentenceTransformerEmbedder:
    """Sentence embeddings from ``sentence-transformers`` (``pip install
    'bizos[embeddings]'``). ``model`` is a model name or a local directory."""

    def __init__(self, model: str = DEFAULT_SENTENCE_MODEL, *, device: str | None = None):
        try:
            sentence_transformers: Any = importlib.import_module("sentence_transformers")
        except ImportError as exc:
            raise EmbeddingsUnavailable(
                "sentence-transformers is not installed; install the optional extra "
                "with `pip install 'bizos[embeddings]'` or use the local embedder"
            ) from exc
        self._model: Any = sentence_transformers.SentenceTransformer(model, device=device)
        dim = self._model.get_sentence_embedding_dimension()
        if not isinstance(dim, int) or dim <= 0:
            raise EmbeddingsUnavailable(f"model {model!r} does not report its dimension")
        self.dim = dim
        short = model.rstrip("/").rsplit("/", 1)[-1]
        self.name = f"sentence-transformers/{short}"

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return [np.asarray(v, dtype=np.float32).tolist() for v in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self._encode, list(texts))


class EmbeddingsApi(Protocol):
    """What :class:`ProviderEmbedder` needs of a provider (OpenAICompatibleProvider)."""

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]: ...


class ProviderEmbedder:
    """Embeddings from an OpenAI-compatible server, in batches, L2-normalised. ``dim`` is
    learnt from the first answer unless given; every later answer must agree."""

    def __init__(
        self,
        provider: EmbeddingsApi,
        *,
        model: str = DEFAULT_PROVIDER_MODEL,
        dim: int | None = None,
        batch_size: int = 64,
    ):
        self.provider = provider
        self.model = model
        self.name = f"openai/{model}"
        self.dim = dim or 0
        self.batch_size = max(1, batch_size)

    def _error(self, detail: str) -> ProviderError:
        return ProviderError(detail, provider="openai", retryable=False)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            vectors = await self.provider.embed(batch, model=self.model)
            if len(vectors) != len(batch):
                raise self._error(f"asked for {len(batch)} embeddings, got {len(vectors)}")
            for vector in vectors:
                array = np.asarray(vector, dtype=np.float64)
                if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
                    raise self._error("the provider answered a malformed embedding")
                if self.dim == 0:
                    self.dim = int(array.size)
                if array.size != self.dim:
                    raise self._error(f"embedding of {array.size} dimensions, expected {self.dim}")
                norm = float(np.linalg.norm(array))
                out.append((array / norm if norm > 0 else array).astype(np.float32).tolist())
        return out


def embedder_for(
    kind: str, *, openai: EmbeddingsApi | None = None, model: str | None = None
) -> EmbeddingProvider:
    """The embedder a tenant's settings name: ``local`` (also ``local-hash-384``),
    ``sentence-transformers[:<model>]`` or ``openai[:<model>]`` (needs ``openai``, the
    tenant's configured OpenAI-compatible provider). Raises ``ValueError`` for anything
    else, :class:`EmbeddingsUnavailable` when the extra is missing."""
    base, _, suffix = kind.strip().partition(":")
    chosen = suffix or model
    if base in ("local", LOCAL_NAME):
        return LocalEmbedder()
    if base in ("sentence-transformers", "sentence_transformers"):
        return SentenceTransformerEmbedder(chosen or DEFAULT_SENTENCE_MODEL)
    if base in ("openai", "provider"):
        if openai is None:
            raise ValueError("openai embeddings need a configured OpenAI-compatible provider")
        configured = getattr(openai, "embedding_model", None)
        default = configured if isinstance(configured, str) and configured else None
        return ProviderEmbedder(openai, model=chosen or default or DEFAULT_PROVIDER_MODEL)
    raise ValueError(f"unknown embedder {kind!r}: use local, sentence-transformers or openai")


def to_blob(vec: Sequence[float] | npt.NDArray[Any]) -> bytes:
    """A vector as little-endian float32 bytes."""
    return np.asarray(vec, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> npt.NDArray[np.float32]:
    """The vector :func:`to_blob` stored (a writable float32 array)."""
    if len(blob) % 4:
        raise ValueError("an embedding blob is a whole number of float32 values")
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)
