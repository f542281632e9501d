"""Deals through the API as a sales team sees them: create, list, read, change, the
rules each stage sets, closing and reopening, and the bad paths."""

from __future__ import annotations

import httpx

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.crm.deals.helpers import DEALS, make_contact, patch_deal, post_deal
from tests.modules.identity.helpers import add_member, assert_problem


async def test_a_deal_is_created_with_money_as_a_decimal_string(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    contact_id = await make_contact(db, tenant, "ada@customer.example", "Ada")
    r = await client.post(
        DEALS,
        json={
            "name": "Annual plan",
            "contact_id": contact_id,
            "amount": "12000.5",
            "currency": "eur",
            "close_date": "2026-03-31",
            "source": "inbound",
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    deal = r.json()
    assert deal["amount"] == "12000.50"
    assert deal["currency"] == "EUR"
    assert deal["stage"] == "lead"
    assert deal["owner_id"] == tenant.user_id
    assert deal["contact_id"] == contact_id
    assert deal["version"] == 1
    assert r.headers["ETag"] == 'W/"1"'

    got = await client.get(f"{DEALS}/{deal['id']}", headers=tenant.headers)
    assert got.status_code == 200
    assert got.json() == deal


async def test_invalid_money_is_refused_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for body, field in (
        ({"name": "x", "amount": "-1.00", "currency": "EUR"}, "amount"),
        ({"name": "x", "amount": "1.005", "currency": "EUR"}, "amount"),
        ({"name": "x", "amount": "12", "currency": "EUO"}, "currency"),
        ({"name": "x", "amount": "12", "currency": "EURO"}, "currency"),
        ({"name": "x", "amount": "12", "currency": "EUR", "stage": "signed"}, "stage"),
    ):
        r = await client.post(DEALS, json=body, headers=tenant.headers)
        problem = assert_problem(r, 422)
        assert ["body", field] in [e["loc"] for e in problem["errors"]], (body, problem)


async def test_list_filters_by_stage_owner_and_contact_and_pages_with_a_cursor(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ada = await make_contact(db, tenant, "ada@customer.example")
    first = await post_deal(client, tenant, name="A", contact_id=ada)
    await post_deal(client, tenant, name="B", stage="qualified")
    third = await post_deal(client, tenant, name="C", contact_id=ada, stage="qualified")

    # Newest first.
    r = await client.get(DEALS, params={"stage": "qualified"}, headers=tenant.headers)
    assert [d["name"] for d in r.json()["items"]] == ["C", "B"]
    r = await client.get(DEALS, params={"contact_id": ada}, headers=tenant.headers)
    assert [d["id"] for d in r.json()["items"]] == [third["id"], first["id"]]
    r = await client.get(DEALS, params={"owner_id": tenant.user_id}, headers=tenant.headers)
    assert len(r.json()["items"]) == 3

    page1 = (await client.get(DEALS, params={"limit": 2}, headers=tenant.headers)).json()
    assert [d["name"] for d in page1["items"]] == ["C", "B"]
    page2 = (
        await client.get(
            DEALS, params={"limit": 2, "cursor": page1["next_cursor"]}, headers=tenant.headers
        )
    ).json()
    assert [d["name"] for d in page2["items"]] == ["A"]
    assert page2["next_cursor"] is None


async def test_proposal_needs_an_amount_and_says_which_rule(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant, amount="0")
    r = await patch_deal(client, tenant, deal["id"], {"stage": "proposal"})
    problem = assert_problem(r, 422)
    assert problem["errors"][0]["loc"] == ["body", "amount"]
    assert problem["errors"][0]["rule"] == "proposal.requires.amount"
    assert "proposal" in problem["detail"]

    ok = await patch_deal(client, tenant, deal["id"], {"stage": "proposal", "amount": "500"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["stage"] == "proposal"


async def test_rules_are_cumulative_so_skipping_stages_does_not_skip_rules(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant, amount="0")
    r = await patch_deal(client, tenant, deal["id"], {"stage": "negotiation"})
    problem = assert_problem(r, 422)
    assert {e["rule"] for e in problem["errors"]} == {
        "proposal.requires.amount",
        "negotiation.requires.close_date",
    }
    # Creating a deal straight into a stage is held to the same rules.
    r = await client.post(
        DEALS,
        json={"name": "x", "amount": "10", "currency": "EUR", "stage": "won"},
        headers=tenant.headers,
    )
    problem = assert_problem(r, 422)
    assert ["body", "contact_id"] in [e["loc"] for e in problem["errors"]]


async def test_an_edit_cannot_take_away_what_the_stage_demanded(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant, stage="proposal", amount="800")
    r = await patch_deal(client, tenant, deal["id"], {"amount": "0"})
    assert assert_problem(r, 422)["errors"][0]["rule"] == "proposal.requires.amount"


async def test_a_lost_deal_needs_a_reason_and_a_won_one_does_not(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant)
    r = await patch_deal(client, tenant, deal["id"], {"stage": "lost"})
    problem = assert_problem(r, 422)
    assert problem["errors"][0]["loc"] == ["body", "close_reason"]

    r = await patch_deal(
        client, tenant, deal["id"], {"stage": "lost", "close_reason": "no budget this year"}
    )
    assert r.status_code == 200, r.text
    lost = r.json()
    assert lost["is_closed"] is True
    assert lost["close_reason"] == "no budget this year"
    assert lost["closed_at"] is not None
    assert lost["close_date"] == lost["closed_at"][:10]

    contact_id = await make_contact(db, tenant, "bo@customer.example")
    other = await post_deal(client, tenant, contact_id=contact_id, close_date="2026-02-01")
    r = await patch_deal(client, tenant, other["id"], {"stage": "won"})
    assert r.status_code == 200, r.text


async def test_a_closed_deal_moves_only_after_an_explicit_reopen(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant, stage="proposal", amount="900")
    r = await patch_deal(client, tenant, deal["id"], {"stage": "lost", "close_reason": "price"})
    assert r.status_code == 200, r.text

    for change in ({"stage": "negotiation"}, {"amount": "10"}, {"currency": "USD"}):
        assert_problem(await patch_deal(client, tenant, deal["id"], change), 409)
    # Fields that do not change the outcome stay editable.
    r = await patch_deal(client, tenant, deal["id"], {"description": "came back in Q3?"})
    assert r.status_code == 200, r.text

    r = await client.post(
        f"{DEALS}/{deal['id']}/reopen", json={"reason": "they called back"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    reopened = r.json()
    assert reopened["stage"] == "proposal"  # the stage it was lost from
    assert reopened["is_closed"] is False
    assert reopened["close_reason"] is None
    assert reopened["closed_at"] is None
    r = await client.post(f"{DEALS}/{deal['id']}/reopen", json={}, headers=tenant.headers)
    assert_problem(r, 409)  # an open deal has nothing to reopen


async def test_a_stale_if_match_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant)
    r = await patch_deal(client, tenant, deal["id"], {"name": "Renamed"}, if_match=1)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2

    r = await patch_deal(client, tenant, deal["id"], {"stage": "qualified"}, if_match=1)
    assert_problem(r, 409)
    current = (await client.get(f"{DEALS}/{deal['id']}", headers=tenant.headers)).json()
    assert current["stage"] == "lead"
    assert current["version"] == 2


async def test_fields_that_cannot_be_cleared_are_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant)
    r = await patch_deal(client, tenant, deal["id"], {"amount": None, "stage": None})
    problem = assert_problem(r, 422)
    assert {tuple(e["loc"]) for e in problem["errors"]} == {("body", "amount"), ("body", "stage")}


async def test_another_tenants_ids_are_not_found_and_not_usable(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await post_deal(client, other_tenant)
    their_contact = await make_contact(db, other_tenant, "secret@globex.example")

    assert_problem(await client.get(f"{DEALS}/{theirs['id']}", headers=tenant.headers), 404)
    assert_problem(await patch_deal(client, tenant, theirs["id"], {"stage": "qualified"}), 404)
    r = await client.get(f"{DEALS}/{theirs['id']}/history", headers=tenant.headers)
    assert_problem(r, 404)
    r = await client.post(f"{DEALS}/{theirs['id']}/reopen", json={}, headers=tenant.headers)
    assert_problem(r, 404)
    assert (await client.get(DEALS, headers=tenant.headers)).json()["items"] == []

    # Pointing at their contact reads exactly like pointing at none.
    r = await client.post(
        DEALS,
        json={"name": "x", "amount": "1", "currency": "EUR", "contact_id": their_contact},
        headers=tenant.headers,
    )
    problem = assert_problem(r, 422)
    assert problem["errors"] == [{"loc": ["body", "contact_id"], "msg": "no such contact"}]
    r = await client.post(
        DEALS,
        json={"name": "x", "amount": "1", "currency": "EUR", "owner_id": other_tenant.user_id},
        headers=tenant.headers,
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "owner_id"]


async def test_a_viewer_reads_deals_but_cannot_write_them(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant)
    viewer = await add_member(client, tenant, "viewer")
    assert (await client.get(f"{DEALS}/{deal['id']}", headers=viewer.headers)).status_code == 200
    r = await client.post(
        DEALS, json={"name": "x", "amount": "1", "currency": "EUR"}, headers=viewer.headers
    )
    assert_problem(r, 403)
    r = await client.patch(
        f"{DEALS}/{deal['id']}", json={"stage": "qualified"}, headers=viewer.headers
    )
    assert_problem(r, 403)
    r = await client.put("/api/v1/crm/pipeline", json={}, headers=viewer.headers)
    assert_problem(r, 403)


async def test_admin_changes_the_stage_rules(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    pipeline = (await client.get("/api/v1/crm/pipeline", headers=tenant.headers)).json()
    assert pipeline["stages"] == ["lead", "qualified", "proposal", "negotiation", "won", "lost"]
    assert pipeline["stage_requirements"]["proposal"] == ["amount"]

    rules = {"stage_requirements": {"qualified": ["close_date"]}, "lost_reason_required": False}
    assert_problem(
        await client.put("/api/v1/crm/pipeline", json=rules, headers=member.headers), 403
    )
    r = await client.put("/api/v1/crm/pipeline", json=rules, headers=tenant.headers)
    assert r.status_code == 200, r.text

    deal = await post_deal(client, tenant, amount="0")
    r = await patch_deal(client, tenant, deal["id"], {"stage": "qualified"})
    assert assert_problem(r, 422)["errors"][0]["rule"] == "qualified.requires.close_date"
    r = await patch_deal(
        client, tenant, deal["id"], {"stage": "proposal", "close_date": "2026-05-01"}
    )
    assert r.status_code == 200, r.text  # amount no longer required
    r = await patch_deal(client, tenant, deal["id"], {"stage": "lost"})
    assert r.status_code == 200, r.text  # no reason required any more

    bad = {"stage_requirements": {"proposal": ["budget"]}}
    r = await client.put("/api/v1/crm/pipeline", json=bad, headers=tenant.headers)
    assert_problem(r, 422)
