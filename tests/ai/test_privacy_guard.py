"""The suite-wide privacy guard can fail: a raw request that carries a contact's name,
email or phone is reported, in any spelling the JSON gives it."""

from __future__ import annotations

import json

import httpx
import pytest

from bizos.ai.privacy import Redactor
from bizos.core.context import system_context
from bizos.core.db import Database
from bizos.modules.crm.contacts import service as contacts
from bizos.modules.crm.contacts.schemas import ContactCreate
from tests.conftest import TenantLogin
from tests.fakes.llm_servers import FakeLlmServer, RecordedRequest
from tests.fakes.privacy_guard import (
    Identifiers,
    PrivacyGuard,
    assert_no_leaks,
    find_leaks,
)


async def _add_ada(db: Database, tenant_id: str) -> None:
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        await contacts.create_contact(
            session,
            system_context(tenant_id),
            ContactCreate(name="Ada Lovelace", email="Ada@Example.com", phone="+44 20 7946 0958"),
        )


async def _chat(server: FakeLlmServer, content: str) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"{server.url}/chat/completions",
            json={"model": "gpt-test", "messages": [{"role": "user", "content": content}]},
        )
    assert r.status_code == 200


async def test_the_guard_reports_a_raw_leak_to_a_fake_server(
    db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer, privacy_guard: PrivacyGuard
) -> None:
    await _add_ada(db, tenant.tenant_id)
    await _chat(fake_openai, "ADA  LOVELACE, ada@example.com, call 020 7946 0958 or +442079460958")
    leaks = await privacy_guard.check()
    assert {leak.kind for leak in leaks} == {"name", "email", "phone"}
    assert all(leak.server == "openai" for leak in leaks)
    # What the guard's teardown does with it: the test fails.
    with pytest.raises(pytest.fail.Exception, match="privacy guard"):
        await assert_no_leaks(privacy_guard)
    privacy_guard.acknowledge()  # this leak was the point


async def test_the_guard_is_quiet_when_the_prompt_was_redacted(
    db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer, privacy_guard: PrivacyGuard
) -> None:
    await _add_ada(db, tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        from bizos.ai.privacy import redactor_for

        text = "Ada Lovelace (ada@example.com, +44 20 7946 0958) asks about Adamant."
        r = await redactor_for(session, system_context(tenant.tenant_id), [text])
    await _chat(fake_openai, r.redact(text))
    assert await privacy_guard.check() == []
    await assert_no_leaks(privacy_guard)


async def test_requests_before_a_guard_started_are_not_its_leaks(
    db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer, privacy_guard: PrivacyGuard
) -> None:
    await _add_ada(db, tenant.tenant_id)
    await _chat(fake_openai, "Ada Lovelace")
    later = PrivacyGuard(db)  # as the next test's guard: it sees nothing of the above
    assert await later.check() == []
    assert [leak.kind for leak in await privacy_guard.check()] == ["name"]
    privacy_guard.acknowledge()


def _request(payload: dict[str, object]) -> RecordedRequest:
    body = json.dumps(payload).encode()  # ensure_ascii: "ü" travels as \u00fc
    return RecordedRequest("openai", "POST", "/v1/chat/completions", {}, body, payload)


def test_json_escapes_and_spacing_do_not_hide_a_name() -> None:
    ids = Identifiers(names={"Zoë Müller"}, emails=set(), phones={"030 1234567"})
    leaks = find_leaks(
        [_request({"messages": [{"content": "zoë\n müller; call (030) 123-4567"}]})], ids
    )
    assert {(leak.kind, leak.value) for leak in leaks} == {
        ("name", "Zoë Müller"),
        ("phone", "030 1234567"),
    }


def test_words_that_only_contain_a_name_are_not_leaks() -> None:
    ids = Identifiers(names={"Bea"}, emails={"bea@example.com"}, phones={"+4930123456"})
    requests = [_request({"content": "beautiful [PERSON_1] [EMAIL_1] order 49301234567"})]
    assert find_leaks(requests, ids) == []


def test_a_redacted_prompt_passes_and_the_original_fails() -> None:
    ids = Identifiers(names={"Ada Lovelace"}, emails={"ada@example.com"}, phones=set())
    text = "Ada Lovelace <ada@example.com>"
    assert find_leaks([_request({"content": Redactor().redact(text)})], ids) != []
    from bizos.ai.privacy import KnownEntity

    r = Redactor([KnownEntity("PERSON", "Ada Lovelace")])
    assert find_leaks([_request({"content": r.redact(text)})], ids) == []
