"""The work around the sales: tasks from the stage templates and for hot leads (done,
open, some overdue), customer check-ins, notes on contacts, and the reps' settings."""

from __future__ import annotations

import datetime as dt

from bizos.core.events import payload
from bizos.demo.crm import data
from bizos.demo.crm.history import DAY, HISTORY, History, Person
from bizos.demo.story import historical_id, stamped
from bizos.modules.crm.models import Deal, Lead, Note, SalesRep
from bizos.modules.work.models import Task

TASKS = 120
NOTES = 100


def _task(
    h: History,
    person: Person,
    *,
    title: str,
    priority: str,
    assignee: str | None,
    created: dt.datetime,
    due: dt.datetime,
    done_at: dt.datetime | None,
    related: tuple[str, str],
    origin: str,
    cancelled: bool = False,
) -> None:
    """A task as it stands now: done (or cancelled) at ``done_at`` if that has passed."""
    if created >= h.now:
        return
    status, completed = "open", None
    if done_at is not None and done_at < h.now:
        status, completed = ("cancelled", None) if cancelled else ("done", done_at)
    elif h.rng.random() < 0.2:
        status = "in_progress"
    h.tasks.append(
        Task(
            id=historical_id(created),
            title=title[:300],
            assignee_id=assignee,
            priority=priority,
            status=status,
            due_at=due,
            remind_at=due,
            # Reminders of what fell due before today went out back then.
            reminded_at=due if due < h.now else None,
            completed_at=completed,
            related_type=related[0],
            related_id=related[1],
            contact_id=person.row.id,
            origin=origin,
            created_at=created,
            updated_at=done_at if done_at is not None and status != "open" else created,
        )
    )


def lead_tasks(
    h: History, person: Person, lead: Lead, *, hot: bool, worked_at: dt.datetime
) -> None:
    """A hot lead gets a same-day reply task; some others a first call."""
    assigned = lead.assigned_at or lead.created_at
    for origin, title, priority in data.LEAD_TASKS:
        if (origin == "lead.hot") != hot or (not hot and h.rng.random() > 0.35):
            continue
        _task(
            h,
            person,
            title=title.format(name=lead.name),
            priority=priority,
            assignee=lead.owner_id,
            created=assigned + dt.timedelta(seconds=1),
            due=assigned + (dt.timedelta(hours=4) if hot else DAY),
            done_at=worked_at,
            related=("lead", lead.id),
            origin=origin,
        )


def stage_task(
    h: History,
    person: Person,
    deal: Deal,
    stage: str,
    *,
    left_at: dt.datetime | None,
    next_stage: str | None,
) -> None:
    """The template task of ``stage``: done by the time the deal moved on (often dropped
    when it was lost), still open while the deal sits in the stage."""
    if stage not in data.STAGE_TASKS:
        return
    origin, title, priority = data.STAGE_TASKS[stage]
    created = deal.stage_entered_at + dt.timedelta(seconds=1)
    due = h.after(created, 1, 4)
    done_at = None
    if left_at is not None:
        done_at = min(left_at, h.after(created, 0.1, 6))
    else:  # the owner has pushed the due date along while the deal waited
        due = max(due, h.after(h.now, -6, 7))
    _task(
        h,
        person,
        title=title.format(company=person.buyer.name),
        priority=priority,
        assignee=deal.owner_id,
        created=created,
        due=due,
        done_at=done_at,
        related=("deal", deal.id),
        origin=origin,
        cancelled=next_stage == "lost" and h.rng.random() < 0.5,
    )


def customer_task(h: History, person: Person, deal: Deal, won_at: dt.datetime) -> None:
    if h.rng.random() > 0.5:
        return
    title, priority = h.rng.choice(data.CUSTOMER_TASKS)
    due = h.after(won_at, 20, 90)
    _task(
        h,
        person,
        title=title.format(company=person.buyer.name),
        priority=priority,
        assignee=deal.owner_id,
        created=won_at + dt.timedelta(seconds=2),
        due=due,
        done_at=h.after(due, -3, 6),  # still open only if it falls due about now
        related=("deal", deal.id),
        origin="deal.won",
    )


def finish_tasks(h: History, count: int = TASKS) -> None:
    """About ``count`` tasks become rows: the open ones worth showing and a sample of
    the finished, each with its events."""
    still_open = [t for t in h.tasks if t.status in ("open", "in_progress")]
    finished = [t for t in h.tasks if t.status not in ("open", "in_progress")]
    keep = still_open[: count // 2]
    keep += h.rng.sample(finished, min(len(finished), count - len(keep)))
    for task in sorted(keep, key=lambda t: t.created_at):
        related = {"type": task.related_type, "id": task.related_id}
        h.add(
            task,
            "work.task.created",
            "task",
            task.created_at,
            actor_id=task.assignee_id,
            **payload(task, "title", "assignee_id", "priority", "due_at"),
            related=related,
            **payload(task, "contact_id", "origin"),
        )
        if task.completed_at is not None:
            h.event(
                "work.task.completed",
                "task",
                task.id,
                task.completed_at,
                actor_id=task.assignee_id,
                completed_at=task.completed_at.isoformat(),
                related=related,
                contact_id=task.contact_id,
            )


def build_notes(h: History, count: int = NOTES) -> None:
    """What the reps wrote down about the people they talk to."""
    rng = h.rng
    candidates = [p for p in h.people if p.leads]
    for person in rng.sample(candidates, min(count, len(candidates))):
        age = (h.now - person.row.created_at).total_seconds() / 86400
        at = min(h.after(person.row.created_at, age * 0.05, age * 0.9), h.now)
        body = rng.choice(data.NOTES).format(
            machine=rng.choice(data.MACHINES),
            kg=rng.choice([6, 10, 15, 25, 40]),
            first=person.first_name,
            q=rng.randint(1, 4),
        )
        author = person.leads[0].owner_id or h.team.owner_id
        note = Note(
            id=historical_id(at),
            subject_type="contact",
            subject_id=person.row.id,
            body=body,
            author_id=author,
            **stamped(at),
        )
        h.rows.append(note)
        person.touches.append(at)
        h.event(
            "crm.note.created",
            "note",
            note.id,
            at,
            actor_id=author,
            subject_type="contact",
            subject_id=person.row.id,
        )


def build_reps(h: History) -> None:
    since = h.now - HISTORY - 30 * DAY
    for rep in h.team.reps:
        h.rows.append(
            SalesRep(
                id=historical_id(since),
                user_id=rep.user_id,
                available=True,
                capacity=rep.capacity,
                territories=rep.territories,
                sources=[],
                **stamped(since),
            )
        )
