"""Knowledge search ranks like a person would: the page about the question first, its
title counting; typos forgiven; nothing about something the business never wrote; one
tenant's words never shaping another's results; vectors of an old embedder remade."""

from __future__ import annotations

import sqlalchemy as sa

from bizos.ai import termvectors
from bizos.ai.embeddings import LocalEmbedder, to_blob
from bizos.core.db import Database
from bizos.modules.knowledge.documents import service
from bizos.modules.knowledge.documents.models import KbChunk, KbDocument
from bizos.modules.knowledge.documents.schemas import SearchHit
from tests.conftest import TenantLogin
from tests.modules.knowledge.kb_factories import ctx_of, stored_chunks

# A small business's pages, as the demo's: the wholesale page mentions hours too.
PAGES = {
    "Opening hours": "Our shop and cafe are open Monday to Friday 8:00-18:00 and Saturday "
    "9:00-14:00. Closed on Sundays and public holidays.",
    "Wholesale terms": "# Wholesale terms for cafes and offices\n\n- Minimum order: 5 kg per "
    "delivery.\n- Free barista training (2 hours) for every new cafe account.\n- Late "
    "payment: reminders at 1, 7 and 14 days overdue.",
    "Vacation policy": "Every employee gets 25 days of paid leave a year plus public "
    "holidays. Ask your manager two weeks ahead; up to 5 unused days carry over.",
    "Shipping": "# Shipping\n\nWe roast on Monday, Wednesday and Friday and ship the same "
    "afternoon. Every parcel has tracking.",
}


async def _add(db: Database, tenant_id: str, title: str, content: str, **kw: object) -> KbDocument:
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        return await service.create_document(
            s,
            ctx_of(tenant_id),
            title=title,
            content=content,
            content_type="text/markdown",
            **kw,  # type: ignore[arg-type]
        )


async def _search(db: Database, tenant_id: str, query: str, limit: int = 5) -> list[SearchHit]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        return await service.search(
            s, ctx_of(tenant_id), query, limit=limit, min_score=service.RELEVANT
        )


async def _pages(db: Database, tenant_id: str) -> dict[str, KbDocument]:
    return {title: await _add(db, tenant_id, title, text) for title, text in PAGES.items()}


async def test_the_page_titled_as_asked_comes_first(db: Database, tenant: TenantLogin) -> None:
    pages = await _pages(db, tenant.tenant_id)
    for question in ("opening hours", "What are your opening hours?"):
        hits = await _search(db, tenant.tenant_id, question)
        assert hits[0].document_id == pages["Opening hours"].id
        # The wholesale page's "2 hours" of training is not what was asked.
        assert all(h.score < hits[0].score / 2 for h in hits[1:])


async def test_the_title_is_searched_by_its_words_too(db: Database, tenant: TenantLogin) -> None:
    pages = await _pages(db, tenant.tenant_id)
    # "vacation" is only in the title: full text finds it there.
    [hit, *_] = await _search(db, tenant.tenant_id, "vacation")
    assert hit.document_id == pages["Vacation policy"].id and hit.lexical is True


async def test_a_misspelt_question_still_finds_its_page(db: Database, tenant: TenantLogin) -> None:
    pages = await _pages(db, tenant.tenant_id)
    [hit, *_] = await _search(db, tenant.tenant_id, "vacaton polcy")
    assert hit.document_id == pages["Vacation policy"].id
    assert hit.score >= termvectors.MIN_RELEVANCE and hit.lexical is False
    [hit, *_] = await _search(db, tenant.tenant_id, "shiping trakcing")
    assert hit.document_id == pages["Shipping"].id


async def test_questions_about_something_else_find_nothing(
    db: Database, tenant: TenantLogin
) -> None:
    await _pages(db, tenant.tenant_id)
    for question in (
        "what's the weather in Paris?",
        "bitcoin mining rig",
        "how tall is mount everest",
        "kubernetes cluster autoscaling",
    ):
        assert await _search(db, tenant.tenant_id, question) == [], question


async def test_another_tenants_words_never_shape_my_results(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    mine = await _add(db, tenant.tenant_id, "Returns", "Unopened bags come back within 30 days.")
    # Only the other tenant writes about vacations: my misspelt query is not corrected
    # towards their word, and their documents never reach me.
    await _pages(db, other_tenant.tenant_id)
    assert await _search(db, tenant.tenant_id, "vacaton polcy") == []
    assert await _search(db, tenant.tenant_id, "opening hours") == []
    [hit] = await _search(db, tenant.tenant_id, "return unopened bags")
    assert hit.document_id == mine.id
    # Their fitted space is theirs: my document changes nothing in their scores.
    before = await _search(db, other_tenant.tenant_id, "opening hours")
    await _add(db, tenant.tenant_id, "Hours", "Opening hours: opening hours all day.")
    after = await _search(db, other_tenant.tenant_id, "opening hours")
    assert [(h.chunk_id, h.score) for h in after] == [(h.chunk_id, h.score) for h in before]


async def _as_if_hashed(db: Database, tenant_id: str) -> None:
    """Put the tenant's chunks back to the old built-in embedder's vectors, as a
    database from before the upgrade holds them."""
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        chunks = list(await s.scalars(sa.select(KbChunk).where(KbChunk.tenant_id == tenant_id)))
        vectors = await LocalEmbedder().embed([c.text for c in chunks])
        for chunk, vector in zip(chunks, vectors, strict=True):
            chunk.embedding = to_blob(vector)
            chunk.embedding_model = LocalEmbedder.name
        await s.execute(
            sa.update(KbDocument)
            .where(KbDocument.tenant_id == tenant_id)
            .values(version=KbDocument.version + 1)
        )


async def test_vectors_of_the_old_embedder_are_remade(db: Database, tenant: TenantLogin) -> None:
    pages = await _pages(db, tenant.tenant_id)
    await _as_if_hashed(db, tenant.tenant_id)
    # A search before any write: the old vectors are recomputed for it, in memory.
    [hit, *_] = await _search(db, tenant.tenant_id, "opening hours")
    assert hit.document_id == pages["Opening hours"].id
    stale = await stored_chunks(db, tenant.tenant_id, pages["Shipping"].id)
    assert {c.embedding_model for c in stale} == {LocalEmbedder.name}
    # The next write of the knowledge base stores the new ones, for every document.
    await _add(db, tenant.tenant_id, "Privacy", "We never sell your data.")
    for page in pages.values():
        for chunk in await stored_chunks(db, tenant.tenant_id, page.id):
            assert chunk.embedding_model == termvectors.NAME
            assert chunk.embedding and termvectors.decode(chunk.embedding)[0].size > 0
    [hit, *_] = await _search(db, tenant.tenant_id, "opening hours")
    assert hit.document_id == pages["Opening hours"].id


async def test_an_embedder_a_caller_chose_is_kept(db: Database, tenant: TenantLogin) -> None:
    class Chosen(LocalEmbedder):
        name = "chosen-test"

    doc = await _add(db, tenant.tenant_id, "Hours", PAGES["Opening hours"], embedder=Chosen())
    await _add(db, tenant.tenant_id, "Shipping", PAGES["Shipping"])
    [chunk] = await stored_chunks(db, tenant.tenant_id, doc.id)
    assert chunk.embedding_model == "chosen-test"
    # Searched by text all the same (its retrieval vector is made when searching).
    [hit, *_] = await _search(db, tenant.tenant_id, "opening hours")
    assert hit.document_id == doc.id


async def test_an_answerer_reads_more_context_than_search_shows(
    db: Database, tenant: TenantLogin
) -> None:
    await _pages(db, tenant.tenant_id)
    question = "how tall is mount everest"
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        context = await service.search(s, ctx_of(tenant.tenant_id), question)
    # Passages sharing a little are context an answerer may weigh (and decline), each
    # with its low score; as search results they are not shown at all.
    assert all(service.MIN_CONTEXT <= h.score < service.RELEVANT for h in context)
    assert await _search(db, tenant.tenant_id, question) == []
