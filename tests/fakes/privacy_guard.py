"""The suite-wide privacy guarantee: no fake model server ever receives a CRM contact's
name, email or phone.

``privacy_guard`` is an autouse fixture. For a test that uses the ``db`` fixture, it notes
how many requests the fake LLM servers (``tests.fakes.llm_servers.ALL_REQUESTS``) had
received before the test and, at teardown, reads every contact of the test's database
(all tenants, merged ones included) and fails the test if any request that arrived during
it contains one of their names (whole words, case-insensitive, any spacing), emails
(case-insensitive) or phones (as given, E.164, or the bare digits as one number).

Tests without the ``db`` fixture have no contacts to leak and are not checked. A test
that leaks on purpose calls ``await privacy_guard.check()`` itself and then
``privacy_guard.acknowledge()``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from bizos.core.db import Database, get_database
from bizos.modules.crm.models import Contact
from tests.fakes.llm_servers import ALL_REQUESTS, RecordedRequest


@dataclass(frozen=True)
class Leak:
    """A contact identifier found in a request a fake model server received."""

    kind: str  # name | email | phone
    value: str
    server: str
    path: str


@dataclass
class Identifiers:
    names: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)


async def contact_identifiers(db: Database) -> Identifiers:
    """Every contact name, email and phone in the database, across tenants."""
    out = Identifiers()
    async with db.unit_of_work(system=True, readonly=True) as session:
        rows = await session.execute(
            sa.select(Contact.name, Contact.email, Contact.phone, Contact.phone_normalized)
        )
        for name, email, phone, e164 in rows:
            if name and name.strip():
                out.names.add(name.strip())
            if email and email.strip():
                out.emails.add(email.strip())
            for number in (phone, e164):
                if number and len(re.sub(r"\D", "", number)) >= 6:
                    out.phones.add(number.strip())
    return out


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def request_text(request: RecordedRequest) -> str:
    """What a model server could read: the raw body and its decoded JSON strings (so
    ``\\u00fc`` escapes are seen as ``ü``)."""
    parts = [request.body.decode("utf-8", "replace"), request.path]
    if request.body:
        with contextlib.suppress(ValueError):
            parts.extend(_strings(json.loads(request.body)))
    return "\n".join(parts)


def _name_regex(name: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in name.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def find_leaks(requests: Sequence[RecordedRequest], ids: Identifiers) -> list[Leak]:
    """Every contact identifier that occurs in ``requests``."""
    names = [(n, _name_regex(n)) for n in ids.names]
    leaks: list[Leak] = []
    for request in requests:
        text = request_text(request)
        lowered = text.lower()
        digit_runs = set(re.findall(r"\d+", re.sub(r"(?<=\d)[ ()./-]+(?=\d)", "", text)))
        for name, pattern in names:
            if pattern.search(text):
                leaks.append(Leak("name", name, request.server, request.path))
        for email in ids.emails:
            if email.lower() in lowered:
                leaks.append(Leak("email", email, request.server, request.path))
        for phone in ids.phones:
            digits = re.sub(r"\D", "", phone)
            if phone in text or digits in digit_runs or digits.lstrip("0") in digit_runs:
                leaks.append(Leak("phone", phone, request.server, request.path))
    return leaks


class PrivacyGuard:
    def __init__(self, db: Database | None) -> None:
        self.db = db
        self.start = len(ALL_REQUESTS)
        self.acknowledged = False

    def requests(self) -> list[RecordedRequest]:
        return list(ALL_REQUESTS[self.start :])

    async def check(self) -> list[Leak]:
        """The leaks of this test so far (nothing without a database or requests)."""
        requests = self.requests()
        if not requests:
            return []
        db = self.db
        if db is None:
            try:
                db = get_database()
            except RuntimeError:
                return []
        return find_leaks(requests, await contact_identifiers(db))

    def acknowledge(self) -> None:
        """This test leaked on purpose (it proves the guard); do not fail it."""
        self.acknowledged = True


@pytest.fixture(autouse=True)
def privacy_guard(request: pytest.FixtureRequest) -> PrivacyGuard:
    """Every test gets a guard; one that has a database gets it checked at teardown."""
    if "db" in request.fixturenames:
        guard = request.getfixturevalue("privacy_guard_checked")
        assert isinstance(guard, PrivacyGuard)
        return guard
    return PrivacyGuard(None)


@pytest.fixture
async def privacy_guard_checked(db: Database) -> AsyncIterator[PrivacyGuard]:
    # Depends on ``db``, so this teardown runs while the database is still open.
    guard = PrivacyGuard(db)
    yield guard
    await assert_no_leaks(guard)


async def assert_no_leaks(guard: PrivacyGuard) -> None:
    """Fail the running test if a fake model server received contact data (unless the
    test acknowledged a deliberate leak)."""
    if guard.acknowledged:
        return
    leaks = await guard.check()
    if leaks:
        shown = ", ".join(
            f"{leak.kind} {leak.value!r} to {leak.server}{leak.path}" for leak in leaks
        )
        pytest.fail(f"privacy guard: a fake model server received contact data: {shown}")
