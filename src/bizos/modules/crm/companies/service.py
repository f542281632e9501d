"""Companies: the organisations contacts work for. The only writer of ``crm_companies``.

A company's dedupe key is its domain (lower-case, no scheme, no ``www.``): one live
company per domain and tenant, held by a partial unique index, so concurrent creators
(two leads from the same firm enriched at once) end with one company.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.reads import read_of
from bizos.core.versions import check_version
from bizos.modules.crm.companies.schemas import (
    CompanyCreate,
    CompanyFilters,
    CompanyRead,
    CompanyUpdate,
)
from bizos.modules.crm.models import Company, Contact
from bizos.modules.crm.normalize import normalize_domain
from bizos.modules.crm.records import live, normalized, read_page, record_event, record_new_event
from bizos.modules.crm.search import rank_by_name
from bizos.modules.identity.service import require_active_user

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class InvalidDomain(ValueError):
    pass


class DuplicateCompany(Conflict):
    """409 naming the live company that already has the domain."""

    def __init__(self, existing_id: str, domain: str) -> None:
        super().__init__(f"a company with the domain {domain} already exists: {existing_id}")
        self.existing_id = existing_id

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        return {**super().to_problem(instance), "existing_id": self.existing_id}


def clean_domain(value: str) -> str:
    """A normalised domain, IDNA-encoded; :class:`InvalidDomain` if it cannot be one."""
    text = normalize_domain(value)
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidDomain("not a domain name") from exc
    labels = text.split(".")
    if len(labels) < 2 or len(text) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidDomain("not a domain name such as example.com")
    if labels[-1].isdigit():
        raise InvalidDomain("an IP address is not a company domain")
    return text


def company_read(row: Company) -> CompanyRead:
    return read_of(
        CompanyRead, row, tags=list(row.tags or []), properties=dict(row.properties or {})
    )


async def company_by_domain(session: AsyncSession, ctx: Context, domain: str) -> Company | None:
    query = sa.select(Company).where(live(ctx, Company), Company.domain == domain)
    return await session.scalar(query)


async def get_company(
    session: AsyncSession, ctx: Context, company_id: str, *, for_update: bool = False
) -> Company:
    """The company (the survivor, if it was merged); 404 if the tenant has none."""
    for _ in range(8):
        query = sa.select(Company).where(
            Company.tenant_id == ctx.require_tenant(), Company.id == company_id
        )
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        row = await session.scalar(query)
        if row is None:
            break
        if row.merged_into_id is None:
            return row
        company_id = row.merged_into_id
    raise NotFound("company not found")


def _domain_field(value: str | None, loc: str) -> str | None:
    if value is None or not value.strip():
        return None
    return normalized(clean_domain, value, InvalidDomain, ["body", loc])


async def _insert(session: AsyncSession, ctx: Context, row: Company) -> None:
    """Insert, turning a lost race on the domain into :class:`DuplicateCompany`."""
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = await company_by_domain(session, ctx, row.domain or "")
        if existing is None:
            raise
        raise DuplicateCompany(existing.id, existing.domain or "") from None


async def _created(session: AsyncSession, ctx: Context, row: Company, **extra: bool) -> None:
    data = {"name": row.name, "domain": row.domain, **extra}
    await record_new_event(session, ctx, "crm.company.created", "company", row.id, data)


async def create_company(session: AsyncSession, ctx: Context, body: CompanyCreate) -> Company:
    domain = _domain_field(body.domain, "domain")
    if domain is None and body.website:
        domain = _domain_field(body.website, "website")
    if domain is not None:
        existing = await company_by_domain(session, ctx, domain)
        if existing is not None:
            raise DuplicateCompany(existing.id, domain)
    if body.owner_id is not None:
        await require_active_user(session, ctx, body.owner_id)
    row = Company(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        **body.model_dump(exclude={"domain", "tags", "properties"}),
        domain=domain,
        tags=body.tags or [],
        properties=body.properties or {},
    )
    await _insert(session, ctx, row)
    await _created(session, ctx, row)
    return row


def _apply(row: Company, changed: dict[str, Any]) -> None:
    """Set the changed fields on the company; it is a new version."""
    for field, value in changed.items():
        setattr(row, field, value)
    row.version += 1


async def update_company(
    session: AsyncSession,
    ctx: Context,
    company_id: str,
    body: CompanyUpdate,
    *,
    if_match: str | None = None,
) -> Company:
    row = await get_company(session, ctx, company_id, for_update=True)
    check_version(if_match, row.version)
    given = body.model_dump(exclude_unset=True)
    if "name" in given and given["name"] is None:
        raise Unprocessable(
            "a company needs a name", errors=[field_error(["body", "name"], "may not be null")]
        )
    if "domain" in given:
        given["domain"] = _domain_field(given["domain"], "domain")
    if given.get("owner_id") is not None:
        await require_active_user(session, ctx, given["owner_id"])
    changed = {k: v for k, v in given.items() if getattr(row, k) != v}
    if not changed:
        return row
    if changed.get("domain"):
        other = await company_by_domain(session, ctx, changed["domain"])
        if other is not None and other.id != row.id:
            raise DuplicateCompany(other.id, changed["domain"])
    _apply(row, changed)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        other = await company_by_domain(session, ctx, changed.get("domain") or "")
        raise DuplicateCompany(other.id if other else "", changed.get("domain") or "") from None
    if "name" in changed:
        # Contacts show their company's name (and search finds them by it).
        await session.execute(
            sa.update(Contact)
            .where(Contact.company_id == row.id)
            .values(company_name=row.name)
            .execution_options(synchronize_session="fetch")
        )
    await record_event(
        session, ctx, "crm.company.updated", row, "company", {"changes": _jsonable(changed)}
    )
    return row


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in changes.items()}


COMPANY_ORDER = ListOrder(
    "companies", Company.id, [Company.created_at, Company.updated_at, Company.name]
)


async def list_companies(
    session: AsyncSession, ctx: Context, *, page: PageParams, filters: CompanyFilters | None = None
) -> tuple[list[Company], str | None]:
    q, domain = (filters.q, filters.domain) if filters else (None, None)
    query = sa.select(Company).where(live(ctx, Company))
    if domain:
        clean = normalized(clean_domain, domain, InvalidDomain, ["query", "domain"])
        query = query.where(Company.domain == clean)
    if q and q.strip():
        needle = q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(
            sa.or_(
                sa.func.lower(Company.name).like(f"%{needle}%", escape="\\"),
                Company.domain.like(f"{needle}%", escape="\\"),
            )
        )
    return await read_page(session, COMPANY_ORDER, query, page)


# How many companies a lookup reads to rank by name (the most recently changed).
LOOKUP_SCAN = 5000


async def find_companies(
    session: AsyncSession, ctx: Context, query: str, *, limit: int
) -> list[tuple[CompanyRead, float]]:
    """The live companies whose name or domain best match ``query`` with how well (0..1),
    best first, forgiving case, accents and small typos."""
    candidates = await session.execute(
        sa.select(Company.id, Company.name, Company.domain)
        .where(live(ctx, Company))
        .order_by(Company.updated_at.desc(), Company.id)
        .limit(LOOKUP_SCAN)
    )
    best = rank_by_name(query, ((r[0], (r[1], r[2])) for r in candidates.all()), limit=limit)
    rows = {
        row.id: row
        for row in await session.scalars(
            sa.select(Company).where(live(ctx, Company), Company.id.in_([i for i, _ in best]))
        )
    }
    return [(company_read(rows[i]), score) for i, score in best if i in rows]


async def upsert_company_by_domain(
    session: AsyncSession,
    ctx: Context,
    *,
    domain: str,
    name: str,
    industry: str | None = None,
    employees: int | None = None,
    country: str | None = None,
    city: str | None = None,
    annual_revenue: Decimal | None = None,
    enrichment: dict[str, Any] | None = None,
) -> Company:
    """The live company with ``domain``, created if missing. An existing company keeps
    what it has (people may have edited it); blank fields are filled in and the newest
    ``enrichment`` replaces the old. Raises :class:`InvalidDomain` for a bad domain."""
    clean = clean_domain(domain)
    fields: dict[str, Any] = {
        "name": name.strip()[:200] or clean,
        "industry": industry,
        "employees": employees,
        "country": country.upper() if country else None,
        "city": city,
        "annual_revenue": annual_revenue,
    }
    for _ in range(2):
        existing = await company_by_domain(session, ctx, clean)
        if existing is not None:
            return await _fill_company(session, ctx, existing, fields, enrichment)
        row = Company(
            id=new_id(),
            tenant_id=ctx.require_tenant(),
            domain=clean,
            website=f"https://{clean}",
            tags=[],
            properties={},
            enrichment=enrichment,
            **fields,
        )
        try:
            await _insert(session, ctx, row)
        except DuplicateCompany:
            continue  # created concurrently: fill that one instead
        await _created(session, ctx, row, enriched=enrichment is not None)
        return row
    raise RuntimeError("company upsert did not settle")  # pragma: no cover


async def _fill_company(
    session: AsyncSession,
    ctx: Context,
    row: Company,
    fields: dict[str, Any],
    enrichment: dict[str, Any] | None,
) -> Company:
    changed = {k: v for k, v in fields.items() if v is not None and getattr(row, k) in (None, "")}
    if enrichment is not None and enrichment != row.enrichment:
        changed["enrichment"] = enrichment
    if not changed:
        return row
    _apply(row, changed)
    row.updated_at = utcnow()
    await session.flush()
    await record_event(
        session, ctx, "crm.company.updated", row, "company", {"changes": sorted(changed)}
    )
    return row
