"""The vector index contract (``knowledge.documents.index.VectorIndex``), for every index.

The index answers, for one tenant, the chunks nearest to a query vector. Chunks come and
go with the knowledge base's documents (``knowledge.service`` adds, updates and deletes
them; that is the index's "add" and "remove"). Every index:

- answers the nearest chunks first, each with its cosine similarity, at most ``limit``;
- compares directions, not lengths;
- compares only vectors of the query's embedder, and answers nothing for a query of
  another size;
- finds a new document at once, a changed one by its new content, a deleted one never —
  without being told (``invalidate`` only saves work, it is never needed for the truth);
- keeps to one document when asked;
- never answers one tenant with another tenant's chunks;
- answers nothing from an empty knowledge base.

The vectors come from a tiny "compass" embedder whose directions the tests choose, so
every expected similarity is exact. Adding an index means adding it to ``INDEXES`` and
to the ``index`` fixture.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from bizos.core.db import Database
from bizos.modules.knowledge.documents import service
from bizos.modules.knowledge.documents.index import ExactVectorIndex, VectorIndex, VectorMatch
from bizos.modules.knowledge.documents.models import KbDocument
from tests.conftest import TenantLogin
from tests.modules.knowledge.kb_factories import ctx_of

INDEXES = ["exact"]

_AXES = {"north": (0, 1.0), "south": (0, -1.0), "east": (1, 1.0), "west": (1, -1.0)}
_AXES |= {"up": (2, 1.0), "down": (2, -1.0)}


class CompassEmbedder:
    """Three directions: each compass word in a text pulls its vector along its axis."""

    def __init__(self, name: str = "compass-3", dim: int = 3) -> None:
        self.name = name
        self.dim = dim

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.vector(text) for text in texts]

    def vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        for word in re.findall(r"[a-z]+", text.lower()):
            if word in _AXES:
                axis, sign = _AXES[word]
                vector[axis] += sign
        length = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / length for x in vector]


COMPASS = CompassEmbedder()
NORTH = [1.0, 0.0, 0.0]


@dataclass
class Knowledge:
    """The index under test and the knowledge base that feeds it."""

    index: VectorIndex
    db: Database
    # Titles are embedded with the text: the documents are stored under neutral titles
    # ("Document 1") so that only the text points the compass, and named back by label.
    labels: dict[str, str] = field(default_factory=dict)

    async def add(
        self, tenant_id: str, title: str, text: str, embedder: CompassEmbedder = COMPASS
    ) -> KbDocument:
        stored = f"Document {len(self.labels) + 1}"
        self.labels[stored] = title
        async with self.db.unit_of_work(tenant_id=tenant_id) as s:
            return await service.create_document(
                s,
                ctx_of(tenant_id),
                title=stored,
                content=text,
                content_type="text/plain",
                embedder=embedder,
            )

    async def change(self, tenant_id: str, document_id: str, text: str) -> None:
        async with self.db.unit_of_work(tenant_id=tenant_id) as s:
            await service.update_document(
                s, ctx_of(tenant_id), document_id, content=text, embedder=COMPASS
            )

    async def remove(self, tenant_id: str, document_id: str) -> None:
        async with self.db.unit_of_work(tenant_id=tenant_id) as s:
            await service.delete_document(s, ctx_of(tenant_id), document_id)

    async def nearest(
        self,
        tenant_id: str,
        vector: Sequence[float] = NORTH,
        *,
        limit: int = 10,
        model: str = COMPASS.name,
        document_id: str | None = None,
    ) -> list[VectorMatch]:
        async with self.db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
            return await self.index.nearest(
                s, tenant_id, vector, model=model, limit=limit, document_id=document_id
            )

    async def titles_nearest(self, tenant_id: str, **kw: object) -> list[str]:
        matches = await self.nearest(tenant_id, **kw)  # type: ignore[arg-type]
        async with self.db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
            ctx = ctx_of(tenant_id)
            titles = [(await service.get_document(s, ctx, m.document_id)).title for m in matches]
        return [self.labels[title] for title in titles]


@pytest.fixture(params=INDEXES)
def kb(request: pytest.FixtureRequest, db: Database) -> Knowledge:
    # A fresh index, never the process's own: the service invalidates that one, and the
    # contract is that no index needs telling.
    if request.param == "exact":
        return Knowledge(ExactVectorIndex(), db)
    raise AssertionError(request.param)


async def _compass_rose(kb: Knowledge, tenant_id: str) -> dict[str, KbDocument]:
    texts = {
        "North": "The road runs north.",
        "North-east": "The road runs north, then east.",
        "East": "The road runs east.",
        "South": "The road runs south.",
    }
    return {title: await kb.add(tenant_id, title, text) for title, text in texts.items()}


# --- the contract ----------------------------------------------------------------------


async def test_the_nearest_chunks_come_first_with_their_cosine_similarity(
    kb: Knowledge, tenant: TenantLogin
) -> None:
    rose = await _compass_rose(kb, tenant.tenant_id)

    matches = await kb.nearest(tenant.tenant_id)

    assert [m.document_id for m in matches] == [
        rose[t].id for t in ("North", "North-east", "East", "South")
    ]
    assert [m.similarity for m in matches] == pytest.approx(
        [1.0, math.sqrt(0.5), 0.0, -1.0], abs=1e-6
    )
    assert len({m.chunk_id for m in matches}) == 4


async def test_no_more_than_the_limit_is_answered(kb: Knowledge, tenant: TenantLogin) -> None:
    await _compass_rose(kb, tenant.tenant_id)

    assert await kb.titles_nearest(tenant.tenant_id, limit=2) == ["North", "North-east"]
    assert await kb.nearest(tenant.tenant_id, limit=0) == []


async def test_a_query_is_compared_by_its_direction_not_its_length(
    kb: Knowledge, tenant: TenantLogin
) -> None:
    await _compass_rose(kb, tenant.tenant_id)

    unit = await kb.nearest(tenant.tenant_id, NORTH)
    long = await kb.nearest(tenant.tenant_id, [40.0, 0.0, 0.0])

    assert long == unit


async def test_only_vectors_of_the_querys_embedder_are_compared(
    kb: Knowledge, tenant: TenantLogin
) -> None:
    await kb.add(tenant.tenant_id, "Compass", "Head north.")
    await kb.add(tenant.tenant_id, "Other", "Head north.", embedder=CompassEmbedder("other-3"))

    assert await kb.titles_nearest(tenant.tenant_id) == ["Compass"]
    assert await kb.titles_nearest(tenant.tenant_id, model="other-3") == ["Other"]
    assert await kb.nearest(tenant.tenant_id, model="never-used") == []


async def test_a_query_of_another_size_matches_nothing(kb: Knowledge, tenant: TenantLogin) -> None:
    await _compass_rose(kb, tenant.tenant_id)

    assert await kb.nearest(tenant.tenant_id, [1.0, 0.0, 0.0, 0.0]) == []


async def test_a_new_document_is_found_at_once(kb: Knowledge, tenant: TenantLogin) -> None:
    await kb.add(tenant.tenant_id, "East", "The road runs east.")
    assert await kb.titles_nearest(tenant.tenant_id) == ["East"]

    await kb.add(tenant.tenant_id, "North", "The road runs north.")

    assert await kb.titles_nearest(tenant.tenant_id) == ["North", "East"]


async def test_a_changed_document_is_found_by_its_new_content(
    kb: Knowledge, tenant: TenantLogin
) -> None:
    rose = await _compass_rose(kb, tenant.tenant_id)
    assert (await kb.titles_nearest(tenant.tenant_id))[0] == "North"

    await kb.change(tenant.tenant_id, rose["South"].id, "It runs north, north, then east.")
    await kb.change(tenant.tenant_id, rose["North"].id, "The road now runs south.")

    assert await kb.titles_nearest(tenant.tenant_id) == ["South", "North-east", "East", "North"]


async def test_a_deleted_document_is_never_found(kb: Knowledge, tenant: TenantLogin) -> None:
    rose = await _compass_rose(kb, tenant.tenant_id)
    assert (await kb.titles_nearest(tenant.tenant_id))[0] == "North"

    await kb.remove(tenant.tenant_id, rose["North"].id)

    assert await kb.titles_nearest(tenant.tenant_id) == ["North-east", "East", "South"]


async def test_invalidating_changes_no_answer(kb: Knowledge, tenant: TenantLogin) -> None:
    await _compass_rose(kb, tenant.tenant_id)
    before = await kb.nearest(tenant.tenant_id)

    kb.index.invalidate(tenant.tenant_id)

    assert await kb.nearest(tenant.tenant_id) == before


async def test_a_search_can_keep_to_one_document(kb: Knowledge, tenant: TenantLogin) -> None:
    rose = await _compass_rose(kb, tenant.tenant_id)

    matches = await kb.nearest(tenant.tenant_id, document_id=rose["East"].id)

    assert [m.document_id for m in matches] == [rose["East"].id]
    assert await kb.nearest(tenant.tenant_id, document_id="no-such-document") == []


async def test_one_tenant_never_sees_another_tenants_chunks(
    kb: Knowledge, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await kb.add(tenant.tenant_id, "Ours", "The road runs east.")
    theirs = await kb.add(other_tenant.tenant_id, "Theirs", "The road runs north.")

    ours = await kb.nearest(tenant.tenant_id)
    in_theirs = await kb.nearest(other_tenant.tenant_id)
    kept_to_theirs = await kb.nearest(tenant.tenant_id, document_id=theirs.id)

    assert await kb.titles_nearest(tenant.tenant_id) == ["Ours"]
    assert theirs.id not in {m.document_id for m in ours}
    assert [m.document_id for m in in_theirs] == [theirs.id]
    assert kept_to_theirs == []


async def test_a_change_in_one_tenant_leaves_the_others_answers_alone(
    kb: Knowledge, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await kb.add(tenant.tenant_id, "Ours", "The road runs east.")
    before = await kb.nearest(tenant.tenant_id)

    await kb.add(other_tenant.tenant_id, "Theirs", "The road runs north.")

    assert await kb.nearest(tenant.tenant_id) == before


async def test_an_empty_knowledge_base_answers_nothing(kb: Knowledge, tenant: TenantLogin) -> None:
    assert await kb.nearest(tenant.tenant_id) == []
