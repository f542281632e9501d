"""The personal data the CRM holds: the names the privacy proxy must recognise, and the
export of everything the CRM knows about a contact.

Names of people and companies known to the CRM, for the privacy proxy.

:func:`known_entities` answers "which of this tenant's contact and company names occur
in these texts?" without reading the whole CRM: the texts are cut into candidate words
and word pairs, the candidates are looked up through the contact search index
(:mod:`bizos.modules.crm.search`: FTS5 on SQLite, the GIN tsvector on PostgreSQL) and the
company-name index, and only the rows found are checked, in Python, against the texts
word for word (case- and diacritic-insensitive).

* Names of two or more words are found by their word pairs (phrase queries).
* One-word names, and the uniqueness of a first or last name, by single-word queries
  (at most :data:`MAX_WORD_QUERIES` words, capitalised words first; each capped at
  :data:`WORD_SAMPLE` rows, so a common first name costs no more than a rare one).
* Company names from ``crm_companies`` by exact lookup of the texts' word spans (as
  written and in title case) through ``ix_crm_companies_tenant_name``; company names as
  contacts gave them (``company_name``) through the contact index.

Short forms (first or last name alone, see :class:`bizos.ai.privacy.KnownEntity`): a
capitalised word is taken as a mention of a person when

1. a full name found in the texts has it as its first or last word, and no other full
   name found there has that word; or
2. exactly one live contact of the tenant has that word in its name, as its first or
   last word (a duplicate contact with the same name counts once).

Long texts (more than :data:`ALL_PAIRS_LIMIT` distinct word pairs) look up only pairs
with a capitalised word, as names are written in documents.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai.privacy import KnownEntity, fold
from bizos.core.context import Context
from bizos.modules.crm.companies.service import company_read
from bizos.modules.crm.contacts.attachments import attachment_read
from bizos.modules.crm.contacts.notes import note_read
from bizos.modules.crm.contacts.service import contact_read, default_region, get_contact, merged_ids
from bizos.modules.crm.deals.service import deal_read
from bizos.modules.crm.leads.service import lead_read
from bizos.modules.crm.models import Attachment, Company, Contact, Deal, Lead, Note
from bizos.modules.crm.search import FTS_TABLE, PG_DOCUMENT, ROWIDS_TABLE, fold_diacritics

_WORD = re.compile(r"[^\W\d_]+")
MAX_NAME_WORDS = 6
ALL_PAIRS_LIMIT = 4000
PAIRS_PER_QUERY = 250
PAIR_ROWS_LIMIT = 5000
MAX_WORD_QUERIES = 400
WORDS_PER_QUERY = 100
WORD_SAMPLE = 4
COMPANY_SPANS_PER_QUERY = 500
MAX_COMPANY_SPANS = 20000


def name_key(name: str) -> str:
    """The words of a name, folded and lower-cased, joined by one space."""
    return " ".join(w.lower() for w in _WORD.findall(fold(name)))


@dataclass
class _Texts:
    """The candidate words and word spans of the texts."""

    grams: set[str] = field(default_factory=set)  # folded lower n-grams, n ≤ MAX_NAME_WORDS
    pairs: set[tuple[str, str]] = field(default_factory=set)  # search-index words
    capital_pairs: set[tuple[str, str]] = field(default_factory=set)
    words: dict[str, bool] = field(default_factory=dict)  # index word → seen capitalised
    capitalised: set[str] = field(default_factory=set)  # folded lower words written Capitalised
    spans: set[str] = field(default_factory=set)  # word spans as written (company lookup)
    capital_spans: set[str] = field(default_factory=set)


def _read(texts: Iterable[str]) -> _Texts:
    out = _Texts()
    for text in texts:
        folded = fold(text)
        matches = list(_WORD.finditer(folded))
        keys = [m.group(0).lower() for m in matches]
        index_words = [w.lower() for w in _WORD.findall(fold_diacritics(text))]
        for i, m in enumerate(matches):
            capital = m.group(0)[0].isupper()
            if capital:
                out.capitalised.add(keys[i])
            for n in range(1, MAX_NAME_WORDS + 1):
                if i + n > len(keys):
                    break
                out.grams.add(" ".join(keys[i : i + n]))
                span = text[m.start() : matches[i + n - 1].end()]
                out.spans.add(span)
                if capital:
                    out.capital_spans.add(span)
        for i, word in enumerate(index_words):
            capital = i < len(matches) and matches[i].group(0)[0].isupper()
            out.words[word] = out.words.get(word, False) or capital
            if i + 1 < len(index_words):
                pair = (word, index_words[i + 1])
                out.pairs.add(pair)
                nxt = i + 1 < len(matches) and matches[i + 1].group(0)[0].isupper()
                if capital or nxt:
                    out.capital_pairs.add(pair)
    return out


_T = TypeVar("_T")


def _chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _contact_match(dialect: str, query: str, param: str) -> sa.ColumnElement[bool]:
    """Contacts the search index matches for ``query`` (FTS5 syntax on SQLite, tsquery
    syntax on PostgreSQL); ``param`` names the bound parameter (unique per query)."""
    if dialect == "postgresql":
        document: sa.ColumnElement[str] = sa.literal_column(PG_DOCUMENT)
        config: sa.ColumnElement[str] = sa.literal_column("'simple'::regconfig")
        tsquery = sa.func.to_tsquery(config, sa.bindparam(param, query))
        return document.bool_op("@@")(tsquery)
    ids = sa.text(
        f"SELECT r.contact_id FROM {FTS_TABLE} f JOIN {ROWIDS_TABLE} r ON r.rid = f.rowid "
        f"WHERE {FTS_TABLE} MATCH :{param}"
    ).bindparams(sa.bindparam(param, query))
    return Contact.id.in_(ids.columns(sa.column("contact_id", sa.String)))


def _pair_query(dialect: str, pairs: Sequence[tuple[str, str]]) -> str:
    if dialect == "postgresql":
        return " | ".join(f"('{a}' <-> '{b}')" for a, b in pairs)
    return "{name company} : (" + " OR ".join(f'"{a} {b}"' for a, b in pairs) + ")"


def _word_query(dialect: str, word: str) -> str:
    return f"'{word}'" if dialect == "postgresql" else f'{{name company}} : "{word}"'


def _live(tenant_id: str) -> sa.ColumnElement[bool]:
    # The tenant filter is explicit as well as the ORM's: a system session must not
    # read every tenant's names.
    return sa.and_(Contact.tenant_id == tenant_id, Contact.merged_into_id.is_(None))


async def _rows_by_pairs(
    session: AsyncSession, tenant_id: str, dialect: str, pairs: Sequence[tuple[str, str]]
) -> list[tuple[str | None, str | None]]:
    rows: list[tuple[str | None, str | None]] = []
    for n, chunk in enumerate(_chunks(sorted(pairs), PAIRS_PER_QUERY)):
        stmt = (
            sa.select(Contact.name, Contact.company_name)
            .where(
                _live(tenant_id), _contact_match(dialect, _pair_query(dialect, chunk), f"pairs_{n}")
            )
            .limit(PAIR_ROWS_LIMIT)
        )
        rows.extend((r.name, r.company_name) for r in await session.execute(stmt))
    return rows


async def _rows_by_words(
    session: AsyncSession, tenant_id: str, dialect: str, words: Sequence[str]
) -> dict[str, list[tuple[str | None, str | None]]]:
    """For each word, up to :data:`WORD_SAMPLE` contacts with it in their name or
    company name, the shortest names first (so a one-word name equal to the word is
    never crowded out)."""
    found: dict[str, list[tuple[str | None, str | None]]] = defaultdict(list)
    for n, chunk in enumerate(_chunks(list(words), WORDS_PER_QUERY)):
        selects = [
            sa.select(
                sa.literal(word, sa.String).label("word"),
                Contact.name.label("name"),
                Contact.company_name.label("company_name"),
            )
            .where(
                _live(tenant_id), _contact_match(dialect, _word_query(dialect, word), f"w_{n}_{i}")
            )
            .order_by(sa.func.length(sa.func.coalesce(Contact.name, "")))
            .limit(WORD_SAMPLE)
            .subquery()
            for i, word in enumerate(chunk)
        ]
        union = sa.union_all(*[sa.select(s.c.word, s.c.name, s.c.company_name) for s in selects])
        for row in await session.execute(union):
            found[row.word].append((row.name, row.company_name))
    return found


async def _company_names(session: AsyncSession, tenant_id: str, spans: Iterable[str]) -> list[str]:
    candidates = sorted({c for s in spans for c in (s, s.title()) if len(s) <= 200})
    names: list[str] = []
    for chunk in _chunks(candidates[:MAX_COMPANY_SPANS], COMPANY_SPANS_PER_QUERY):
        stmt = sa.select(Company.name).where(
            Company.tenant_id == tenant_id,
            Company.merged_into_id.is_(None),
            Company.name.in_(list(chunk)),
        )
        names.extend(await session.scalars(stmt))
    return names


def _short_forms(
    people: dict[str, str],
    texts: _Texts,
    sampled: dict[str, list[tuple[str | None, str | None]]],
) -> dict[str, set[str]]:
    """Full name key → the words that, alone, refer to that person (module doc)."""
    claims: dict[str, set[str]] = defaultdict(set)  # word → full name keys found in texts
    for key in people:
        words = key.split()
        if len(words) >= 2:
            claims[words[0]].add(key)
            claims[words[-1]].add(key)
    out: dict[str, set[str]] = defaultdict(set)
    for word, keys in claims.items():
        if len(keys) == 1 and word in texts.capitalised and len(word) >= 2:
            out[next(iter(keys))].add(word)
    for word, rows in sampled.items():
        if word in claims or len(rows) >= WORD_SAMPLE or word not in texts.capitalised:
            continue
        holders = {name_key(n) for n, _c in rows if n and word in name_key(n).split()}
        if len(holders) != 1:
            continue
        holder = next(iter(holders))
        parts = holder.split()
        if len(parts) >= 2 and word in (parts[0], parts[-1]) and len(word) >= 3:
            out[holder].add(word)
    return out


def _spelling(value: str, word: str) -> str | None:
    for part in value.split():
        if name_key(part) == word:
            return part.strip(",.;:")
    return None


async def known_entities(
    session: AsyncSession, ctx: Context, texts: Sequence[str]
) -> list[KnownEntity]:
    """The tenant's contact names (PERSON) and company names (COMPANY) that occur in
    ``texts``, with the short forms that refer to a person unambiguously."""
    tenant_id = ctx.require_tenant()
    texts_read = _read(texts)
    if not texts_read.grams:
        return []
    dialect = _dialect(session)
    pairs = texts_read.pairs
    if len(pairs) > ALL_PAIRS_LIMIT:
        pairs = texts_read.capital_pairs
    rows = await _rows_by_pairs(session, tenant_id, dialect, sorted(pairs))
    words = sorted(texts_read.words, key=lambda w: (not texts_read.words[w], w))
    sampled = await _rows_by_words(session, tenant_id, dialect, words[:MAX_WORD_QUERIES])
    rows += [row for sample in sampled.values() for row in sample]
    people: dict[str, str] = {}
    companies: dict[str, str] = {}
    for name, company in rows:
        if name and (key := name_key(name)) and key in texts_read.grams:
            people.setdefault(key, name.strip())
        if company and (key := name_key(company)) and key in texts_read.grams:
            companies.setdefault(key, company.strip())
    spans = (
        texts_read.spans if len(texts_read.spans) <= MAX_COMPANY_SPANS else texts_read.capital_spans
    )
    for company in await _company_names(session, tenant_id, spans):
        if (key := name_key(company)) and key in texts_read.grams:
            companies.setdefault(key, company.strip())
    shorts = _short_forms(people, texts_read, sampled)
    out: list[KnownEntity] = []
    for key, holder in _holders(shorts, sampled).items():
        people.setdefault(key, holder)
    for key, value in people.items():
        forms = tuple(sorted(s for w in shorts.get(key, ()) if (s := _spelling(value, w))))
        out.append(KnownEntity("PERSON", value, forms))
    out.extend(KnownEntity("COMPANY", v) for k, v in companies.items() if k not in people)
    return out


def _holders(
    shorts: dict[str, set[str]], sampled: dict[str, list[tuple[str | None, str | None]]]
) -> dict[str, str]:
    """Spellings of the people found only by a short form (rule 2)."""
    out: dict[str, str] = {}
    for rows in sampled.values():
        for name, _company in rows:
            if name and name_key(name) in shorts:
                out.setdefault(name_key(name), name.strip())
    return out


async def privacy_names(
    session: AsyncSession, ctx: Context, texts: Sequence[str]
) -> tuple[list[KnownEntity], str | None]:
    """The privacy proxy's name lookup (the CRM fills that port): the tenant's names in
    ``texts`` and its phone region."""
    return await known_entities(session, ctx, texts), await default_region(session, ctx)


# --- export: what the CRM holds about a contact -----------------------------------------


async def export(
    session: AsyncSession, ctx: Context, contact_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Everything the CRM holds about the contact, as the API reads it: the contact and
    the contacts merged into it, their companies, leads, deals, and the notes and
    attachments on them (an attachment's metadata; its file is served by the API).
    404 if the tenant has no such contact."""
    contact = await get_contact(session, ctx, contact_id)
    ids = [contact.id, *await merged_ids(session, ctx, contact.id)]
    tenant = ctx.require_tenant()
    contacts = list(
        await session.scalars(
            sa.select(Contact).where(Contact.tenant_id == tenant, Contact.id.in_(ids))
        )
    )
    contacts.sort(key=lambda row: ids.index(row.id))
    company_ids = sorted({row.company_id for row in contacts if row.company_id})
    companies = await session.scalars(
        sa.select(Company)
        .where(Company.tenant_id == tenant, Company.id.in_(company_ids))
        .order_by(Company.id)
    )
    leads = await session.scalars(
        sa.select(Lead)
        .where(Lead.tenant_id == tenant, Lead.contact_id.in_(ids))
        .order_by(Lead.created_at, Lead.id)
    )
    deals = await session.scalars(
        sa.select(Deal)
        .where(Deal.tenant_id == tenant, Deal.contact_id.in_(ids))
        .order_by(Deal.created_at, Deal.id)
    )
    notes = await session.scalars(
        sa.select(Note)
        .where(Note.tenant_id == tenant, Note.subject_type == "contact", Note.subject_id.in_(ids))
        .order_by(Note.created_at, Note.id)
    )
    attachments = await session.scalars(
        sa.select(Attachment)
        .where(
            Attachment.tenant_id == tenant,
            Attachment.subject_type == "contact",
            Attachment.subject_id.in_(ids),
        )
        .order_by(Attachment.created_at, Attachment.id)
    )
    return {
        "contacts": [contact_read(row).model_dump(mode="json") for row in contacts],
        "companies": [company_read(row).model_dump(mode="json") for row in companies],
        "leads": [lead_read(row).model_dump(mode="json") for row in leads],
        "deals": [deal_read(row).model_dump(mode="json") for row in deals],
        "notes": [note_read(row).model_dump(mode="json") for row in notes],
        "attachments": [attachment_read(row).model_dump(mode="json") for row in attachments],
    }
