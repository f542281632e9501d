"""The copilot's ``work.create_task``: proposed with the task it would create (writing
nothing), created once confirmed through the tasks service with its events and audit row,
refused as the tasks API refuses (another tenant's record, an inactive assignee, bad
parameters) and never for a caller without the write scope."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from bizos.core.db import Database
from bizos.core.errors import Forbidden, Unprocessable
from bizos.modules.work.schemas import TaskRead
from bizos.modules.work.tools import TOOLS
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
from tests.modules.work.helpers import add_member, create_contact, create_deal

DUE = dt.date(2031, 3, 14)


async def test_proposing_a_task_shows_it_and_writes_nothing(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deal_id = await create_deal(client, tenant, "Harbour renewal")
    params = {
        "title": "Call Ada about the renewal",
        "due_on": DUE.isoformat(),
        "related_type": "deal",
        "related_id": deal_id,
        "notes": "She asked for the new prices.",
    }
    before = await row_counts(db)

    proposal = await propose(db, TOOLS, member_ctx(tenant), "work.create_task", params)

    assert await row_counts(db) == before
    assert proposal.before is None
    assert proposal.after == {
        "title": "Call Ada about the renewal",
        "description": "She asked for the new prices.",
        "assignee_id": tenant.user_id,
        "contact_id": None,
        "due_at": "2031-03-14T17:00:00+00:00",
        "priority": "normal",
        "status": "open",
        "related": {"type": "deal", "id": deal_id},
    }
    # The record is named, never by its id; the only number written is a date.
    assert proposal.summary == (
        'Create task "Call Ada about the renewal" for you, due 2031-03-14, '
        'about deal "Harbour renewal"'
    )
    assert proposal.figures == [] and said_by_figures(proposal)


async def test_a_task_about_a_contact_names_the_contact(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact_id = await create_contact(client, tenant, "Aisha")
    params = {"title": "Call Aisha", "related_type": "contact", "related_id": contact_id}

    proposal = await propose(db, TOOLS, member_ctx(tenant), "work.create_task", params)

    assert proposal.summary == 'Create task "Call Aisha" for you, about contact "Aisha"'
    assert contact_id not in proposal.summary and said_by_figures(proposal)


async def test_numbers_in_a_title_or_a_name_are_left_to_the_task_shown(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    # A task has no figures, so a number in its title or its record's name is not
    # written in the summary: the task itself (``after``) shows them.
    deal_id = await create_deal(client, tenant, "Harbour 2027 renewal")
    params = {
        "title": "Send the 12 seat quote",
        "due_on": DUE.isoformat(),
        "related_type": "deal",
        "related_id": deal_id,
    }

    proposal = await propose(db, TOOLS, member_ctx(tenant), "work.create_task", params)

    assert proposal.summary == (
        "Create a task (its title as shown) for you, due 2031-03-14, about the deal"
    )
    assert said_by_figures(proposal)
    assert proposal.after["title"] == "Send the 12 seat quote"


async def test_confirming_creates_the_task_once_with_its_event_and_audit_row(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact_id = await create_contact(client, tenant, "Ada")
    params = {"title": "Send Ada the quote", "related_type": "contact", "related_id": contact_id}
    before = await row_counts(db)

    result = await run(db, TOOLS, member_ctx(tenant), "work.create_task", params)

    task = result.value
    assert isinstance(task, TaskRead)
    assert (task.title, task.assignee_id, task.contact_id, task.origin) == (
        "Send Ada the quote",
        tenant.user_id,
        contact_id,
        "copilot",
    )
    assert result.records == [task.id]
    after = await row_counts(db)
    assert after["tasks"] == before["tasks"] + 1
    assert [e.type for e in await events_about(db, task.id)] == [
        "work.task.created",
        "work.task.assigned",
    ]
    [entry] = await audit_of(db, task.id)
    assert (entry.action, entry.resource_type, entry.actor_id) == (
        "create",
        "tasks",
        tenant.user_id,
    )


async def test_a_task_about_another_workspaces_deal_is_refused(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await create_deal(client, other_tenant, "Their deal")
    params = {"title": "Peek", "related_type": "deal", "related_id": theirs}
    before = await row_counts(db)

    # As the tasks API answers a record the workspace lacks: 422 naming the field.
    with pytest.raises(Unprocessable, match="no such deal"):
        await propose(db, TOOLS, member_ctx(tenant), "work.create_task", params)
    with pytest.raises(Unprocessable, match="no such deal"):
        await run(db, TOOLS, member_ctx(tenant), "work.create_task", params)
    assert await row_counts(db) == before


async def test_an_assignee_from_another_workspace_is_refused(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    params = {"title": "Call back", "assignee_id": other_tenant.user_id}
    with pytest.raises(Unprocessable, match="active user"):
        await propose(db, TOOLS, member_ctx(tenant), "work.create_task", params)


async def test_a_task_for_a_teammate_names_them(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    max_ = await add_member(client, tenant, "member", name="Max")
    proposal = await propose(
        db, TOOLS, member_ctx(tenant), "work.create_task", {"title": "Ship", "assignee_id": max_.id}
    )
    assert proposal.summary == 'Create task "Ship" for Max' and said_by_figures(proposal)
    assert proposal.after["assignee_id"] == max_.id


async def test_a_viewer_cannot_confirm_a_task(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    before = await row_counts(db)
    with pytest.raises(Forbidden, match="crm:write"):
        await run(db, TOOLS, member_ctx(tenant, VIEWER), "work.create_task", {"title": "Nope"})
    assert await row_counts(db) == before


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x", "due_on": "next friday"}, "due_on"),
        ({"title": "x", "related_type": "deal"}, ""),
        ({"title": "x", "colour": "red"}, "colour"),
    ],
)
async def test_bad_task_parameters_are_422_naming_the_field(
    db: Database, tenant: TenantLogin, params: dict[str, str], field: str
) -> None:
    with pytest.raises(Unprocessable) as refused:
        await run(db, TOOLS, member_ctx(tenant), "work.create_task", params)
    locs = [".".join(e["loc"]) for e in refused.value.errors or []]
    assert any(loc.startswith(f"params.{field}".rstrip(".")) for loc in locs), locs
