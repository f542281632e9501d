"""The copilot's CRM actions, proposed (writing nothing) and then run once confirmed:
``crm.add_note`` on a contact, deal or company; ``crm.move_deal`` within the workspace's
stage rules (a broken rule is a 422 naming it, at proposal and at confirmation alike);
``crm.draft_email``, a draft kept as a task for a person to review and send, never sent.
Another workspace's records are 404, as the API answers; a viewer cannot confirm."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from bizos.core.db import Database
from bizos.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from bizos.core.tools import Figure
from bizos.modules.crm.contacts.schemas import NoteRead
from bizos.modules.crm.deals.schemas import DealRead
from bizos.modules.crm.tools import TOOLS
from bizos.modules.work.schemas import TaskRead
from tests.conftest import TenantLogin
from tests.modules.action_helpers import (
    VIEWER,
    audit_of,
    events_about,
    member_ctx,
    propose,
    row_counts,
    run,
    said_by_figures,
)
from tests.modules.crm.deals.helpers import make_contact, post_deal


def rules_of(refused: pytest.ExceptionInfo[Unprocessable]) -> list[str]:
    return [e["rule"] for e in refused.value.errors or [] if "rule" in e]


# --- crm.add_note ---------------------------------------------------------------------


async def test_proposing_a_note_names_the_record_and_writes_nothing(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant, name="Harbour renewal")
    params = {"record_type": "deal", "record_id": deal["id"], "body": "  Wants a call on Monday "}
    before = await row_counts(db)

    proposal = await propose(db, TOOLS, member_ctx(tenant), "crm.add_note", params)

    assert await row_counts(db) == before
    assert proposal.before is None
    assert proposal.after == {
        "subject_type": "deal",
        "subject_id": deal["id"],
        "body": "Wants a call on Monday",
        "author_id": tenant.user_id,
    }
    assert proposal.summary == 'Add a note to deal "Harbour renewal": Wants a call on Monday'
    assert proposal.figures == [] and said_by_figures(proposal)


async def test_a_note_holding_numbers_is_shown_not_quoted_in_the_summary(
    db: Database, tenant: TenantLogin
) -> None:
    contact_id = await make_contact(db, tenant, "aisha@example.com", "Aisha Fraser")
    params = {"record_type": "contact", "record_id": contact_id, "body": "Wants 20 seats by May"}

    proposal = await propose(db, TOOLS, member_ctx(tenant), "crm.add_note", params)

    # A note has no figures: its numbers are the user's words, shown in ``after``.
    assert proposal.summary == 'Add a note to contact "Aisha Fraser" (its text as shown)'
    assert said_by_figures(proposal) and proposal.after["body"] == "Wants 20 seats by May"


async def test_confirming_a_note_adds_it_once_with_its_event_and_audit_row(
    db: Database, tenant: TenantLogin
) -> None:
    contact_id = await make_contact(db, tenant, "ada@example.com", "Ada Lovelace")
    params = {"record_type": "contact", "record_id": contact_id, "body": "Prefers email."}
    before = await row_counts(db)

    result = await run(db, TOOLS, member_ctx(tenant), "crm.add_note", params)

    note = result.value
    assert isinstance(note, NoteRead)
    assert (note.subject_type, note.subject_id) == ("contact", contact_id)
    assert note.body == "Prefers email."
    assert result.records == [note.id]
    assert (await row_counts(db))["crm_notes"] == before["crm_notes"] + 1
    assert [e.type for e in await events_about(db, note.id)] == ["crm.note.created"]
    [entry] = await audit_of(db, note.id)
    assert (entry.action, entry.resource_type) == ("create", "crm_notes")


async def test_a_note_on_another_workspaces_company_is_404(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/crm/companies", json={"name": "Globex"}, headers=other_tenant.headers
    )
    assert r.status_code == 201, r.text
    params = {"record_type": "company", "record_id": r.json()["id"], "body": "hello"}
    with pytest.raises(NotFound):
        await propose(db, TOOLS, member_ctx(tenant), "crm.add_note", params)
    with pytest.raises(NotFound):
        await run(db, TOOLS, member_ctx(tenant), "crm.add_note", params)


@pytest.mark.parametrize(
    "params",
    [
        {"record_type": "invoice", "record_id": "x", "body": "hi"},
        {"record_type": "deal", "record_id": "x", "body": "   "},
        {"record_type": "deal", "body": "hi"},
    ],
)
async def test_bad_note_parameters_are_422(
    db: Database, tenant: TenantLogin, params: dict[str, Any]
) -> None:
    with pytest.raises(Unprocessable, match="invalid tool parameters"):
        await propose(db, TOOLS, member_ctx(tenant), "crm.add_note", params)


# --- crm.move_deal --------------------------------------------------------------------


async def test_proposing_a_move_shows_the_deal_before_and_after_and_writes_nothing(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant, name="Harbour renewal", amount="4999.00")
    before = await row_counts(db)

    proposal = await propose(
        db, TOOLS, member_ctx(tenant), "crm.move_deal", {"deal_id": deal["id"], "stage": "proposal"}
    )

    assert await row_counts(db) == before
    assert proposal.summary == 'Move deal "Harbour renewal" (€4,999.00) from lead to proposal'
    assert proposal.figures == [
        Figure('amount of deal "Harbour renewal"', Decimal("4999.00"), currency="EUR")
    ]
    assert said_by_figures(proposal)
    assert proposal.before is not None
    assert (proposal.before["stage"], proposal.after["stage"]) == ("lead", "proposal")
    assert proposal.before["amount"] == proposal.after["amount"] == "4999.00"
    assert {k for k in proposal.after if proposal.after[k] != proposal.before[k]} == {"stage"}


async def test_confirming_a_move_moves_the_deal_once_with_its_event_and_audit_row(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant)
    params = {"deal_id": deal["id"], "stage": "qualified"}

    result = await run(db, TOOLS, member_ctx(tenant), "crm.move_deal", params)

    moved = result.value
    assert isinstance(moved, DealRead)
    assert (moved.stage, moved.version) == ("qualified", deal["version"] + 1)
    assert result.records == [deal["id"]]
    types = [e.type for e in await events_about(db, deal["id"])]
    assert types == ["crm.deal.created", "crm.deal.stage_changed"]
    updates = [e for e in await audit_of(db, deal["id"]) if e.action == "update"]
    assert [u.changed_fields["stage"] for u in updates] == [["lead", "qualified"]]
    # Run again (the copilot never does): the deal is there already, and nothing moves.
    with pytest.raises(Unprocessable, match="already in qualified"):
        await run(db, TOOLS, member_ctx(tenant), "crm.move_deal", params)


async def test_a_move_breaking_a_stage_rule_is_refused_at_proposal_and_confirmation(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    # The default rules: a deal enters proposal only with an amount above 0.
    deal = await post_deal(client, tenant, amount="0.00")
    params = {"deal_id": deal["id"], "stage": "proposal"}
    before = await row_counts(db)

    with pytest.raises(Unprocessable) as at_proposal:
        await propose(db, TOOLS, member_ctx(tenant), "crm.move_deal", params)
    with pytest.raises(Unprocessable) as at_confirmation:
        await run(db, TOOLS, member_ctx(tenant), "crm.move_deal", params)

    assert rules_of(at_proposal) == rules_of(at_confirmation) == ["proposal.requires.amount"]
    assert "an amount above 0 before it enters proposal" in str(at_proposal.value.errors)
    assert await row_counts(db) == before


async def test_a_lost_deal_needs_its_reason(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant)
    lost = {"deal_id": deal["id"], "stage": "lost"}
    with pytest.raises(Unprocessable) as refused:
        await propose(db, TOOLS, member_ctx(tenant), "crm.move_deal", lost)
    assert rules_of(refused) == ["lost.requires.close_reason"]

    with_reason = {**lost, "close_reason": "Went with a cheaper offer"}
    proposal = await propose(db, TOOLS, member_ctx(tenant), "crm.move_deal", with_reason)
    assert proposal.after["is_closed"] is True
    assert proposal.after["close_reason"] == "Went with a cheaper offer"
    result = await run(db, TOOLS, member_ctx(tenant), "crm.move_deal", with_reason)
    assert (result.value.stage, result.value.close_reason) == ("lost", "Went with a cheaper offer")
    assert str(result.value.close_date) == proposal.after["close_date"]


async def test_a_closed_deal_must_be_reopened_before_it_moves(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact_id = await make_contact(db, tenant, "won@example.com")
    deal = await post_deal(client, tenant, stage="won", contact_id=contact_id)
    with pytest.raises(Conflict, match="reopen it first"):
        await propose(
            db, TOOLS, member_ctx(tenant), "crm.move_deal", {"deal_id": deal["id"], "stage": "lead"}
        )


async def test_another_workspaces_deal_is_404_and_a_viewer_cannot_move_one(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await post_deal(client, other_tenant)
    params = {"deal_id": theirs["id"], "stage": "qualified"}
    with pytest.raises(NotFound, match="deal"):
        await propose(db, TOOLS, member_ctx(tenant), "crm.move_deal", params)
    with pytest.raises(NotFound, match="deal"):
        await run(db, TOOLS, member_ctx(tenant), "crm.move_deal", params)

    ours = await post_deal(client, tenant)
    with pytest.raises(Forbidden, match="crm:write"):
        await run(
            db,
            TOOLS,
            member_ctx(tenant, VIEWER),
            "crm.move_deal",
            {"deal_id": ours["id"], "stage": "qualified"},
        )


async def test_an_unknown_stage_is_422(db: Database, tenant: TenantLogin) -> None:
    with pytest.raises(Unprocessable, match="invalid tool parameters") as refused:
        await propose(
            db, TOOLS, member_ctx(tenant), "crm.move_deal", {"deal_id": "x", "stage": "signed"}
        )
    assert refused.value.errors is not None
    assert refused.value.errors[0]["loc"] == ["params", "stage"]


async def test_a_deal_whose_name_holds_a_number_is_named_by_its_amount_figure(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant, name="Carrow 2027 renewal", amount="12500.50")
    params = {"deal_id": deal["id"], "stage": "lost", "close_reason": "went with a rival"}

    proposal = await propose(db, TOOLS, member_ctx(tenant), "crm.move_deal", params)

    assert proposal.summary == (
        'Move deal "Carrow 2027 renewal" (€12,500.50) from lead to lost (went with a rival)'
    )
    # 2027 is part of the name the amount's label carries; the amount is the figure.
    assert [f.value for f in proposal.figures] == [Decimal("12500.50")]
    assert said_by_figures(proposal)


# --- crm.draft_email ------------------------------------------------------------------


def draft(contact_id: str) -> dict[str, str]:
    return {
        "contact_id": contact_id,
        "subject": "Your renewal",
        "body": "Hello Ada,\n\nyour plan renews next month. Shall we talk?",
    }


async def test_proposing_a_draft_shows_the_email_and_writes_nothing(
    db: Database, tenant: TenantLogin
) -> None:
    contact_id = await make_contact(db, tenant, "ada@example.com", "Ada Lovelace")
    before = await row_counts(db)

    proposal = await propose(db, TOOLS, member_ctx(tenant), "crm.draft_email", draft(contact_id))

    assert await row_counts(db) == before
    assert proposal.before is None
    assert proposal.after["email"] == {
        "to": "ada@example.com",
        "subject": "Your renewal",
        "body": "Hello Ada,\n\nyour plan renews next month. Shall we talk?",
    }
    assert proposal.after["assignee_id"] == tenant.user_id
    assert proposal.summary == (
        'Draft an email to Ada Lovelace <ada@example.com>: "Your renewal" '
        "(kept as a task to review and send; nothing is sent)"
    )
    assert proposal.figures == [] and said_by_figures(proposal)


async def test_a_draft_whose_address_or_subject_holds_numbers_shows_them_in_the_draft(
    db: Database, tenant: TenantLogin
) -> None:
    contact_id = await make_contact(db, tenant, "ada2@example.com", "Ada Lovelace")
    params = {**draft(contact_id), "subject": "Your 2 seats"}

    proposal = await propose(db, TOOLS, member_ctx(tenant), "crm.draft_email", params)

    assert proposal.summary == (
        "Draft an email to Ada Lovelace (subject as shown) "
        "(kept as a task to review and send; nothing is sent)"
    )
    assert said_by_figures(proposal)
    assert proposal.after["email"]["to"] == "ada2@example.com"


async def test_confirming_a_draft_keeps_it_as_a_task_and_sends_nothing(
    db: Database, tenant: TenantLogin
) -> None:
    contact_id = await make_contact(db, tenant, "ada@example.com", "Ada Lovelace")
    before = await row_counts(db)

    result = await run(db, TOOLS, member_ctx(tenant), "crm.draft_email", draft(contact_id))

    task = result.value
    assert isinstance(task, TaskRead)
    assert task.title == "Review and send email to Ada Lovelace: Your renewal"
    assert task.description is not None
    assert task.description.startswith(
        "To: Ada Lovelace <ada@example.com>\nSubject: Your renewal\n\nHello Ada,"
    )
    assert (task.contact_id, task.origin, task.assignee_id, task.remind_at) == (
        contact_id,
        "crm.email_draft",
        tenant.user_id,
        None,
    )
    assert result.records == [task.id]
    after = await row_counts(db)
    assert after["messages"] == before["messages"]  # nothing queued to send
    assert after["tasks"] == before["tasks"] + 1
    assert [e.type for e in await events_about(db, task.id)] == [
        "work.task.created",
        "work.task.assigned",
    ]
    assert [e.action for e in await audit_of(db, task.id)] == ["create"]


async def test_no_draft_for_a_contact_who_asked_not_to_be_contacted(
    db: Database, tenant: TenantLogin
) -> None:
    contact_id = await make_contact(db, tenant, "quiet@example.com", do_not_contact=True)
    with pytest.raises(Unprocessable, match="asked not to be contacted"):
        await propose(db, TOOLS, member_ctx(tenant), "crm.draft_email", draft(contact_id))
    with pytest.raises(Unprocessable, match="asked not to be contacted"):
        await run(db, TOOLS, member_ctx(tenant), "crm.draft_email", draft(contact_id))


async def test_a_draft_to_another_workspaces_contact_is_404(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await make_contact(db, other_tenant, "theirs@example.com")
    with pytest.raises(NotFound, match="contact"):
        await propose(db, TOOLS, member_ctx(tenant), "crm.draft_email", draft(theirs))
    with pytest.raises(Forbidden):
        await run(db, TOOLS, member_ctx(tenant, VIEWER), "crm.draft_email", draft(theirs))
