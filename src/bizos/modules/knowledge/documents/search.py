"""Full text over knowledge-base chunks: the lexical half of search.

Full text over chunks (document title, heading and text), English stemming on both
databases:

* SQLite: an FTS5 table ``kb_chunks_fts`` (porter stemmer over unicode61, diacritics
  removed) kept in step with ``kb_chunks`` by triggers, so every writer keeps it right.
  Its rowids come from ``kb_chunks_fts_rowids`` (an INTEGER PRIMARY KEY per chunk id),
  as chunk ids are strings. Ranked by ``bm25`` (the title weighs triple, the heading
  double).
* PostgreSQL: a stored generated ``tsvector`` column ``search_vector`` (English
  configuration, title and heading weighted above text) with a GIN index on it. Why not
  a GIN *expression* index: under row-level security the planner may not use an index
  for ``@@`` (the operator is not LEAKPROOF), so the match runs over the tenant's rows —
  and with an expression index every row's text would be parsed again on every query
  (measured: 0.7 s for 20,000 chunks on one word; the stored vector makes it ~20x
  cheaper). The index still serves sessions without RLS (maintenance, superuser).
  Ranked by ``ts_rank_cd``, chunks holding every query word first.

A query is never handed to either engine's query language as typed: its words are
extracted (letters and digits only), stopwords dropped ("what are the opening hours"
searches "opening hours"), and each is quoted (FTS5) or passed through
``websearch_to_tsquery`` joined by ``or`` (PostgreSQL), so quotes, operators,
parentheses, ``NEAR``, column filters or a NUL byte are just text.

The engines' scores are not comparable with each other nor across queries, so they
only propose candidates and say which chunks matched by words; the score a hit carries
comes from the retrieval embedder (``service.search``).

Migration 0001 made the first index (:func:`install`, chunk heading and text); 0004
rebuilt it with the document title (:func:`install_titles`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai.embeddings import STOPWORDS

FTS_TABLE = "kb_chunks_fts"
ROWIDS_TABLE = "kb_chunks_fts_rowids"
PG_INDEX = "ix_kb_chunks_search"
PG_COLUMN = "search_vector"
PG_CONFIG = "english"
# What the generated column holds.
PG_DOCUMENT_V1 = (
    f"(setweight(to_tsvector('{PG_CONFIG}'::regconfig, coalesce(heading, '')), 'A') || "
    f"setweight(to_tsvector('{PG_CONFIG}'::regconfig, coalesce(text, '')), 'B'))"
)
PG_DOCUMENT = (
    f"(setweight(to_tsvector('{PG_CONFIG}'::regconfig, coalesce(document_title, '')), 'A') || "
    f"setweight(to_tsvector('{PG_CONFIG}'::regconfig, coalesce(heading, '')), 'A') || "
    f"setweight(to_tsvector('{PG_CONFIG}'::regconfig, coalesce(text, '')), 'B'))"
)
MAX_TERMS = 32

_TRIGGERS = ("insert", "update", "delete")


def _sqlite_row(prefix: str, titles: bool) -> str:
    if not titles:
        return (
            f"INSERT INTO {FTS_TABLE}(rowid, heading, text) VALUES ("
            f"(SELECT rid FROM {ROWIDS_TABLE} WHERE chunk_id = {prefix}.id), "
            f"coalesce({prefix}.heading, ''), coalesce({prefix}.text, ''));"
        )
    return (
        f"INSERT INTO {FTS_TABLE}(rowid, title, heading, text) VALUES ("
        f"(SELECT rid FROM {ROWIDS_TABLE} WHERE chunk_id = {prefix}.id), "
        f"coalesce({prefix}.document_title, ''), coalesce({prefix}.heading, ''), "
        f"coalesce({prefix}.text, ''));"
    )


def _sqlite_delete(prefix: str) -> str:
    return (
        f"DELETE FROM {FTS_TABLE} WHERE rowid = "
        f"(SELECT rid FROM {ROWIDS_TABLE} WHERE chunk_id = {prefix}.id);"
    )


def sqlite_ddl(*, titles: bool = True) -> list[str]:
    columns = "title, heading, text" if titles else "heading, text"
    watched = "document_title, heading, text" if titles else "heading, text"
    select = "coalesce(c.document_title, ''), " if titles else ""
    return [
        f"CREATE TABLE IF NOT EXISTS {ROWIDS_TABLE} ("
        "rid INTEGER PRIMARY KEY, chunk_id VARCHAR(36) NOT NULL UNIQUE)",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
        f"{columns}, tokenize = 'porter unicode61 remove_diacritics 2')",
        f"""CREATE TRIGGER IF NOT EXISTS kb_chunks_fts_insert AFTER INSERT ON kb_chunks
        BEGIN
          INSERT OR IGNORE INTO {ROWIDS_TABLE}(chunk_id) VALUES (new.id);
          {_sqlite_row("new", titles)}
        END""",
        f"""CREATE TRIGGER IF NOT EXISTS kb_chunks_fts_update
        AFTER UPDATE OF {watched} ON kb_chunks
        BEGIN
          {_sqlite_delete("old")}
          {_sqlite_row("new", titles)}
        END""",
        f"""CREATE TRIGGER IF NOT EXISTS kb_chunks_fts_delete AFTER DELETE ON kb_chunks
        BEGIN
          {_sqlite_delete("old")}
          DELETE FROM {ROWIDS_TABLE} WHERE chunk_id = old.id;
        END""",
        # Chunks that existed before the index.
        f"INSERT OR IGNORE INTO {ROWIDS_TABLE}(chunk_id) SELECT id FROM kb_chunks",
        f"DELETE FROM {FTS_TABLE}",
        f"INSERT INTO {FTS_TABLE}(rowid, {columns}) "
        f"SELECT r.rid, {select}coalesce(c.heading, ''), coalesce(c.text, '') "
        f"FROM kb_chunks c JOIN {ROWIDS_TABLE} r ON r.chunk_id = c.id",
    ]


def postgres_ddl(*, titles: bool = True) -> list[str]:
    document = PG_DOCUMENT if titles else PG_DOCUMENT_V1
    return [
        f"ALTER TABLE kb_chunks ADD COLUMN IF NOT EXISTS {PG_COLUMN} tsvector "
        f"GENERATED ALWAYS AS ({document}) STORED",
        f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON kb_chunks USING gin ({PG_COLUMN})",
    ]


def install(bind: sa.Connection) -> None:
    """The first full-text index over ``kb_chunks``, heading and text (migration 0001)."""
    _install(bind, titles=False)


def install_titles(bind: sa.Connection) -> None:
    """Rebuild the index with the document title (migration 0004)."""
    uninstall(bind)
    _install(bind, titles=True)


def uninstall_titles(bind: sa.Connection) -> None:
    """Back to the first index (0004's downgrade)."""
    uninstall(bind)
    install(bind)


def _install(bind: sa.Connection, *, titles: bool) -> None:
    if bind.dialect.name == "postgresql":
        statements = postgres_ddl(titles=titles)
    else:
        statements = sqlite_ddl(titles=titles)
    for statement in statements:
        bind.exec_driver_sql(statement)


def uninstall(bind: sa.Connection) -> None:
    """Drop the index (either version)."""
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(f"DROP INDEX IF EXISTS {PG_INDEX}")
        bind.exec_driver_sql(f"ALTER TABLE kb_chunks DROP COLUMN IF EXISTS {PG_COLUMN}")
        return
    for trigger in _TRIGGERS:
        bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS kb_chunks_fts_{trigger}")
    bind.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    bind.exec_driver_sql(f"DROP TABLE IF EXISTS {ROWIDS_TABLE}")


# --- queries -------------------------------------------------------------------------

# Letters and digits only: no operator, quote, underscore or NUL survives.
_TERM = re.compile(r"[^\W_]+", re.UNICODE)


def terms(query: str) -> list[str]:
    """The distinct words of a query, lower-cased, in order, at most :data:`MAX_TERMS`."""
    seen: dict[str, None] = {}
    for word in _TERM.findall(query):
        seen.setdefault(word.lower()[:64], None)
    return list(seen)[:MAX_TERMS]


def content_terms(query: str) -> list[str]:
    """:func:`terms` without stopwords ("the", "what", "how"...): those would match
    nearly every chunk."""
    return [word for word in terms(query) if word not in STOPWORDS]


@dataclass(frozen=True, slots=True)
class LexicalMatch:
    chunk_id: str
    document_id: str
    score: float  # higher is better (engine-specific scale)


async def lexical_matches(
    session: AsyncSession,
    tenant_id: str,
    query: str,
    *,
    limit: int,
    document_id: str | None = None,
) -> list[LexicalMatch]:
    """The tenant's chunks matching any word of ``query``, best first."""
    words = content_terms(query)
    if not words or limit <= 0:
        return []
    params: dict[str, object] = {"tenant_id": tenant_id, "limit": limit}
    doc_filter = ""
    if document_id is not None:
        doc_filter = " AND c.document_id = :document_id"
        params["document_id"] = document_id
    if session.get_bind().dialect.name == "postgresql":
        params["q"] = " or ".join(words)
        params["q_all"] = " ".join(words)
        # ts_rank_cd rewards repeating one word; a chunk holding every word comes first.
        statement = sa.text(
            f"SELECT c.id, c.document_id, ts_rank_cd(c.{PG_COLUMN}, q) + "
            f"CASE WHEN c.{PG_COLUMN} @@ plainto_tsquery('{PG_CONFIG}'::regconfig, :q_all) "
            "THEN 1000 ELSE 0 END AS score "
            f"FROM kb_chunks c, websearch_to_tsquery('{PG_CONFIG}'::regconfig, :q) q "
            f"WHERE c.tenant_id = :tenant_id{doc_filter} AND c.{PG_COLUMN} @@ q "
            "ORDER BY score DESC, c.id LIMIT :limit"
        )
    else:
        params["q"] = " OR ".join(f'"{w}"' for w in words)
        statement = sa.text(
            f"SELECT c.id, c.document_id, -bm25({FTS_TABLE}, 3.0, 2.0, 1.0) AS score "
            f"FROM {FTS_TABLE} f JOIN {ROWIDS_TABLE} r ON r.rid = f.rowid "
            "JOIN kb_chunks c ON c.id = r.chunk_id "
            f"WHERE {FTS_TABLE} MATCH :q AND c.tenant_id = :tenant_id{doc_filter} "
            "ORDER BY score DESC, c.id LIMIT :limit"
        )
    rows = (await session.execute(statement, params)).all()
    return [LexicalMatch(r[0], r[1], float(r[2])) for r in rows]
