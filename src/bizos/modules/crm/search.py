"""Full-text search over contacts: name, email, phone and company.

SQLite: an FTS5 table ``crm_contacts_fts`` kept in step with ``crm_contacts`` by triggers,
so every writer (the service, an import, raw SQL) keeps the index right. Its rowids come
from ``crm_contacts_fts_rowids`` (an INTEGER PRIMARY KEY per contact id): the implicit
rowid of ``crm_contacts`` is not stable across VACUUM, so it cannot key the index.

PostgreSQL: a GIN index on a ``to_tsvector('simple', ...)`` expression of the same
columns; queries repeat the expression exactly, so the planner uses the index. Nothing to
keep in sync, and row-level security applies as to any query on ``crm_contacts``.

Both index the email whole and split at ``@``/``.``, the phone as given (digit groups)
and as bare digits (E.164 and national), and the company name. A query's words must all
match as prefixes (``ali`` finds Alice). A query that is a phone number (digits and
``+ ( ) - . /`` only) instead matches contacts whose number contains those digits.

Lookups by what a person calls a record (the copilot's "find Acme's deal") rank names
with :func:`rank_by_name`, which forgives case, accents, prefixes and small typos.

:func:`install` is called by the migration (``scripts/regen_initial_migration.py``).
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from rapidfuzz.distance import OSA

from bizos.modules.crm.models import Contact
from bizos.modules.crm.normalize import InvalidPhone, normalize_phone

FTS_TABLE = "crm_contacts_fts"
ROWIDS_TABLE = "crm_contacts_fts_rowids"
PG_INDEX = "ix_crm_contacts_search"

# Latin letters with diacritics and their plain letter: PostgreSQL folds them with
# translate() (no extension needed), as FTS5's ``remove_diacritics 2`` does on SQLite,
# so "muller" finds Müller on both databases.
_ACCENTED = (
    "àáâãäåāăąçćčďđèéêëēėęěğìíîïīįıłñńňòóôõöøōőŕřśšşťţùúûüūůűųýÿźżž"
    "ÀÁÂÃÄÅĀĂĄÇĆČĎĐÈÉÊËĒĖĘĚĞÌÍÎÏĪĮİŁÑŃŇÒÓÔÕÖØŌŐŔŘŚŠŞŤŢÙÚÛÜŪŮŰŲÝŸŹŻŽ"
)
_NO_DECOMPOSITION = {"đ": "d", "Đ": "D", "\u0131": "i", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O"}


def _plain_letter(char: str) -> str:
    if char in _NO_DECOMPOSITION:
        return _NO_DECOMPOSITION[char]
    return unicodedata.normalize("NFKD", char)[0]


_PLAIN = "".join(_plain_letter(c) for c in _ACCENTED)
_FOLD = str.maketrans(_ACCENTED, _PLAIN)


def fold_diacritics(text: str) -> str:
    """``text`` with the Latin diacritics PostgreSQL's search document drops dropped."""
    return text.translate(_FOLD)


# The one tsvector expression: the GIN index and every query must spell it identically.
PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, translate("
    "coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || "
    "translate(coalesce(email, ''), '@._-+', '     ') || ' ' || "
    "translate(coalesce(phone, ''), '()-./+', '      ') || ' ' || "
    "regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g') || ' ' || "
    "regexp_replace(coalesce(phone_normalized, ''), '[^0-9]', '', 'g') || ' ' || "
    f"coalesce(company_name, ''), '{_ACCENTED}', '{_PLAIN}'))"
)


def _sqlite_digits(column: str) -> str:
    expr = f"coalesce({column}, '')"
    for char in (" ", "-", "(", ")", ".", "/", "+"):
        expr = f"replace({expr}, '{char}', '')"
    return expr


def _sqlite_row(prefix: str) -> str:
    phone = (
        f"coalesce({prefix}.phone, '') || ' ' || {_sqlite_digits(prefix + '.phone')} || ' ' || "
        f"{_sqlite_digits(prefix + '.phone_normalized')}"
    )
    return (
        f"INSERT INTO {FTS_TABLE}(rowid, name, email, phone, company) VALUES ("
        f"(SELECT rid FROM {ROWIDS_TABLE} WHERE contact_id = {prefix}.id), "
        f"coalesce({prefix}.name, ''), coalesce({prefix}.email, ''), {phone}, "
        f"coalesce({prefix}.company_name, ''));"
    )


def _sqlite_delete(prefix: str) -> str:
    return (
        f"DELETE FROM {FTS_TABLE} WHERE rowid = "
        f"(SELECT rid FROM {ROWIDS_TABLE} WHERE contact_id = {prefix}.id);"
    )


def sqlite_ddl() -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {ROWIDS_TABLE} ("
        "rid INTEGER PRIMARY KEY, contact_id VARCHAR(36) NOT NULL UNIQUE)",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
        "name, email, phone, company, tokenize = 'unicode61 remove_diacritics 2')",
        f"""CREATE TRIGGER IF NOT EXISTS crm_contacts_fts_insert AFTER INSERT ON crm_contacts
        BEGIN
          INSERT OR IGNORE INTO {ROWIDS_TABLE}(contact_id) VALUES (new.id);
          {_sqlite_row("new")}
        END""",
        f"""CREATE TRIGGER IF NOT EXISTS crm_contacts_fts_update
        AFTER UPDATE OF name, email, phone, phone_normalized, company_name ON crm_contacts
        BEGIN
          {_sqlite_delete("old")}
          {_sqlite_row("new")}
        END""",
        f"""CREATE TRIGGER IF NOT EXISTS crm_contacts_fts_delete AFTER DELETE ON crm_contacts
        BEGIN
          {_sqlite_delete("old")}
          DELETE FROM {ROWIDS_TABLE} WHERE contact_id = old.id;
        END""",
        # Contacts that existed before the index (none on a fresh install).
        f"INSERT OR IGNORE INTO {ROWIDS_TABLE}(contact_id) SELECT id FROM crm_contacts",
        f"DELETE FROM {FTS_TABLE}",
        f"INSERT INTO {FTS_TABLE}(rowid, name, email, phone, company) "
        f"SELECT r.rid, coalesce(c.name, ''), coalesce(c.email, ''), "
        f"coalesce(c.phone, '') || ' ' || {_sqlite_digits('c.phone')} || ' ' || "
        f"{_sqlite_digits('c.phone_normalized')}, coalesce(c.company_name, '') "
        f"FROM crm_contacts c JOIN {ROWIDS_TABLE} r ON r.contact_id = c.id",
    ]


def postgres_ddl() -> list[str]:
    return [
        f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON crm_contacts USING gin (({PG_DOCUMENT}))",
    ]


def install(conn: sa.Connection) -> None:
    """Create the search index for ``conn``'s dialect (idempotent)."""
    statements = postgres_ddl() if conn.dialect.name == "postgresql" else sqlite_ddl()
    for statement in statements:
        conn.exec_driver_sql(statement)


def uninstall(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {PG_INDEX}")
        return
    for trigger in ("insert", "update", "delete"):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS crm_contacts_fts_{trigger}")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {ROWIDS_TABLE}")


# --- queries -------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)
_PHONE_QUERY = re.compile(r"^[\d\s()+.\-/]+$")
MAX_TERMS = 8


def terms(query: str) -> list[str]:
    """The words of a query, lower-cased, at most :data:`MAX_TERMS`."""
    return [w.lower() for w in _WORD.findall(query)][:MAX_TERMS]


def _phone_digits(query: str) -> str | None:
    text = query.strip()
    if not _PHONE_QUERY.match(text):
        return None
    digits = re.sub(r"\D", "", text)
    return digits if len(digits) >= 3 else None


def is_phone_query(query: str) -> bool:
    """Whether ``query`` is a phone number (digits and ``+ ( ) - . /`` only), which
    :func:`contact_filter` matches by its digits rather than by words."""
    return _phone_digits(query) is not None


def contact_filter(
    dialect: str, query: str, *, default_region: str | None = None
) -> sa.ColumnElement[bool] | None:
    """A WHERE clause on ``Contact`` for ``query``; ``None`` when it holds no words."""
    digits = _phone_digits(query)
    if digits is not None:
        return _phone_filter(dialect, query, digits, default_region)
    words = terms(query)
    if not words:
        return None
    return _text_filter(dialect, words)


def _pg_matches(tsquery: str) -> sa.ColumnElement[bool]:
    document: sa.ColumnElement[Any] = sa.literal_column(PG_DOCUMENT)
    config: sa.ColumnElement[Any] = sa.literal_column("'simple'::regconfig")
    return document.bool_op("@@")(sa.func.to_tsquery(config, tsquery))


def _text_filter(dialect: str, words: list[str]) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        return _pg_matches(" & ".join(f"{fold_diacritics(w)}:*" for w in words))
    match = " AND ".join('"' + w.replace('"', "") + '"*' for w in words)
    ids = sa.text(
        f"SELECT r.contact_id FROM {FTS_TABLE} f JOIN {ROWIDS_TABLE} r ON r.rid = f.rowid "
        f"WHERE {FTS_TABLE} MATCH :fts_query"
    ).bindparams(fts_query=match)
    return Contact.id.in_(ids.columns(sa.column("contact_id", sa.String)))


def _phone_filter(
    dialect: str, query: str, digits: str, default_region: str | None
) -> sa.ColumnElement[bool]:
    # The digits anywhere in the E.164 number (a national trunk 0 dropped, as E.164
    # has none), the E.164 form of the query itself, or the digits as the contact gave them.
    core = digits.lstrip("0") or digits
    clauses: list[sa.ColumnElement[bool]] = [Contact.phone_normalized.contains(core)]
    with contextlib.suppress(InvalidPhone):
        clauses.append(Contact.phone_normalized == normalize_phone(query, default_region))
    if dialect == "postgresql":
        clauses.append(_pg_matches(f"{digits}:*"))
    else:
        ids = sa.text(
            f"SELECT r.contact_id FROM {FTS_TABLE} f JOIN {ROWIDS_TABLE} r ON r.rid = f.rowid "
            f"WHERE {FTS_TABLE} MATCH :phone_query"
        ).bindparams(phone_query=f'phone : "{digits}"*')
        clauses.append(Contact.id.in_(ids.columns(sa.column("contact_id", sa.String))))
    return sa.or_(*clauses)


# --- forgiving name matching (lookups) -------------------------------------------------

# Words that say what is looked for rather than which one: "the acme deal".
_FILLER = frozenset(
    {"the", "a", "an", "and", "of", "for", "with", "about", "deal", "deals", "contact"}
    | {"contacts", "company", "companies", "customer", "client", "account", "inc", "ltd"}
)
CUTOFF = 0.6


def _folded_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(fold_diacritics(text))]


def _allowed_edits(word: str) -> int:
    """Typos forgiven in a word of this length (the usual rule: none up to 2
    characters, one up to 5, two beyond)."""
    return 0 if len(word) <= 2 else 1 if len(word) <= 5 else 2


def _word_score(wanted: str, word: str) -> float:
    """How well ``word`` (of a record) matches ``wanted`` (of a query): 1 exact, 0.9 a
    prefix (``lovel`` of Lovelace), less with each typo, 0 when too far apart."""
    if wanted == word:
        return 1.0
    if len(wanted) >= 3 and word.startswith(wanted):
        return 0.9
    allowed = _allowed_edits(wanted)
    if allowed == 0:
        return 0.0
    edits = OSA.distance(wanted, word, score_cutoff=allowed)
    if len(wanted) >= 5:  # a typo in a word typed halfway: "lovlac" of Lovelace
        edits = min(edits, OSA.distance(wanted, word[: len(wanted)], score_cutoff=allowed) + 1)
    if edits > allowed:
        return 0.0
    return 0.85 if edits == 1 else 0.7


def name_score(query: str, texts: Sequence[str | None]) -> float:
    """How well a record named by ``texts`` (name, email, company …) matches ``query``,
    0..1: the mean, over the query's words, of each word's best match among the record's
    words; forgiving case, accents, prefixes and small typos. A query equal to one of
    the texts scores 1."""
    wanted = _folded_words(query)
    meaningful = [w for w in wanted if w not in _FILLER] or wanted
    if not meaningful:
        return 0.0
    words = {w for t in texts if t for w in _folded_words(t)}
    whole = " ".join(wanted)
    if any(t and " ".join(_folded_words(t)) == whole for t in texts):
        return 1.0
    if not words:
        return 0.0
    return sum(max(_word_score(w, word) for word in words) for w in meaningful) / len(meaningful)


Key = TypeVar("Key")


def rank_by_name(
    query: str,
    candidates: Iterable[tuple[Key, Sequence[str | None]]],
    *,
    limit: int,
    cutoff: float = CUTOFF,
) -> list[tuple[Key, float]]:
    """The ``limit`` candidates that match ``query`` best (score at least ``cutoff``),
    best first; ties keep the candidates' order."""
    scored = [(key, name_score(query, texts)) for key, texts in candidates]
    kept = [(key, round(score, 4)) for key, score in scored if score >= cutoff]
    kept.sort(key=lambda pair: -pair[1])
    return kept[:limit]
