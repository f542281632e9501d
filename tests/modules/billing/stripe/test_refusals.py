"""A refused Stripe delivery says why, one problem type per reason (a stale timestamp is
not a bad signature), and never shows the secret or the signature we expected."""

from __future__ import annotations

import time

import httpx
import pytest

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.fixtures.stripe.events import dumps, event, payment_intent, sign
from tests.modules.billing.payments.helpers import SECRET, configure_stripe, inbound_of

PROBLEMS = "https://bizos.dev/problems/"
BODY = dumps(event("payment_intent.succeeded", payment_intent(amount="12.00")))


async def post(client: httpx.AsyncClient, slug: str, header: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return await client.post(f"/webhooks/stripe/{slug}", content=BODY.encode(), headers=headers)


def assert_refused(r: httpx.Response, reason: str) -> dict[str, object]:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, object] = r.json()
    assert problem["type"] == PROBLEMS + reason, problem
    expected = sign(BODY, SECRET).split("v1=")[1]
    assert SECRET not in r.text and expected not in r.text
    return problem


async def test_a_workspace_without_a_secret_is_told_it_is_not_configured(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    unset = assert_refused(
        await post(client, tenant.slug, sign(BODY, SECRET)), "webhook-not-configured"
    )
    unknown = assert_refused(
        await post(client, "no-such-shop", sign(BODY, SECRET)), "webhook-not-configured"
    )
    assert unset["detail"] == unknown["detail"]  # existence is not revealed
    assert "PUT /api/v1/connectors/stripe" in str(unset["detail"])


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "webhook-signature-missing"),
        ("", "webhook-signature-missing"),
        ("garbage", "webhook-signature-malformed"),
        ("t=soon,v1=" + "0" * 64, "webhook-signature-malformed"),
        ("v1=" + "0" * 64, "webhook-signature-malformed"),
        (f"t={int(time.time())}", "webhook-signature-malformed"),
        (f"t={int(time.time())},v1={'0' * 64}", "webhook-signature-mismatch"),
        (sign(BODY, "whsec_someone_else"), "webhook-signature-mismatch"),
    ],
)
async def test_each_bad_signature_gets_its_own_problem_and_stores_nothing(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, header: str | None, reason: str
) -> None:
    await configure_stripe(client, tenant)
    assert_refused(await post(client, tenant.slug, header), reason)
    assert await inbound_of(db, tenant) == []


async def test_a_genuine_signature_replayed_after_the_tolerance_is_expired_not_mismatched(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    old = sign(BODY, SECRET, timestamp=int(time.time()) - 3600)
    problem = assert_refused(await post(client, tenant.slug, old), "webhook-timestamp-expired")
    assert "300 s tolerance" in str(problem["detail"])
    assert await inbound_of(db, tenant) == []


async def test_a_signature_from_the_future_says_so(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    ahead = sign(BODY, SECRET, timestamp=int(time.time()) + 3600)
    problem = assert_refused(await post(client, tenant.slug, ahead), "webhook-timestamp-in-future")
    assert "clock" in str(problem["detail"])


async def test_a_stale_timestamp_under_a_wrong_signature_is_a_mismatch(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    """Only a matching signature vouches for its timestamp: without one, age is moot."""
    await configure_stripe(client, tenant)
    forged = sign(BODY, "whsec_guess", timestamp=int(time.time()) - 3600)
    assert_refused(await post(client, tenant.slug, forged), "webhook-signature-mismatch")


async def test_a_replay_inside_the_tolerance_is_answered_duplicate(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    header = sign(BODY, SECRET)
    first, again = await post(client, tenant.slug, header), await post(client, tenant.slug, header)
    assert (first.status_code, first.json()["status"]) == (200, "accepted")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert len(await inbound_of(db, tenant)) == 1
