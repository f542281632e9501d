"""The built-in retrieval embedder: TF-IDF over words and character n-grams, fitted on
each tenant's own corpus.

Why this and not a neural model or the hashing embedder (measured over the demo
knowledge base plus an "Opening hours" and a "Vacation policy" page, 28 labelled
questions and 10 unrelated ones; ``bench/kbsearch.py`` reproduces this model's row):

* the hashing embedder (``local-hash-384``) put the right document first for 23 of 28
  questions, and unrelated questions reached 0.18 while right answers went down to 0.05:
  no threshold separates them;
* LSA over the same TF-IDF (8-18 dimensions on a small corpus) ranked 28 of 28 but
  scored unrelated questions up to 0.98: its scores mean nothing;
* this model ranks 28 of 28, right answers score at least 0.13 (p10 0.21, median 0.29)
  and unrelated questions at most 0.094, so :data:`MIN_RELEVANCE` drops them; a typo
  ("vacaton polcy") still meets its document through the character n-grams (0.19);
* the packaged MiniLM models on PyPI need ``sentence-transformers`` and so PyTorch:
  hundreds of megabytes and a slow, memory-hungry start, for a server that must start
  small.

What is stored per text (:meth:`TermEmbedder.vectors`) is its raw feature counts, hashed
into :data:`FEATURES` buckets per kind: word stems without stopwords, concept tokens for
a few business synonyms ("money back" meets "refund"; weighted double), and character
3- to 5-grams within words (typos and word forms still meet). Counts do not depend on the
corpus, so a new document never invalidates the stored vectors of the others; the
*fit* (inverse document frequencies over the tenant's texts) is computed from them when
searching (:meth:`TermEmbedder.space`) — milliseconds for a knowledge base — and cached
by the caller. A query's features that the tenant's corpus never holds keep their weight
in the query's length, so a question about something the tenant never wrote about
scores low instead of matching on its one common word.

A query word the tenant's corpus never holds is also corrected to the corpus word most
like it (one edit away, two for long words; RapidFuzz), and both are searched:
a short misspelt word ("refnd") shares too few character n-grams with its right
spelling to be found by them alone.

scikit-learn (its hashing vectoriser) and RapidFuzz are imported on first use.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from bizos.ai.embeddings import CONCEPT_OF, PHRASES, STOPWORDS, stem
from bizos.ai.privacy import fold

NAME = "local-tfidf-v1"
FEATURES = 2**20  # buckets per feature kind (words, concepts, character n-grams)
CHAR_NGRAMS = (3, 5)
# How much each kind weighs: a shared synonym says more than a shared letter sequence.
KIND_WEIGHTS = (1.0, 2.0, 1.0)
# How much a query feature the corpus never holds weighs, against the rarest it holds.
# Measured: at 0.5 long emails score higher (their incidental words weigh less) but
# unrelated short questions reach 0.14, above right answers' 0.13; at 1.0 they stay
# under 0.10.
UNSEEN_WEIGHT = 1.0
# A query word unknown to the corpus, this long or longer, is corrected to the corpus
# word fewest edits away (Damerau-Levenshtein): one edit, two from LONG_WORD letters.
MIN_CORRECTED = 5
LONG_WORD = 9
# Cosine below which a text is not about the query (see the module doc for the figures).
MIN_RELEVANCE = 0.11

_WORD = re.compile(r"[^\W_]+")
_HEADER = np.dtype("<u4")


def _content_words(text: str) -> list[str]:
    tokens = [w.lower() for w in _WORD.findall(fold(text))]
    out: list[str] = []
    i = 0
    while i < len(tokens):
        pair = (tokens[i], tokens[i + 1]) if i + 1 < len(tokens) else None
        word = PHRASES.get(pair) if pair else None
        i += 2 if word else 1
        word = word or tokens[i - 1]
        if word not in STOPWORDS:
            out.append(word)
    return out


def words(text: str) -> list[str]:
    """Word features: stems of the content words."""
    return [stem(w) for w in _content_words(text)]


def concepts(text: str) -> list[str]:
    """Concept features: one per word with a business synonym ("money back", "refund")."""
    found = (CONCEPT_OF.get(stem(w)) or CONCEPT_OF.get(w) for w in _content_words(text))
    return [c for c in found if c is not None]


@cache
def _vectorisers() -> tuple[Any, ...]:
    from sklearn.feature_extraction.text import HashingVectorizer  # heavy: on first use

    common: dict[str, Any] = {"n_features": FEATURES, "alternate_sign": False, "norm": None}
    return (
        HashingVectorizer(analyzer=words, **common),
        HashingVectorizer(analyzer=concepts, **common),
        HashingVectorizer(
            analyzer="char_wb", ngram_range=CHAR_NGRAMS, preprocessor=_char_text, **common
        ),
    )


def _char_text(text: str) -> str:
    return " ".join(w for w in fold(text).lower().split() if w not in STOPWORDS)


def counts(texts: Sequence[str]) -> Any:
    """Raw feature counts of ``texts``: a CSR matrix, a row per text, 3 * FEATURES wide."""
    import scipy.sparse as sp

    return sp.hstack([v.transform(texts) for v in _vectorisers()], format="csr")


def encode(indices: npt.NDArray[Any], values: npt.NDArray[Any]) -> bytes:
    """One text's counts as stored: n, then n uint32 indices, then n float32 counts."""
    n = np.array([len(indices)], dtype=_HEADER)
    return n.tobytes() + indices.astype("<u4").tobytes() + values.astype("<f4").tobytes()


def decode(blob: bytes) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    if len(blob) < 4:
        raise ValueError("a term vector starts with its length")
    n = int(np.frombuffer(blob[:4], dtype=_HEADER)[0])
    if len(blob) != 4 + 8 * n:
        raise ValueError("a term vector's length does not match its size")
    indices = np.frombuffer(blob[4 : 4 + 4 * n], dtype="<u4").astype(np.int64)
    values = np.frombuffer(blob[4 + 4 * n :], dtype="<f4").astype(np.float32)
    return indices, values


@dataclass(frozen=True, slots=True)
class TermSpace:
    """TF-IDF fitted on one corpus (one tenant's texts): cosine of a query to each."""

    vocabulary: frozenset[str]  # the corpus's content words, for spelling correction
    seen: npt.NDArray[np.int64]  # the features the corpus holds, sorted
    seen_idf: npt.NDArray[np.float64]  # inverse document frequency, times the kind's weight
    unseen_idf: float  # the weight of a feature no text of the corpus holds
    documents: Any  # CSR, one weighted, unit-length row per corpus text, a column per seen

    def __len__(self) -> int:
        return int(self.documents.shape[0])

    @property
    def nbytes(self) -> int:
        docs = self.documents
        held = docs.data.nbytes + docs.indices.nbytes + docs.indptr.nbytes
        return int(self.seen.nbytes + self.seen_idf.nbytes + held)

    def corrected(self, query: str) -> str:
        """``query`` with, after it, the corpus's spelling of each word it misspells
        ("vacaton polcy" → "vacaton polcy vacation policy")."""
        if not self.vocabulary:
            return query
        from rapidfuzz import process  # on first use
        from rapidfuzz.distance import DamerauLevenshtein

        fixes: list[str] = []
        for word in _content_words(query):
            if len(word) < MIN_CORRECTED or word in self.vocabulary or word.isdigit():
                continue
            edits = 1 if len(word) < LONG_WORD else 2
            match = process.extractOne(
                word, self.vocabulary, scorer=DamerauLevenshtein.distance, score_cutoff=edits
            )
            if match is not None:
                fixes.append(match[0])
        return f"{query} {' '.join(fixes)}" if fixes else query

    def similarities(self, query: str) -> npt.NDArray[np.float32]:
        """Cosine of ``query`` (spelling corrected) to every corpus text, in corpus order."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.float32)
        row = counts([self.corrected(query)])
        features = row.indices.astype(np.int64)
        at = np.minimum(np.searchsorted(self.seen, features), max(len(self.seen) - 1, 0))
        known = self.seen[at] == features if len(self.seen) else np.zeros(len(features), bool)
        unseen = self.unseen_idf * np.asarray(KIND_WEIGHTS)[features // FEATURES]
        idf = np.where(known, self.seen_idf[at] if len(self.seen) else 0.0, unseen)
        weights = (1.0 + np.log(row.data)) * idf
        length = math.sqrt(float(weights @ weights))
        if length == 0.0:
            return np.zeros(len(self), dtype=np.float32)
        column = np.zeros(len(self.seen), dtype=np.float64)
        column[at[known]] = weights[known] / length
        return np.asarray(self.documents @ column, dtype=np.float32)


def vocabulary(texts: Sequence[str]) -> frozenset[str]:
    """The content words of ``texts`` worth correcting a query towards."""
    return frozenset(
        w for text in texts for w in _content_words(text) if len(w) >= MIN_CORRECTED - 1
    )


def fit(blobs: Sequence[bytes], words: frozenset[str] = frozenset()) -> TermSpace:
    """The TF-IDF space of a corpus given by its stored vectors (:func:`encode`) and
    its :func:`vocabulary`."""
    import scipy.sparse as sp

    decoded = [decode(b) for b in blobs]
    n = len(decoded)
    indptr = np.cumsum([0, *(len(i) for i, _ in decoded)])
    indices = np.concatenate([i for i, _ in decoded]) if n else np.zeros(0, np.int64)
    data = np.concatenate([v for _, v in decoded]) if n else np.zeros(0, np.float32)
    # Columns are positions in ``seen``: the matrix is as wide as the corpus's vocabulary.
    seen, columns, frequency = np.unique(indices, return_inverse=True, return_counts=True)
    kind = np.asarray(KIND_WEIGHTS)
    seen_idf = (np.log((1.0 + n) / (1.0 + frequency)) + 1.0) * kind[seen // FEATURES]
    unseen_idf = (math.log(1.0 + n) + 1.0) * UNSEEN_WEIGHT
    weighted = (1.0 + np.log(np.maximum(data, 1.0))) * seen_idf[columns]
    rows = np.repeat(np.arange(n), np.diff(indptr))
    lengths = np.sqrt(np.bincount(rows, weights=weighted**2, minlength=n))
    weighted = weighted / np.maximum(lengths, 1e-12)[rows]
    matrix = sp.csr_matrix((weighted, columns, indptr), shape=(n, len(seen)))
    return TermSpace(
        vocabulary=words, seen=seen, seen_idf=seen_idf, unseen_idf=unseen_idf, documents=matrix
    )


class TermEmbedder:
    """The retrieval embedder (see the module doc): stored vectors and a fitted space."""

    name = NAME
    min_relevance = MIN_RELEVANCE

    def vectors(self, texts: Sequence[str]) -> list[bytes]:
        """What is stored per text (CPU work: run big batches in a thread)."""
        if not texts:
            return []
        matrix = counts(list(texts))
        return [
            encode(
                matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]],
                matrix.data[matrix.indptr[i] : matrix.indptr[i + 1]],
            )
            for i in range(matrix.shape[0])
        ]

    def space(self, vectors: Sequence[bytes], texts: Sequence[str] = ()) -> TermSpace:
        """The space fitted on a corpus of stored vectors; with the corpus's texts, it
        also corrects queries' spelling towards their words."""
        return fit(vectors, vocabulary(texts))


# Earlier built-in embedders: their stored vectors are made again with this one.
SUPERSEDED = ("local-hash-384",)


def retrieval_embedder() -> TermEmbedder:
    """The embedder knowledge search and support precedent use."""
    return TermEmbedder()
