"""Names from the tenant's CRM: found in texts through the search index, never another
tenant's, short forms only when unambiguous, and kept from a real (fake) model server."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from bizos.ai.privacy import KnownEntity, Redactor, redactor_for
from bizos.ai.providers.openai import OpenAICompatibleProvider
from bizos.ai.types import ChatMessage, CompletionRequest, StreamEnd, TextDelta
from bizos.core.context import system_context
from bizos.core.db import Database
from bizos.modules.crm.contacts import service as contacts
from bizos.modules.crm.contacts.schemas import ContactCreate
from bizos.modules.crm.models import Company, Contact
from bizos.modules.crm.privacy import known_entities
from tests.conftest import TenantLogin
from tests.fakes.llm_servers import FakeLlmServer


async def add_contacts(db: Database, tenant_id: str, *people: dict[str, Any]) -> None:
    ctx = system_context(tenant_id)
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        for person in people:
            await contacts.create_contact(session, ctx, ContactCreate(**person))


async def add_rows(db: Database, tenant_id: str, names: list[str]) -> None:
    """Many contacts at once, as an import writes them (names only)."""
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        session.add_all(Contact(tenant_id=tenant_id, name=n) for n in names)


async def names(db: Database, tenant_id: str, *texts: str) -> set[tuple[str, str]]:
    return {(e.kind, e.value) for e in await entities(db, tenant_id, *texts)}


async def entities(db: Database, tenant_id: str, *texts: str) -> set[KnownEntity]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        return set(await known_entities(session, system_context(tenant_id), texts))


async def redactor(db: Database, tenant_id: str, *texts: str) -> Redactor:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        return await redactor_for(session, system_context(tenant_id), texts)


async def test_contact_and_company_names_in_the_texts_are_found(
    db: Database, tenant: TenantLogin
) -> None:
    await add_contacts(
        db,
        tenant.tenant_id,
        {"name": "Ada Lovelace", "email": "ada@example.com", "company": "Analytical Engines"},
        {"name": "Grace Hopper", "email": "grace@example.com"},
    )
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        session.add(Company(tenant_id=tenant.tenant_id, name="Globex Corporation"))
    found = await entities(
        db,
        tenant.tenant_id,
        "Met ada lovelace from ANALYTICAL ENGINES.",
        "Globex Corporation wants a quote.",
    )
    assert found == {
        KnownEntity("PERSON", "Ada Lovelace"),
        KnownEntity("COMPANY", "Analytical Engines"),
        KnownEntity("COMPANY", "Globex Corporation"),
    }


async def test_another_tenants_contacts_are_not_used(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await add_contacts(db, other_tenant.tenant_id, {"name": "Linus Torvalds"})
    await add_contacts(db, tenant.tenant_id, {"name": "Ada Lovelace"})
    text = "Linus Torvalds and Ada Lovelace wrote."
    assert await names(db, tenant.tenant_id, text) == {("PERSON", "Ada Lovelace")}
    assert (await redactor(db, tenant.tenant_id, text)).redact(text) == (
        "Linus Torvalds and [PERSON_1] wrote."
    )
    assert (await redactor(db, other_tenant.tenant_id, text)).redact(text) == (
        "[PERSON_1] and Ada Lovelace wrote."
    )


async def test_merged_contacts_are_not_names_any_more(db: Database, tenant: TenantLogin) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        session.add(Contact(tenant_id=tenant.tenant_id, name="Old Name", merged_into_id="x"))
    assert await names(db, tenant.tenant_id, "Old Name wrote") == set()


async def test_one_word_names_are_found(db: Database, tenant: TenantLogin) -> None:
    await add_rows(db, tenant.tenant_id, ["Madonna", "Madonna Ciccone", "Madonnas Fan Club"])
    assert await names(db, tenant.tenant_id, "A letter from Madonna.") == {("PERSON", "Madonna")}


async def test_a_first_name_only_one_contact_has_is_a_short_form(
    db: Database, tenant: TenantLogin
) -> None:
    await add_rows(db, tenant.tenant_id, ["Hedy Lamarr", "John Smith", "John Doe", "John Roe"])
    text = "Thanks, Hedy! Regards, John"
    assert await entities(db, tenant.tenant_id, text) == {
        KnownEntity("PERSON", "Hedy Lamarr", ("Hedy",))
    }
    r = await redactor(db, tenant.tenant_id, text)
    assert r.redact(text) == "Thanks, [PERSON_1_FIRST]! Regards, John"
    assert r.restore("Dear [PERSON_1_FIRST]") == "Dear Hedy"


async def test_a_shared_first_name_is_a_short_form_when_the_full_name_is_in_the_request(
    db: Database, tenant: TenantLogin
) -> None:
    await add_rows(db, tenant.tenant_id, ["John Smith", "John Doe", "John Roe", "Jane Smithers"])
    r = await redactor(db, tenant.tenant_id, "From: John Smith", "Hi, it's John again.")
    assert r.redact("From: John Smith") == "From: [PERSON_1]"
    assert r.redact("Hi, it's John again.") == "Hi, it's [PERSON_1_FIRST] again."
    # Lower-case words are not names.
    assert r.redact("john") == "john"


async def test_lookups_do_not_grow_with_the_crm(db: Database, tenant: TenantLogin) -> None:
    text = "Ticket from Ada Lovelace about Acme: please call Ada back, or Bob Example."
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "crm_" in statement:
            statements.append(statement)

    await add_rows(db, tenant.tenant_id, ["Ada Lovelace"])
    sa.event.listen(db.read_engine.sync_engine, "before_cursor_execute", count)
    try:
        small = await entities(db, tenant.tenant_id, text)
        small_count = len(statements)
        first = ["Ada", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi"]
        await add_rows(
            db,
            tenant.tenant_id,
            [f"{first[i % 8]} Person{i} Lastname{i % 97}" for i in range(3000)],
        )
        statements.clear()
        large = await entities(db, tenant.tenant_id, text)
    finally:
        sa.event.remove(db.read_engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == small_count  # the same few indexed queries
    assert KnownEntity("PERSON", "Ada Lovelace", ("Ada", "Lovelace")) in small
    # With 375 more Adas, "Ada" alone still means the Ada Lovelace of this text.
    assert KnownEntity("PERSON", "Ada Lovelace", ("Ada", "Lovelace")) in large


async def test_a_fake_provider_sees_tokens_and_the_answer_has_the_names_back(
    db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await add_contacts(
        db,
        tenant.tenant_id,
        {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0958"},
    )
    prompt = "Reply to Ada Lovelace (ada@example.com, +44 20 7946 0958): where is my order?"
    r = await redactor(db, tenant.tenant_id, prompt)
    provider = OpenAICompatibleProvider(fake_openai.url, "sk-test", "gpt-test")
    request = CompletionRequest(task="draft", messages=(ChatMessage("user", r.redact(prompt)),))

    completion = await provider.complete(request)
    assert r.restore(completion.text) == "Echo: " + prompt

    restorer = r.restorer()
    pieces = []
    async for chunk in provider.stream(request):
        if isinstance(chunk, TextDelta):
            pieces.append(restorer.feed(chunk.text))
        else:
            assert isinstance(chunk, StreamEnd)
    assert "".join(pieces) + restorer.finish() == "Echo: " + prompt
    seen = " ".join(req.text() for req in fake_openai.requests)
    for value in ("Ada Lovelace", "ada@example.com", "+44 20 7946 0958", "Lovelace"):
        assert value not in seen
    # The privacy guard checks the same at teardown, for this and every test.
