"""Lead assignment: who owns a new lead. The only writer of sales reps, of the
``assignment`` section of the CRM settings, and of a lead's owner when rules place it.

Strategies (per tenant, ``AssignmentConfig``): ``round_robin`` over the team,
``load_balanced`` (fewest open leads: status new or working), or ordered ``rules``
(territory, source, score band) that name a user or a pool, with a fallback strategy
for leads no rule places. A rep who is unavailable, away, at capacity, or whose
territories/sources exclude the lead is skipped; when nobody can take the lead it goes
to the workspace owner and the reason says so.

Every decision happens under the tenant's settings row lock (``load_settings(...,
for_update=True)``), so concurrent assignments see each other's round-robin position
and open-lead counts: twenty leads over four reps give each rep five.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.core.ids import new_id
from bizos.core.pagination import PageParams, take_page
from bizos.core.versions import check_version
from bizos.modules.crm.assignment.schemas import (
    AssignmentConfig,
    AssignmentRule,
    PoolStrategy,
    RepRead,
    RepUpdate,
)
from bizos.modules.crm.models import Company, Contact, CrmSettings, Lead, SalesRep
from bizos.modules.crm.normalize import normalize_source
from bizos.modules.crm.records import record_event, record_new_event, tenant_row
from bizos.modules.crm.scoring.features import lead_country
from bizos.modules.crm.scoring.service import notify_owner_if_hot
from bizos.modules.crm.settings import load_settings
from bizos.modules.identity import service as identity_service
from bizos.modules.identity.schemas import UserRead

log = structlog.get_logger("bizos.crm.assignment")

WORKING_ROLES = ("owner", "admin", "member")
OPEN_LEAD_STATUSES = ("new", "working")
_CONFIG_KEYS = frozenset(AssignmentConfig.model_fields)
_REASON_CHARS = 300


# --- the team ----------------------------------------------------------------------------


async def _active_users(session: AsyncSession, ctx: Context) -> dict[str, UserRead]:
    """Every active user of the tenant, by id (in id order)."""
    users: dict[str, UserRead] = {}
    after: str | None = None
    while True:
        page = await identity_service.list_users(
            session, ctx, page=PageParams(limit=200, after=after), is_active=True
        )
        users.update((u.id, u) for u in page.items)
        if page.next_cursor is None or not page.items:
            return users
        after = page.items[-1].id


def _workers(users: dict[str, UserRead]) -> list[str]:
    return sorted(uid for uid, u in users.items() if u.role in WORKING_ROLES)


async def _reps(
    session: AsyncSession, user_ids: Sequence[str] | None = None
) -> dict[str, SalesRep]:
    query = sa.select(SalesRep)
    if user_ids is not None:
        query = query.where(SalesRep.user_id.in_(user_ids))
    return {r.user_id: r for r in await session.scalars(query)}


async def _open_leads(session: AsyncSession, *, excluding: str | None = None) -> dict[str, int]:
    query = (
        sa.select(Lead.owner_id, sa.func.count())
        .where(Lead.status.in_(OPEN_LEAD_STATUSES), Lead.owner_id.is_not(None))
        .group_by(Lead.owner_id)
    )
    if excluding is not None:
        query = query.where(Lead.id != excluding)
    return {owner: int(n) for owner, n in (await session.execute(query)).all() if owner}


# --- the decision ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeadFacts:
    country: str | None
    source: str
    score: int | None


def availability(rep: SalesRep | None, open_leads: int, now: dt.datetime) -> str | None:
    """Why the rep takes no leads at all right now (unavailable, away, full), or None."""
    if rep is None:
        return None
    if not rep.available:
        return "unavailable"
    if rep.away_until is not None and rep.away_until > now:
        return f"away until {rep.away_until:%Y-%m-%d %H:%M}"
    if rep.capacity is not None and open_leads >= rep.capacity:
        return f"at capacity ({open_leads}/{rep.capacity})"
    return None


@dataclass(slots=True)
class Team:
    users: dict[str, UserRead]
    reps: dict[str, SalesRep]
    open_leads: dict[str, int]
    now: dt.datetime

    def refusal(self, user_id: str, facts: LeadFacts) -> str | None:
        """Why ``user_id`` cannot take this lead now, or None if they can."""
        user = self.users.get(user_id)
        if user is None or user.role not in WORKING_ROLES:
            return "not an active team member"
        rep = self.reps.get(user_id)
        if rep is None:
            return None
        busy = availability(rep, self.open_leads.get(user_id, 0), self.now)
        if busy is not None:
            return busy
        if rep.territories and facts.country not in rep.territories:
            return f"territory {facts.country or 'unknown'} not theirs"
        if rep.sources and facts.source not in rep.sources:
            return f"source {facts.source} not theirs"
        return None


@dataclass(slots=True)
class Pick:
    user_id: str | None
    position: int
    refused: dict[str, str] = field(default_factory=dict)


def pick(
    pool: Sequence[str], strategy: PoolStrategy, position: int, team: Team, facts: LeadFacts
) -> Pick:
    """Choose from ``pool`` starting the rotation at ``position``: the first who can take
    the lead (round robin) or the one with fewest open leads, ties in rotation order
    (load balanced). The returned position is just past the chosen one."""
    n = len(pool)
    refused: dict[str, str] = {}
    able: list[tuple[int, str]] = []
    for k in range(n):
        user_id = pool[(position + k) % n]
        why = team.refusal(user_id, facts)
        if why is None:
            able.append((k, user_id))
            if strategy == "round_robin":
                break
        else:
            refused[user_id] = why
    if not able:
        return Pick(None, position, refused)
    k, user_id = min(able, key=lambda a: (team.open_leads.get(a[1], 0), a[0]))
    return Pick(user_id, position + k + 1, refused)


def matches(rule: AssignmentRule, facts: LeadFacts) -> bool:
    m = rule.match
    if m.countries and facts.country not in m.countries:
        return False
    if m.sources and facts.source not in m.sources:
        return False
    if m.score_min is None and m.score_max is None:
        return True
    if facts.score is None:
        return False
    low = m.score_min if m.score_min is not None else 0
    high = m.score_max if m.score_max is not None else 100
    return low <= facts.score <= high


def _pool_key(pool: Sequence[str]) -> str:
    return hashlib.sha256(",".join(sorted(pool)).encode()).hexdigest()[:16]


def _strategy_words(strategy: str) -> str:
    return {"round_robin": "round robin", "load_balanced": "fewest open leads"}[strategy]


def _refusals(refused: dict[str, str], users: dict[str, UserRead]) -> str:
    return ", ".join(
        f"{users[u].name if u in users else u}: {why}" for u, why in list(refused.items())[:5]
    )


@dataclass(slots=True)
class Decision:
    owner_id: str | None
    reason: str
    strategy: str
    rule: str | None = None
    fell_back_to_owner: bool = False


class Assigner:
    """One assignment under the settings lock: reads and advances rotation positions."""

    def __init__(self, settings: CrmSettings, config: AssignmentConfig, team: Team) -> None:
        self.settings = settings
        self.config = config
        self.team = team
        self.positions: dict[str, int] = dict((settings.assignment or {}).get("positions") or {})

    def default_pool(self) -> list[str]:
        workers = _workers(self.team.users)
        if not self.config.pool:
            return workers
        return sorted(set(self.config.pool) & set(workers))

    def _from_default_pool(self, strategy: PoolStrategy, facts: LeadFacts) -> Pick:
        chosen = pick(
            self.default_pool(), strategy, self.settings.round_robin_position, self.team, facts
        )
        self.settings.round_robin_position = chosen.position
        return chosen

    def _from_rule_pool(self, rule: AssignmentRule, facts: LeadFacts) -> Pick:
        pool = sorted(set(rule.pool))
        key = _pool_key(pool)
        chosen = pick(pool, rule.pool_strategy, self.positions.get(key, 0), self.team, facts)
        self.positions[key] = chosen.position
        return chosen

    def _by_rules(self, facts: LeadFacts) -> tuple[Decision | None, str]:
        notes: list[str] = []
        for number, rule in enumerate(self.config.rules, start=1):
            if not matches(rule, facts):
                continue
            label = f"rule {number} '{rule.name}'"
            if rule.user_id is not None:
                why = self.team.refusal(rule.user_id, facts)
                if why is None:
                    return Decision(rule.user_id, f"{label} matched", "rules", rule.name), ""
                notes.append(f"{label} matched but its user is {why}")
                continue
            chosen = self._from_rule_pool(rule, facts)
            if chosen.user_id is not None:
                words = _strategy_words(rule.pool_strategy)
                reason = f"{label} matched; {words} within its pool of {len(set(rule.pool))}"
                return Decision(chosen.user_id, reason, "rules", rule.name), ""
            notes.append(f"{label} matched but nobody in its pool could take the lead")
        return None, "; ".join(notes) or "no rule matched"

    def decide(self, facts: LeadFacts) -> Decision:
        strategy = self.config.strategy
        prefix = ""
        if strategy == "rules":
            decided, prefix = self._by_rules(facts)
            if decided is not None:
                return decided
            pool_strategy: PoolStrategy = self.config.fallback
        else:
            pool_strategy = strategy
        chosen = self._from_default_pool(pool_strategy, facts)
        lead_in = f"{prefix}; fallback " if prefix else ""
        if chosen.user_id is not None:
            load = self.team.open_leads.get(chosen.user_id, 0)
            detail = f" ({load} open leads)" if pool_strategy == "load_balanced" else ""
            reason = f"{lead_in}{_strategy_words(pool_strategy)}{detail}"
            return Decision(chosen.user_id, reason, strategy)
        return self._to_workspace_owner(facts, lead_in, chosen, strategy)

    def _to_workspace_owner(
        self, facts: LeadFacts, lead_in: str, chosen: Pick, strategy: str
    ) -> Decision:
        owners = sorted(uid for uid, u in self.team.users.items() if u.role == "owner")
        who = _refusals(chosen.refused, self.team.users) or "the team is empty"
        reason = f"{lead_in}nobody in the team could take the lead ({who}); "
        if owners:
            return Decision(
                owners[0], reason + "assigned to the workspace owner", strategy, None, True
            )
        return Decision(None, reason + "and the workspace has no active owner", strategy)


def _config_from(section: dict[str, Any] | None) -> AssignmentConfig:
    stored = {k: v for k, v in (section or {}).items() if k in _CONFIG_KEYS}
    try:
        return AssignmentConfig.model_validate(stored)
    except ValidationError:  # stale users are filtered at use; a broken row is not a 500
        log.warning("crm.assignment.config_invalid")
        return AssignmentConfig()


async def _facts(session: AsyncSession, lead: Lead) -> LeadFacts:
    contact = await session.scalar(sa.select(Contact).where(Contact.id == lead.contact_id))
    company_id = lead.company_id or (contact.company_id if contact else None)
    company = (
        await session.scalar(sa.select(Company).where(Company.id == company_id))
        if company_id
        else None
    )
    return LeadFacts(
        country=lead_country(lead, contact, company),
        source=(lead.source or "").strip().lower(),
        score=lead.score,
    )


async def _record(
    session: AsyncSession, ctx: Context, lead: Lead, decision: Decision, *, now: dt.datetime
) -> Lead:
    previous = lead.owner_id
    lead.owner_id = decision.owner_id
    lead.assigned_at = now if decision.owner_id else None
    lead.assignment_reason = decision.reason[:_REASON_CHARS]
    lead.version += 1
    await session.flush()
    await record_event(
        session,
        ctx,
        "crm.lead.assigned",
        lead,
        "lead",
        {
            "owner_id": lead.owner_id,
            "previous_owner_id": previous,
            "reason": lead.assignment_reason,
            "strategy": decision.strategy,
            "rule": decision.rule,
            "fell_back_to_owner": decision.fell_back_to_owner,
        },
    )
    if lead.owner_id and lead.owner_id != previous:
        await notify_owner_if_hot(session, ctx, lead)
    log.info(
        "crm.lead.assigned", lead_id=lead.id, owner_id=lead.owner_id, strategy=decision.strategy
    )
    return lead


async def assign_lead(session: AsyncSession, ctx: Context, lead_id: str) -> Lead:
    """Give the lead an owner by the tenant's assignment rules (see the module doc)."""
    lead = await tenant_row(session, ctx, Lead, lead_id, what="lead", lock=True)
    settings = await load_settings(session, ctx, for_update=True)
    now = utcnow()
    users = await _active_users(session, ctx)
    team = Team(
        users=users,
        reps=await _reps(session),
        open_leads=await _open_leads(session, excluding=lead.id),
        now=now,
    )
    assigner = Assigner(settings, _config_from(settings.assignment), team)
    decision = assigner.decide(await _facts(session, lead))
    settings.assignment = {**(settings.assignment or {}), "positions": assigner.positions}
    return await _record(session, ctx, lead, decision, now=now)


async def reassign_lead(
    session: AsyncSession, ctx: Context, lead_id: str, *, owner_id: str
) -> Lead:
    """Hand the lead to ``owner_id`` (an active user of the tenant; 422 otherwise)."""
    lead = await tenant_row(session, ctx, Lead, lead_id, what="lead", lock=True)
    try:
        user = await identity_service.get_user(session, ctx, user_id=owner_id)
    except NotFound:
        user = None
    if user is None or not user.is_active or user.role not in WORKING_ROLES:
        raise Unprocessable(
            "the owner must be an active owner, admin or member of this workspace",
            errors=[field_error(["body", "owner_id"], "no active team member with this id")],
        )
    if lead.owner_id == owner_id:
        return lead
    by = f" by {ctx.actor_id}" if ctx.actor_id else ""
    decision = Decision(owner_id, f"assigned by hand{by}", "manual")
    return await _record(session, ctx, lead, decision, now=utcnow())


# --- configuration -----------------------------------------------------------------------


async def get_rules(session: AsyncSession, ctx: Context) -> AssignmentConfig:
    ctx.require_tenant()
    row = await session.scalar(sa.select(CrmSettings))
    return _config_from(row.assignment if row else None)


def _check_users(
    ids: Sequence[str], loc: list[str | int], workers: set[str]
) -> list[dict[str, Any]]:
    return [
        field_error([*loc, i], "no active owner, admin or member with this id")
        for i, uid in enumerate(ids)
        if uid not in workers
    ]


def _checked_rule(
    rule: AssignmentRule, loc: list[str | int], workers: set[str], errors: list[dict[str, Any]]
) -> AssignmentRule:
    if (rule.user_id is None) == (not rule.pool):
        errors.append(field_error(loc, "give exactly one of user_id and pool"))
    if rule.user_id is not None and rule.user_id not in workers:
        errors.append(
            field_error([*loc, "user_id"], "no active owner, admin or member with this id")
        )
    errors += _check_users(rule.pool, [*loc, "pool"], workers)
    m = rule.match
    if m.score_min is not None and m.score_max is not None and m.score_min > m.score_max:
        errors.append(field_error([*loc, "match", "score_min"], "must not exceed score_max"))
    sources: list[str] = []
    for i, source in enumerate(m.sources):
        try:
            sources.append(normalize_source(source))
        except ValueError as exc:
            errors.append(field_error([*loc, "match", "sources", i], str(exc)))
    match = m.model_copy(update={"sources": sources})
    return rule.model_copy(update={"match": match, "pool": list(dict.fromkeys(rule.pool))})


async def update_rules(
    session: AsyncSession, ctx: Context, *, body: AssignmentConfig
) -> AssignmentConfig:
    """Replace the tenant's assignment rules after checking every user they name."""
    workers = set(_workers(await _active_users(session, ctx)))
    errors = _check_users(body.pool, ["body", "pool"], workers)
    if body.strategy == "rules" and not body.rules:
        errors.append(field_error(["body", "rules"], "the rules strategy needs at least one rule"))
    rules = [
        _checked_rule(rule, ["body", "rules", i], workers, errors)
        for i, rule in enumerate(body.rules)
    ]
    if errors:
        raise Unprocessable("the assignment rules are not valid", errors=errors)
    config = body.model_copy(update={"rules": rules, "pool": list(dict.fromkeys(body.pool))})
    row = await load_settings(session, ctx, for_update=True)
    positions = (row.assignment or {}).get("positions") or {}
    row.assignment = {**config.model_dump(mode="json"), "positions": positions}
    row.version += 1
    await session.flush()
    await record_new_event(
        session,
        ctx,
        "crm.assignment.rules_updated",
        "crm_settings",
        row.id,
        config.model_dump(mode="json"),
    )
    return config


# --- sales reps --------------------------------------------------------------------------


def _rep_read(user: UserRead, rep: SalesRep | None, open_leads: int, now: dt.datetime) -> RepRead:
    return RepRead(
        user_id=user.id,
        name=user.name,
        email=user.email,
        role=user.role,
        available=rep.available if rep else True,
        capacity=rep.capacity if rep else None,
        territories=list(rep.territories) if rep else [],
        sources=list(rep.sources) if rep else [],
        away_until=rep.away_until if rep else None,
        open_leads=open_leads,
        accepting=availability(rep, open_leads, now) is None,
        version=rep.version if rep else 0,
    )


async def list_reps(
    session: AsyncSession, ctx: Context, *, page: PageParams
) -> tuple[list[RepRead], str | None]:
    """The team that takes leads (active owners, admins, members), in user id order."""
    users = await _active_users(session, ctx)
    ids = [uid for uid in _workers(users) if page.after is None or uid > page.after]
    items, cursor = take_page(ids[: page.limit + 1], page, key=lambda uid: uid)
    reps = await _reps(session, items)
    load = await _open_leads(session)
    now = utcnow()
    return [_rep_read(users[uid], reps.get(uid), load.get(uid, 0), now) for uid in items], cursor


async def update_rep(
    session: AsyncSession,
    ctx: Context,
    *,
    user_id: str,
    body: RepUpdate,
    if_match: str | None = None,
) -> RepRead:
    """Set how ``user_id`` takes leads (404 for a user not in this workspace)."""
    try:
        user = await identity_service.get_user(session, ctx, user_id=user_id)
    except NotFound:
        raise NotFound("user not found") from None
    if user.role not in WORKING_ROLES:
        raise Unprocessable(
            f"a {user.role} cannot take leads",
            errors=[field_error(["path", "user_id"], "only owners, admins and members take leads")],
        )
    sources: list[str] = []
    for i, source in enumerate(body.sources):
        try:
            sources.append(normalize_source(source))
        except ValueError as exc:
            raise Unprocessable(
                "a source is not valid", errors=[field_error(["body", "sources", i], str(exc))]
            ) from exc
    rep = await _rep_for_update(session, ctx, user_id)
    check_version(if_match, rep.version)
    rep.available = body.available
    rep.capacity = body.capacity
    rep.territories = list(dict.fromkeys(body.territories))
    rep.sources = list(dict.fromkeys(sources))
    rep.away_until = body.away_until
    rep.version += 1
    await session.flush()
    data = body.model_dump(mode="json") | {"user_id": user_id, "sources": rep.sources}
    await record_new_event(session, ctx, "crm.rep.updated", "sales_rep", rep.id, data)
    load = await _open_leads(session)
    return _rep_read(user, rep, load.get(user_id, 0), utcnow())


async def _rep_for_update(session: AsyncSession, ctx: Context, user_id: str) -> SalesRep:
    query = sa.select(SalesRep).where(SalesRep.user_id == user_id).with_for_update()
    rep = await session.scalar(query)
    if rep is not None:
        return rep
    try:
        async with session.begin_nested():
            rep = SalesRep(
                id=new_id(),
                tenant_id=ctx.require_tenant(),
                user_id=user_id,
                available=True,
                territories=[],
                sources=[],
                version=0,
            )
            session.add(rep)
    except IntegrityError:  # created concurrently: update that one
        rep = await session.scalar(query.execution_options(populate_existing=True))
        assert rep is not None
    return rep
