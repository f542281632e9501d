"""A refused inbound email says why, one problem type per reason, and never shows the
secret or the signature we expected; nothing refused is stored."""

from __future__ import annotations

import httpx
import pytest

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.support.test_inbound_helpers import (
    SECRET,
    configure_inbound,
    deliver,
    fixture,
    inbound_rows,
    sign,
)

PROBLEMS = "https://bizos.dev/problems/"
RAW = fixture("plain_utf8.eml")
DIGEST = sign(RAW).removeprefix("sha256=")


def assert_refused(r: httpx.Response, reason: str) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == PROBLEMS + reason, r.json()
    assert SECRET not in r.text and DIGEST not in r.text.lower()


async def test_a_workspace_without_a_secret_is_told_it_is_not_configured(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    unset = await deliver(client, tenant.slug, RAW)
    unknown = await deliver(client, "no-such-workspace", RAW)
    assert_refused(unset, "webhook-not-configured")
    assert_refused(unknown, "webhook-not-configured")
    assert unset.json()["detail"] == unknown.json()["detail"]  # existence is not revealed
    assert "PUT /api/v1/connectors/email" in unset.json()["detail"]


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "webhook-signature-missing"),
        ("", "webhook-signature-missing"),
        (DIGEST, "webhook-signature-malformed"),
        ("sha1=" + DIGEST, "webhook-signature-malformed"),
        ("sha256=" + DIGEST[:-2], "webhook-signature-malformed"),
        ("sha256=not hex at all", "webhook-signature-malformed"),
        (sign(RAW, "not-the-secret"), "webhook-signature-mismatch"),
        (sign(RAW + b"\r\n"), "webhook-signature-mismatch"),
    ],
)
async def test_each_bad_signature_gets_its_own_problem_and_stores_nothing(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    signature: str | None,
    reason: str,
) -> None:
    await configure_inbound(client, tenant)
    if signature is None:
        r = await deliver(client, tenant.slug, RAW, signed=False)
    else:
        r = await deliver(client, tenant.slug, RAW, signature=signature)
    assert_refused(r, reason)
    assert await inbound_rows(db, tenant.tenant_id) == []
