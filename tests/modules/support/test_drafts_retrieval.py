"""Precedent for drafts: resolved tickets of the same tenant, by embedding similarity.

Each resolved conversation is embedded once and again only when it changed; open
tickets, the ticket being answered and other tenants' tickets are never precedent.
"""

from __future__ import annotations

import sqlalchemy as sa

from bizos.ai import termvectors
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.support.drafts import retrieval
from bizos.modules.support.drafts.models import TicketVector
from tests.conftest import TenantLogin
from tests.modules.support.drafts_helpers import (
    add_message,
    make_ticket,
    resolved_ticket,
)

QUESTION = "My blender arrived broken, the glass jar is cracked. Can I get a replacement?"


async def precedent(db: Database, tenant_id: str, query: str, exclude: str = "none") -> list[str]:
    ctx = Context(tenant_id=tenant_id)
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        found = await retrieval.similar_tickets(session, ctx, query, exclude_ticket_id=exclude)
    return [p.ticket_id for p in found]


async def vectors(db: Database, tenant_id: str) -> dict[str, str]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.execute(sa.select(TicketVector.ticket_id, TicketVector.text_sha256))
        return dict(rows.all())


async def test_only_this_tenants_resolved_tickets_are_precedent(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    answer = "We are sending a new glass jar for your blender today."
    mine = await resolved_ticket(db, tenant.tenant_id, question=QUESTION, answer=answer)
    await resolved_ticket(db, other_tenant.tenant_id, question=QUESTION, answer=answer)
    still_open, _ = await make_ticket(db, tenant.tenant_id, body=QUESTION, announce=False)
    unrelated = await resolved_ticket(
        db, tenant.tenant_id, question="Do you sell gift cards?", answer="Yes, from 10 EUR."
    )

    found = await precedent(db, tenant.tenant_id, "The jar of my new blender is cracked")

    assert found == [mine]
    assert still_open not in found and unrelated not in found
    # The other tenant's ticket was never even embedded in this tenant's index.
    assert set(await vectors(db, tenant.tenant_id)) == {mine, unrelated}


async def test_the_ticket_being_answered_is_not_its_own_precedent(
    db: Database, tenant: TenantLogin
) -> None:
    ticket = await resolved_ticket(db, tenant.tenant_id, question=QUESTION, answer="A new jar.")

    assert await precedent(db, tenant.tenant_id, QUESTION, exclude=ticket) == []
    assert await precedent(db, tenant.tenant_id, QUESTION) == [ticket]


async def test_a_conversation_is_embedded_again_only_when_it_changed(
    db: Database, tenant: TenantLogin
) -> None:
    ticket = await resolved_ticket(db, tenant.tenant_id, question=QUESTION, answer="A new jar.")
    ctx = Context(tenant_id=tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        assert await retrieval.index_tickets(session, ctx, [ticket]) == 1
    before = await vectors(db, tenant.tenant_id)

    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        assert await retrieval.index_tickets(session, ctx, [ticket]) == 0
    await add_message(
        db, tenant.tenant_id, ticket, body="Update: the jar ships by courier.",
        direction="outbound", event=None,
    )  # fmt: skip
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        assert await retrieval.index_tickets(session, ctx, [ticket]) == 1

    after = await vectors(db, tenant.tenant_id)
    assert list(after) == [ticket]
    assert after[ticket] != before[ticket]


async def test_precedent_vectors_of_the_old_embedder_are_made_again(
    db: Database, tenant: TenantLogin
) -> None:
    answer = "We are sending a new glass jar for your blender today."
    ticket = await resolved_ticket(db, tenant.tenant_id, question=QUESTION, answer=answer)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        # As a database from before the retrieval embedder holds it: a hashing vector.
        await session.execute(
            sa.update(TicketVector).values(embedding_model="local-hash-384", embedding=b"\0" * 8)
        )

    assert await precedent(db, tenant.tenant_id, "The jar of my new blender is cracked") == [ticket]
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        models = set(await session.scalars(sa.select(TicketVector.embedding_model)))
    assert termvectors.NAME in models  # the old one is ignored, never compared


async def test_an_unrelated_question_finds_no_precedent(db: Database, tenant: TenantLogin) -> None:
    answer = "We are sending a new glass jar for your blender today."
    await resolved_ticket(db, tenant.tenant_id, question=QUESTION, answer=answer)
    await resolved_ticket(
        db, tenant.tenant_id, question="Do you sell gift cards?", answer="Yes, from 10 EUR."
    )

    assert await precedent(db, tenant.tenant_id, "Can I change my invoice address?") == []
