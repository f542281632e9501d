"""The enrichment contract (``bizos.connectors.enrichment.Enricher``), for every enricher.

Every enricher — the sandbox (its bundled demo companies) and the Clearbit-style HTTP
provider (over real HTTP against the local server in ``tests/connectors/clearbit_server.py``,
which here knows the same demo companies):

- reads a known company into a :class:`CompanyProfile` — the same profile, whichever
  enricher reads it — whose summary is plain JSON: revenue in cents as text, the country
  as two upper-case letters, the domain as asked;
- answers ``None`` for a domain it knows no company at;
- keeps each lookup apart from the others, concurrent ones included;
- leaves a record of what it was asked, and asks nothing more.

Every enricher that calls a server also says whether a failure may pass later
(:class:`EnrichmentUnavailable`: 202, 429, 5xx, timeouts, refused connections) or not
(:class:`EnrichmentRefused`: a wrong key, a bad request), with errors that pickle into a
workflow's record and never show the key.

Adding an enricher means adding it to ``ENRICHERS`` (and to ``OVER_HTTP`` if it calls a
server) and to ``_subject``.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from bizos.connectors.enrichment import (
    ClearbitEnricher,
    Enricher,
    EnrichmentError,
    EnrichmentRefused,
    EnrichmentUnavailable,
)
from bizos.connectors.enrichment.sandbox import DEMO_COMPANIES, SandboxEnricher
from tests.connectors.clearbit_server import ClearbitServer, clearbit_server

ENRICHERS = ["sandbox", "clearbit"]
OVER_HTTP = ["clearbit"]

KEY = "sk_contract_enrichment_secret"
UNKNOWN = "nobody-here.example"


@dataclass
class Subject:
    enricher: Enricher
    asked: Callable[[], list[str]]  # the domains the enricher was asked about, in order
    server: ClearbitServer | None = None
    # An enricher of this kind pointed at ``base_url`` with ``api_key`` and ``timeout``.
    build: Callable[[str, str, float], Enricher] | None = None

    @property
    def http(self) -> ClearbitServer:
        assert self.server is not None, "only enrichers over HTTP have a server"
        return self.server

    def pointed_at(self, base_url: str, *, api_key: str = KEY, timeout: float = 5.0) -> Enricher:
        assert self.build is not None
        return self.build(base_url, api_key, timeout)


def _clearbit(base_url: str, api_key: str, timeout: float) -> Enricher:
    return ClearbitEnricher(api_key=api_key, base_url=base_url, timeout=timeout)


@pytest.fixture(scope="module")
def server() -> Iterator[ClearbitServer]:
    """One server for the module (stopping one costs more than the tests); it knows the
    sandbox's companies, answered as the sandbox records them."""
    companies = {domain: profile.raw for domain, profile in DEMO_COMPANIES.items()}
    with clearbit_server(api_key=KEY, companies=companies) as started:
        yield started


def _reset(server: ClearbitServer) -> None:
    server.requests.clear()
    server.script.clear()
    server.delay = 0.0


def _subject(name: str, server: ClearbitServer) -> Iterator[Subject]:
    if name == "sandbox":
        sandbox = SandboxEnricher()
        yield Subject(sandbox, lambda: [lookup.domain for lookup in sandbox.lookups])
        return
    _reset(server)
    yield Subject(
        _clearbit(server.base_url, KEY, 5.0),
        lambda: [request["domain"] for request in server.requests],
        server,
        _clearbit,
    )
    _reset(server)


@pytest.fixture(params=ENRICHERS)
def subject(request: pytest.FixtureRequest, server: ClearbitServer) -> Iterator[Subject]:
    yield from _subject(request.param, server)


@pytest.fixture(params=OVER_HTTP)
def remote(request: pytest.FixtureRequest, server: ClearbitServer) -> Iterator[Subject]:
    yield from _subject(request.param, server)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# --- the contract: every enricher --------------------------------------------------------


async def test_a_known_company_is_read_into_its_profile(subject: Subject) -> None:
    profile = await subject.enricher.lookup_company("contoso.com")

    assert profile is not None
    assert profile.summary() == {
        "name": "Contoso Ltd",
        "domain": "contoso.com",
        "industry": "Software",
        "employees": 1200,
        "country": "US",
        "city": "Seattle",
        "annual_revenue": "240000000.00",
        "description": "Business software and cloud services.",
    }
    assert profile.annual_revenue == Decimal("240000000.00")
    assert isinstance(profile.raw, dict) and profile.raw


async def test_every_enricher_reads_every_company_alike(subject: Subject) -> None:
    for domain, expected in DEMO_COMPANIES.items():
        profile = await subject.enricher.lookup_company(domain)

        assert profile is not None, domain
        assert profile.summary() == expected.summary()


async def test_a_profile_summary_is_plain_json(subject: Subject) -> None:
    for domain in list(DEMO_COMPANIES)[:5]:
        profile = await subject.enricher.lookup_company(domain)
        assert profile is not None
        summary = profile.summary()

        assert json.loads(json.dumps(summary)) == summary
        assert profile.domain == domain
        assert profile.country is None or (len(profile.country) == 2 and profile.country.isupper())
        revenue = profile.annual_revenue
        assert revenue is None or revenue.as_tuple().exponent == -2
        assert summary["annual_revenue"] == (None if revenue is None else str(revenue))


async def test_an_unknown_domain_is_none(subject: Subject) -> None:
    assert await subject.enricher.lookup_company(UNKNOWN) is None


async def test_each_lookup_stands_alone(subject: Subject) -> None:
    first = await subject.enricher.lookup_company("contoso.com")
    assert await subject.enricher.lookup_company(UNKNOWN) is None
    again = await subject.enricher.lookup_company("contoso.com")

    assert first is not None and again is not None
    assert again.summary() == first.summary()


async def test_concurrent_lookups_get_their_own_companies(subject: Subject) -> None:
    domains = [*list(DEMO_COMPANIES)[:6], UNKNOWN]

    profiles = await asyncio.gather(*(subject.enricher.lookup_company(d) for d in domains))

    assert [p.domain if p else None for p in profiles] == [*domains[:6], None]


async def test_what_it_was_asked_is_recorded_and_nothing_more(subject: Subject) -> None:
    await subject.enricher.lookup_company("contoso.com")
    await subject.enricher.lookup_company(UNKNOWN)

    assert subject.asked() == ["contoso.com", UNKNOWN]


# --- the contract: every enricher over HTTP ----------------------------------------------


@pytest.mark.parametrize("status", [202, 408, 429, 500, 502, 503])
async def test_a_busy_or_failing_provider_may_pass_later(remote: Subject, status: int) -> None:
    remote.http.script.append((status, {"error": {"type": "busy", "message": "try later"}}))

    with pytest.raises(EnrichmentUnavailable) as failed:
        await remote.enricher.lookup_company("contoso.com")

    assert failed.value.retryable is True
    assert str(status) in failed.value.detail
    assert await remote.enricher.lookup_company("contoso.com") is not None


@pytest.mark.parametrize("status", [400, 401, 403, 422])
async def test_a_request_the_provider_refuses_is_refused_for_good(
    remote: Subject, status: int
) -> None:
    remote.http.script.append((status, {"error": {"type": "refused", "message": "no"}}))

    with pytest.raises(EnrichmentRefused) as refused:
        await remote.enricher.lookup_company("contoso.com")

    assert refused.value.retryable is False
    assert str(status) in refused.value.detail


async def test_a_wrong_key_is_refused_for_good_and_never_shown(remote: Subject) -> None:
    wrong = "sk_wrong_enrichment_secret"
    enricher = remote.pointed_at(remote.http.base_url, api_key=wrong)

    with pytest.raises(EnrichmentRefused) as refused:
        await enricher.lookup_company("contoso.com")

    assert refused.value.retryable is False
    assert wrong not in str(refused.value) and wrong not in repr(enricher)
    assert KEY not in repr(remote.enricher)


async def test_an_unreachable_provider_may_pass_later(remote: Subject) -> None:
    with pytest.raises(EnrichmentUnavailable) as failed:
        await remote.pointed_at(_closed_port_url()).lookup_company("contoso.com")

    assert failed.value.retryable is True


async def test_a_provider_slower_than_the_timeout_may_pass_later(remote: Subject) -> None:
    remote.http.delay = 1.0

    with pytest.raises(EnrichmentUnavailable) as failed:
        await remote.pointed_at(remote.http.base_url, timeout=0.1).lookup_company("contoso.com")

    assert failed.value.retryable is True


async def test_errors_pickle_into_a_workflow_record_with_their_flag(remote: Subject) -> None:
    remote.http.script += [(503, {}), (401, {})]
    errors: list[EnrichmentError] = []
    for _ in range(2):
        with pytest.raises(EnrichmentError) as failed:
            await remote.enricher.lookup_company("contoso.com")
        errors.append(failed.value)

    copies = [pickle.loads(pickle.dumps(error)) for error in errors]

    assert [(type(c), c.detail, c.retryable) for c in copies] == [
        (EnrichmentUnavailable, errors[0].detail, True),
        (EnrichmentRefused, errors[1].detail, False),
    ]
