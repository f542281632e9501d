"""What the next-best-action answer looks like."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

Action = Literal["follow_up", "call", "first_call", "complete_task", "check_in"]


class Related(BaseModel):
    type: str
    id: str


class NextAction(BaseModel):
    action: Action
    title: str
    reason: str
    priority: int
    related: Related


class Suppressed(BaseModel):
    action: Action
    related: Related
    reason: str


class NextActions(BaseModel):
    contact_id: str
    do_not_contact: bool
    generated_at: dt.datetime
    items: list[NextAction]
    suppressed: list[Suppressed]
