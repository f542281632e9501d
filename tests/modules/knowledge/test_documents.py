"""The document service: stored, chunked, embedded, re-indexed and deleted as one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bizos.ai import termvectors
from bizos.ai.embeddings import LocalEmbedder
from bizos.core.db import Database
from bizos.core.errors import NotFound, PayloadTooLarge, Unprocessable
from bizos.modules.knowledge.documents import service
from bizos.modules.knowledge.documents.models import KbChunk, KbDocument
from bizos.modules.knowledge.documents.search import FTS_TABLE
from tests.conftest import IS_PG, TenantLogin
from tests.modules.knowledge.kb_factories import (
    RETURNS_MD,
    ctx_of,
    events_of,
    make_pdf,
    stored_chunks,
)


async def _create(db: Database, tenant_id: str, **kw: object) -> KbDocument:
    args: dict[str, object] = {"title": "Doc", "content_type": None, **kw}
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        return await service.create_document(s, ctx_of(tenant_id), **args)  # type: ignore[arg-type]


async def _fts_rows(db: Database) -> int | None:
    if IS_PG:
        return None
    async with db.unit_of_work(system=True, readonly=True) as s:
        return int(await s.scalar(sa.text(f"SELECT count(*) FROM {FTS_TABLE}")) or 0)


async def _all_chunks(db: Database) -> int:
    async with db.unit_of_work(system=True, readonly=True) as s:
        return int(await s.scalar(sa.select(sa.func.count()).select_from(KbChunk)) or 0)


async def test_a_markdown_document_is_stored_with_chunks_that_know_their_headings(
    db: Database, tenant: TenantLogin
) -> None:
    doc = await _create(
        db, tenant.tenant_id, title=None, content=RETURNS_MD, content_type="text/markdown",
        tags=["FAQ", "faq", " policies "],
    )  # fmt: skip
    assert doc.title == "Customer handbook"  # from its first heading
    assert doc.tags == ["faq", "policies"]
    assert doc.created_by == "u-test"
    chunks = await stored_chunks(db, tenant.tenant_id, doc.id)
    assert doc.chunk_count == len(chunks) == 6
    assert chunks[2].heading == "Customer handbook > Returns > Refunds"
    for chunk in chunks:
        assert doc.text[chunk.start_offset : chunk.end_offset] == chunk.text
        assert chunk.embedding_model == termvectors.NAME
        assert chunk.document_title == "Customer handbook"
        assert chunk.embedding is not None
        features, counts = termvectors.decode(chunk.embedding)
        assert len(features) == len(counts) > 0 and (counts >= 1).all()
    if not IS_PG:
        assert await _fts_rows(db) == len(chunks)


async def test_the_title_falls_back_to_the_file_name_then_the_first_line(
    db: Database, tenant: TenantLogin
) -> None:
    named = await _create(db, tenant.tenant_id, title=None, content=b"plain words",
                          filename="shipping-rates.txt")  # fmt: skip
    assert named.title == "shipping-rates"
    bare = await _create(db, tenant.tenant_id, title=None, content="First line here\nsecond")
    assert bare.title == "First line here"


async def test_a_pdf_keeps_its_bytes_pages_and_hash(db: Database, tenant: TenantLogin) -> None:
    data = make_pdf(["Page one text.", "Page two text."], title="Two pages")
    doc = await _create(db, tenant.tenant_id, title=None, content=data, filename="two.pdf")
    assert doc.title == "Two pages" and doc.content_type == "application/pdf"
    assert doc.original == data and doc.size_bytes == len(data) and doc.page_count == 2
    assert [c.page for c in await stored_chunks(db, tenant.tenant_id, doc.id)] == [1, 2]


async def test_refused_content_leaves_nothing_behind(db: Database, tenant: TenantLogin) -> None:
    with pytest.raises(Unprocessable):
        await _create(db, tenant.tenant_id, content=make_pdf(["x"], user_password="pw"))
    with pytest.raises(PayloadTooLarge):
        await _create(db, tenant.tenant_id, content="x" * (service.max_document_bytes() + 1))
    with pytest.raises(Unprocessable):
        await _create(db, tenant.tenant_id, content="<html><nav>menu only</nav></html>",
                      content_type="text/html")  # fmt: skip
    assert await _all_chunks(db) == 0
    assert await events_of(db, tenant.tenant_id, "kb.document.created") == []


async def test_new_content_replaces_every_chunk(db: Database, tenant: TenantLogin) -> None:
    doc = await _create(db, tenant.tenant_id, content="Old text about carrier pigeons.")
    [old] = await stored_chunks(db, tenant.tenant_id, doc.id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        updated = await service.update_document(
            s, ctx_of(tenant.tenant_id), doc.id, content="New text about drones.", if_match="1"
        )
        assert updated.version == 2
    [new] = await stored_chunks(db, tenant.tenant_id, doc.id)
    assert new.id != old.id and new.text == "New text about drones."
    assert await _fts_rows(db) in (None, 1)
    [event] = await events_of(db, tenant.tenant_id, "kb.document.updated")
    assert event.data["content_changed"] is True and event.version == 2


async def test_the_same_content_again_changes_nothing(db: Database, tenant: TenantLogin) -> None:
    doc = await _create(db, tenant.tenant_id, content="Stable text.")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        same = await service.update_document(
            s, ctx_of(tenant.tenant_id), doc.id, content="Stable text.", title="Doc"
        )
        assert same.version == 1
    assert await events_of(db, tenant.tenant_id, "kb.document.updated") == []


async def test_a_new_title_keeps_the_chunks_and_is_embedded_with_them(
    db: Database, tenant: TenantLogin
) -> None:
    doc = await _create(db, tenant.tenant_id, content="Opening times of the shop.")
    [before] = await stored_chunks(db, tenant.tenant_id, doc.id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        updated = await service.update_document(
            s, ctx_of(tenant.tenant_id), doc.id, title="  Store   hours ", tags=["Shop"]
        )
        assert (updated.title, updated.tags, updated.version) == ("Store hours", ["shop"], 2)
    [after] = await stored_chunks(db, tenant.tenant_id, doc.id)
    assert after.id == before.id and after.document_title == "Store hours"
    assert after.embedding != before.embedding  # the title is part of what is embedded
    [event] = await events_of(db, tenant.tenant_id, "kb.document.updated")
    assert event.data["changed"] == ["title", "tags"] and event.data["tags"] == ["shop"]


async def test_reembedding_replaces_the_vectors_and_names_the_embedder(
    db: Database, tenant: TenantLogin
) -> None:
    class Doubled(LocalEmbedder):
        name = "doubled-test"

    doc = await _create(db, tenant.tenant_id, content="Opening times of the shop.")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        again = await service.reembed_document(
            s, ctx_of(tenant.tenant_id), doc.id, embedder=Doubled()
        )
        assert again.embedding_model == "doubled-test" and again.version == 2
    [chunk] = await stored_chunks(db, tenant.tenant_id, doc.id)
    assert chunk.embedding_model == "doubled-test"


async def test_delete_takes_the_chunks_and_their_index(db: Database, tenant: TenantLogin) -> None:
    doc = await _create(db, tenant.tenant_id, content=RETURNS_MD, content_type="text/markdown")
    keep = await _create(db, tenant.tenant_id, content="Keep me.")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        await service.delete_document(s, ctx_of(tenant.tenant_id), doc.id)
    assert await stored_chunks(db, tenant.tenant_id, doc.id) == []
    assert await _all_chunks(db) == 1
    assert await _fts_rows(db) in (None, 1)
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        with pytest.raises(NotFound):
            await service.get_document(s, ctx_of(tenant.tenant_id), doc.id)
        assert (await service.get_document(s, ctx_of(tenant.tenant_id), keep.id)).id == keep.id


async def test_another_tenant_cannot_read_change_or_delete(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    doc = await _create(db, tenant.tenant_id, content="Private pricing notes.")
    theirs = ctx_of(other_tenant.tenant_id)
    async with db.unit_of_work(tenant_id=other_tenant.tenant_id) as s:
        for attempt in (
            service.get_document(s, theirs, doc.id),
            service.document_chunks(s, theirs, doc.id),
            service.update_document(s, theirs, doc.id, title="Stolen"),
            service.delete_document(s, theirs, doc.id),
        ):
            with pytest.raises(NotFound):
                await attempt
    assert len(await stored_chunks(db, tenant.tenant_id, doc.id)) == 1
