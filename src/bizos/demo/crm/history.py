"""The state the demo history is built in: the team, the people, the rows and events so
far, and the helpers every step uses (moments in the past, ids that sort by time)."""

from __future__ import annotations

import datetime as dt
import math
import random
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.pagination import PageParams
from bizos.demo.crm import data
from bizos.demo.story import Chronicle
from bizos.modules.crm.models import Company, Contact, Deal, Lead
from bizos.modules.identity import service as identity
from bizos.modules.work.models import Task

DAY = dt.timedelta(days=1)
HISTORY = dt.timedelta(days=365)
OPEN_STAGES = ("lead", "qualified", "proposal", "negotiation")


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def ascii_word(text: str) -> str:
    """``"O'Brien"`` -> ``"OBrien"``, ``"Müller"`` -> ``"Muller"``: safe in an address."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain if ch.isalnum() or ch == ".")


@dataclass(frozen=True, slots=True)
class Rep:
    user_id: str
    name: str
    capacity: int
    territories: list[str]


@dataclass(frozen=True, slots=True)
class Rule:
    """An assignment rule with the team's user ids: one user, or a round-robin pool."""

    name: str
    countries: list[str]
    sources: list[str]
    user_ids: list[str]


@dataclass(frozen=True, slots=True)
class Team:
    owner_id: str
    reps: list[Rep]  # the admins and members who take leads
    rules: list[Rule] = field(default_factory=list)

    def matching_rule(self, country: str, source: str) -> tuple[int, Rule] | None:
        for number, rule in enumerate(self.rules, start=1):
            if (not rule.countries or country in rule.countries) and (
                not rule.sources or source in rule.sources
            ):
                return number, rule
        return None


async def load_team(session: AsyncSession, ctx: Context) -> Team:
    """The tenant's owner, the admins/members who sell (profiles by the demo names) and
    the assignment rules that name only people the tenant has."""
    users = (await identity.list_users(session, ctx, page=PageParams(limit=200))).items
    active = [u for u in users if u.is_active]
    owner = next((u for u in active if u.role == "owner"), None)
    if owner is None:
        raise RuntimeError("the demo tenant has no owner to own its sales history")
    sellers = sorted((u for u in active if u.role in ("admin", "member")), key=lambda u: u.name)
    reps = []
    for user in sellers:
        capacity, territories = data.REP_PROFILES.get(user.name, data.DEFAULT_REP)
        reps.append(Rep(user.id, user.name, capacity, list(territories)))
    by_name = {"owner": owner.id} | {u.name: u.id for u in sellers}
    rules = [
        Rule(name, countries, sources, [by_name[who] for who in people])
        for name, countries, sources, people in data.ASSIGNMENT_RULES
        if all(who in by_name for who in people)
    ]
    return Team(owner_id=owner.id, reps=reps, rules=rules)


@dataclass(slots=True)
class Buyer:
    """A business Northwind sells to; ``row`` is None for a one-person business that
    writes from a personal address (no company record, nothing to enrich)."""

    row: Company | None
    name: str
    segment: data.Segment
    employees: int
    country: str
    city: str
    phone_pattern: str
    domain: str | None
    engaged: bool = False  # its people show up in the tracked activity


@dataclass(slots=True)
class Person:
    row: Contact
    buyer: Buyer
    first_name: str
    lead_times: list[dt.datetime] = field(default_factory=list)
    leads: list[Lead] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    touches: list[dt.datetime] = field(default_factory=list)  # calls, emails, meetings


class History(Chronicle):
    """The sales history's rows and events, built in memory in the order things
    happened, with the team and the people it is about."""

    def __init__(
        self,
        rng: random.Random,
        now: dt.datetime,
        team: Team,
        activity: dict[str, list[tuple[dt.datetime, str]]],
    ) -> None:
        super().__init__(rng, now)
        self.team = team
        # Tracked engagement by contact email: (when, event type), oldest first.
        self.activity = activity
        self.buyers: list[Buyer] = []
        self.people: list[Person] = []
        self.tasks: list[Task] = []  # candidates; a selection becomes rows
        self.round_robin = 0
        self.phone_serial = 0

    def after(self, at: dt.datetime, low_days: float, high_days: float) -> dt.datetime:
        return at + dt.timedelta(days=self.rng.uniform(low_days, high_days))

    def past(self, days_back: float) -> dt.datetime:
        """A moment about ``days_back`` days ago. Only offsets from ``now`` are drawn, never
        clock times, so the same seed gives the same history whenever it is seeded."""
        return self.now - dt.timedelta(days=days_back, minutes=self.rng.randint(5, 600))
