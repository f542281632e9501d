"""Requests to change something, in owners' words: "create a task to call Dana tomorrow",
"add a note to the Acme deal: …", "move the Acme deal to negotiation", "draft an email to
Dana about …", "send a reminder for invoice INV-0042". Each gives an action kind and the
arguments its tool needs (or what is missing)."""

# ruff: noqa: E501  (pattern tables and phrasing tables read best one entry a line)

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from bizos.modules.copilot.dates import (
    ONE,
    WEEKDAYS,
    Day,
    add_months,
    add_years,
    day_alternatives,
    day_from,
    fill,
    number,
)
from bizos.modules.copilot.entities import RESERVED
from bizos.modules.copilot.matching import find_named, fold
from bizos.modules.copilot.vocabulary import Named, Vocabulary

_I = re.IGNORECASE
_POLITE = r"^(?:please\s+|can you\s+|could you\s+|would you\s+|pls\s+|i want to\s+|i'd like to\s+|let's\s+)*"
TASK = re.compile(
    _POLITE + r"(?:create|add|make|set up|set|schedule|log|open|new)\s+(?:me\s+)?(?:a\s+|an\s+)?(?:new\s+)?"
    r"(?:task|to-?do|follow[- ]?up|reminder)\b(?!\s+for\s+invoice)\s*(?:to|for|:|-|that|about|called|saying)?\s*(?P<what>.*)$"
    r"|" + _POLITE + r"remind me (?:to\s+)?(?P<what2>.+)$"
    r"|" + _POLITE + r"(?:schedule|set up|book|arrange|plan|put in)\s+(?:a\s+|an\s+)?(?P<what3>(?:call|meeting|visit|demo|tasting|catch-up|check-in)\b.*)$",
    _I,
)  # fmt: skip
NOTE = re.compile(
    _POLITE + r"(?:add|log|put|write|leave|attach|make|record|save)\s+(?:a\s+|this\s+)?note\s+"
    r"(?:to|on|for|about|against|in)\s+(?:the\s+)?(?P<target>.+?)\s*(?::|;|\s-\s|\s\u2013\s|\s+saying\s+|\s+that\s+says\s+|\s+that\s+)\s*(?P<body>.+)$"
    r"|^note\s+(?:on|for)\s+(?:the\s+)?(?P<target2>.+?)\s*:\s*(?P<body2>.+)$",
    _I,
)  # fmt: skip
MOVE = re.compile(
    _POLITE + r"(?:move|change|set|update|advance|push|progress|put|mark|bump|shift)\s+(?:the\s+)?(?P<target>.+?)"
    r"(?:\s+(?:deal|opportunity))?\s+(?:to|into|as|at|in)\s+(?:the\s+)?(?:stage\s+)?(?P<stage>[\w -]+?)(?:\s+stage)?\s*[.!]?$"
    r"|^we\s+(?P<stage2>won|lost)\s+(?:the\s+)?(?P<target2>.+?)(?:\s+deal)?\s*[.!]?$",
    _I,
)  # fmt: skip
EMAIL = re.compile(
    _POLITE + r"(?:draft|write|compose|prepare|send)\s+(?:an?\s+|the\s+)?(?:e-?mail|message|reply|note|letter)\s+"
    r"(?:to|for)\s+(?P<who>.+?)(?:\s+(?:about|regarding|re|on|to say|saying|asking(?: about)?|that|to)\s*:?\s+(?P<about>.+))?\s*[.!?]?$"
    r"|" + _POLITE + r"e-?mail\s+(?P<who2>.+?)\s+(?:about|regarding|re|to say|saying|asking)\s*:?\s+(?P<about2>.+?)\s*[.!?]?$"
    r"|" + _POLITE + r"(?:send|write|draft|drop)\s+(?P<who3>[\w'. -]+?)\s+an?\s+(?:e-?mail|message|note|line)(?:\s+(?:about|regarding|re|on|to say|saying|asking(?: about)?)\s*:?\s+(?P<about3>.+?))?\s*[.!?]?$",
    _I,
)  # fmt: skip
DUNNING = re.compile(
    r"\b(?:send|chase|issue|email|nudge|remind)\b.{0,40}?(?:\binvoice\s*#?\s*|\b)(?P<inv>inv-?\d+|(?<=invoice )#?\d+|(?<=invoice #)\d+)"
    r"|\b(?:dunning|payment reminder|reminder)\b.{0,30}?(?P<inv2>inv-?\d+)",
    _I,
)
STAGE_WORDS = {
    "negotiation": "negotiation", "negotiations": "negotiation", "negotiating": "negotiation",
    "proposal": "proposal", "proposal sent": "proposal", "quote": "proposal", "quoted": "proposal",
    "qualified": "qualified", "qualify": "qualified", "lead": "lead", "new": "lead",
    "won": "won", "closed won": "won", "closed-won": "won", "win": "won", "lost": "lost",
    "closed lost": "lost", "closed-lost": "lost", "dead": "lost",
}  # fmt: skip


def invoice_number(raw: str) -> str:
    digits = re.sub(r"\D", "", raw)
    return f"INV-{digits.zfill(4)}"


def stage_named(text: str, stages: list[str]) -> str | None:
    words = fold(text)
    if words in stages:
        return words
    if words in STAGE_WORDS and STAGE_WORDS[words] in stages:
        return STAGE_WORDS[words]
    for stage in stages:
        if stage in words.split():
            return stage
    return None


def command(raw: str, vocab: Vocabulary, today: dt.date) -> dict[str, Any] | None:
    """The action asked for in ``raw`` (original case), or None when it asks for none:
    ``{kind, args, missing?}``."""
    text = raw.strip()
    if match := DUNNING.search(text):
        number = invoice_number(match.group("inv") or match.group("inv2"))
        return {"kind": "dunning", "args": {"invoice_number": number}}
    if match := NOTE.match(text):
        target = match.group("target") or match.group("target2")
        body = (match.group("body") or match.group("body2")).strip()
        return _note(target, body, vocab)
    if match := EMAIL.match(text):
        who = match.group("who") or match.group("who2") or match.group("who3")
        about = match.group("about") or match.group("about2") or match.group("about3") or ""
        return _email(who, about, vocab)
    if match := MOVE.match(text):
        stage_text = match.group("stage") or match.group("stage2")
        stage = stage_named(stage_text, vocab.stages)
        if stage is not None:
            target = _strip_deal(match.group("target") or match.group("target2"))
            return {"kind": "deal.move", "args": {"deal_query": target, "stage": stage}}
    if match := TASK.match(text):
        what = match.group("what") or match.group("what2") or match.group("what3") or ""
        return _task(what, vocab, today)
    return None


def _strip_deal(target: str) -> str:
    return re.sub(r"^(?:the|our|my)\s+|\s+(?:deal|opportunity)$|'s$", "", target.strip(), flags=_I)


def _first(named: list[Named], text: str) -> Named | None:
    matches = find_named(fold(text).split(), named, reserved=RESERVED)
    return matches[0].item if matches else None


def _task(what: str, vocab: Vocabulary, today: dt.date) -> dict[str, Any]:
    assignee = None
    if match := re.search(
        r"\s*\b(?:and\s+)?(?:assign(?:ed)?|give)\s+(?:it\s+)?to\s+(?P<who>[\w'. -]+?)\s*$", what, _I
    ):
        assignee = _first(vocab.users, match.group("who"))
        if assignee is not None:
            what = what[: match.start()]
    due, span = find_due(what.lower(), today)
    title = what
    if span is not None:
        title = (what[: span[0]] + what[span[1] :]).strip()
    title = re.sub(r"\s+", " ", title).strip(" .,!?:;-")
    title = title[:1].upper() + title[1:]
    args: dict[str, Any] = {"title": title[:200] or "Follow up"}
    if due is not None:
        args["due_on"] = due.isoformat()
    if assignee is not None:
        args["assignee_id"] = assignee.id
    contact = _first(vocab.contacts, what)
    company = _first(vocab.companies, what)
    if contact is not None:
        args.update(related_type="contact", related_id=contact.id)
    elif company is not None:
        args.update(related_type="company", related_id=company.id)
    return {"kind": "task.create", "args": args}


def _note(target: str, body: str, vocab: Vocabulary) -> dict[str, Any]:
    args: dict[str, Any] = {"body": body}
    if re.search(r"\b(?:deal|opportunity)\b", target, _I):
        args.update(record_type="deal", deal_query=_strip_deal(target))
        return {"kind": "note.add", "args": args}
    contact = _first(vocab.contacts, target)
    company = _first(vocab.companies, target)
    if company is not None and (contact is None or "company" in target.lower()):
        args.update(record_type="company", record_id=company.id, record_name=company.name)
    elif contact is not None:
        args.update(record_type="contact", record_id=contact.id, record_name=contact.name)
    else:
        return {
            "kind": "note.add",
            "args": args,
            "missing": f"no contact or company named {target!r}",
        }
    return {"kind": "note.add", "args": args}


def _email(who: str, about: str, vocab: Vocabulary) -> dict[str, Any]:
    contact = _first(vocab.contacts, who)
    about = about.strip(" .!?")
    subject = (about[:1].upper() + about[1:])[:150] if about else "Following up"
    if contact is None:
        return {
            "kind": "email.draft",
            "args": {"subject": subject},
            "missing": f"no contact named {who.strip()!r}",
        }
    first = contact.name.split()[0]
    topic = about or "our conversation"
    body = f"Hi {first},\n\nI wanted to get in touch about {topic}.\n\nBest regards,"
    args = {
        "contact_id": contact.id,
        "contact_name": contact.name,
        "subject": subject,
        "body": body,
    }
    return {"kind": "email.draft", "args": args}


# --- due dates (actions look forward) ------------------------------------------------

DueHandler = Callable[[dict[str, Any], Day], Day]
_DUE: list[tuple[str, DueHandler]] = [
    (r"\btomorrow\b", lambda g, t: t + ONE),
    (r"\btoday\b|\btonight\b|\bend of (?:the )?day\b|\beod\b", lambda g, t: t),
    (r"\bday after tomorrow\b", lambda g, t: t + 2 * ONE),
    (r"\bin\s+{NUM:n}\s+days?\b", lambda g, t: t + dt.timedelta(days=number(str(g["n"])))),
    (r"\bin\s+{NUM:n}\s+weeks?\b", lambda g, t: t + dt.timedelta(days=7 * number(str(g["n"])))),
    (r"\bnext\s+week\b", lambda g, t: t + dt.timedelta(days=7 - t.weekday())),
    (r"\b(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?week\b", lambda g, t: t + dt.timedelta(days=(4 - t.weekday()) % 7)),
    (r"\b(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?month\b", lambda g, t: add_months(t.replace(day=1), 1) - ONE),
    (
        r"\b(?:(?P<next>next)\s+|on\s+|by\s+|this\s+)?(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
        lambda g, t: t + dt.timedelta(days=(WEEKDAYS[str(g["wd"])] - t.weekday()) % 7 or 7),
    ),
]  # fmt: skip
DUE_COMPILED = [(re.compile(fill(p)), h) for p, h in _DUE]


def find_due(text: str, today: Day) -> tuple[Day | None, tuple[int, int] | None]:
    """The day a task is due, looking forward from ``today``, and where it was said."""
    for regex, handler in DUE_COMPILED:
        match = regex.search(text)
        if match:
            return handler(match.groupdict(), today), match.span()
    match = re.search(r"\b(?:on|by)\s+" + fill(day_alternatives("1")), text)
    if match:
        groups = match.groupdict()
        day = day_from(groups, today, "1")
        if day is not None and day < today and not (groups.get("y1") or groups.get("y1b")):
            day = add_years(day, 1)
        return day, match.span()
    return None, None
