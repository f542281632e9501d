"""Request and response models of the tasks and task templates API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
)

from bizos.core.fields import Moment, omit_null, refuse_null

Priority = Literal["low", "normal", "high", "urgent"]
Status = Literal["open", "in_progress", "done", "cancelled"]
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
STATUSES: tuple[str, ...] = ("open", "in_progress", "done", "cancelled")
OPEN_STATUSES: tuple[str, ...] = ("open", "in_progress")

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Description = Annotated[str, StringConstraints(max_length=20_000)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]
# A trigger names what happened: "deal.stage:proposal", "lead.hot", "ticket.created".
Trigger = Annotated[
    str,
    StringConstraints(
        min_length=3, max_length=60, pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(:[A-Za-z0-9_.-]+)?$"
    ),
]


class TaskRelated(BaseModel):
    """The record a task is about: a contact, lead, deal, order, ticket..."""

    model_config = ConfigDict(extra="forbid")
    type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,19}$")]
    id: Id


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title
    description: Description | None = None
    assignee_id: Id | None = Field(
        default=None, description="An active user of the workspace; default: the caller."
    )
    due_at: Moment | None = None
    priority: Priority = "normal"
    remind_at: Moment | None = Field(
        default=None,
        description="When to remind the assignee (in the app and by email); default: due_at. "
        "Send null for no reminder.",
    )
    related: TaskRelated | None = None
    contact_id: Id | None = None


class TaskUpdate(BaseModel):
    """A partial update: only the fields sent change; null clears a clearable field."""

    model_config = ConfigDict(extra="forbid")
    title: Title | None = Field(default=None, json_schema_extra=omit_null)
    description: Description | None = None
    assignee_id: Id | None = None
    due_at: Moment | None = None
    priority: Priority | None = Field(default=None, json_schema_extra=omit_null)
    status: Status | None = Field(default=None, json_schema_extra=omit_null)
    remind_at: Moment | None = None
    related: TaskRelated | None = None
    contact_id: Id | None = None

    _not_null = field_validator("title", "priority", "status")(refuse_null)


class TaskRead(BaseModel):
    id: str
    title: str
    description: str | None
    assignee_id: str | None
    created_by: str | None
    priority: Priority
    status: Status
    due_at: dt.datetime | None
    remind_at: dt.datetime | None
    reminded_at: dt.datetime | None
    overdue: bool
    escalated_at: dt.datetime | None
    escalated_to: str | None
    completed_at: dt.datetime | None
    related: TaskRelated | None
    contact_id: str | None
    template_id: str | None
    origin: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    # The record's columns by their old names, for callers in other modules.
    @property
    def related_type(self) -> str | None:
        return self.related.type if self.related else None

    @property
    def related_id(self) -> str | None:
        return self.related.id if self.related else None


class TaskTemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trigger: Trigger = Field(description='What creates the task, e.g. "deal.stage:proposal".')
    title: Title = Field(description="May use {placeholders} the trigger fills in.")
    description: Description | None = None
    priority: Priority = "normal"
    due_in_hours: StrictInt = Field(default=24, ge=0, le=24 * 366)
    assign_to: Id = Field(
        default="owner", description='"owner" (the record\'s owner) or a user id.'
    )
    active: bool = True


class TaskTemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trigger: Trigger | None = Field(default=None, json_schema_extra=omit_null)
    title: Title | None = Field(default=None, json_schema_extra=omit_null)
    description: Description | None = None
    priority: Priority | None = Field(default=None, json_schema_extra=omit_null)
    due_in_hours: StrictInt | None = Field(
        default=None, ge=0, le=24 * 366, json_schema_extra=omit_null
    )
    assign_to: Id | None = Field(default=None, json_schema_extra=omit_null)
    active: bool | None = Field(default=None, json_schema_extra=omit_null)

    _not_null = field_validator(
        "trigger", "title", "priority", "due_in_hours", "assign_to", "active"
    )(refuse_null)


class TaskFilter(BaseModel):
    """What the task list narrows to; a filter left out keeps every task."""

    assignee_id: str | None = Field(default=None, max_length=36)
    status: list[Status] | None = Field(default=None, description="Repeat for several.")
    priority: list[Priority] | None = Field(default=None, description="Repeat for several.")
    related_type: str | None = Field(default=None, max_length=20)
    related_id: str | None = Field(default=None, max_length=36)
    contact_id: str | None = Field(default=None, max_length=36)
    due_before: Moment | None = None
    overdue: bool | None = None
    mine: bool = False


class TaskTemplateFilter(BaseModel):
    """What the template list narrows to; a filter left out (None) keeps every template."""

    trigger: str | None = Field(default=None, max_length=60)
    active: bool | None = None


class TaskTemplateRead(BaseModel):
    id: str
    trigger: str
    title: str
    description: str | None
    priority: Priority
    due_in_hours: int
    assign_to: str
    active: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
