"""Knowledge search: titles indexed, the embedder recorded

Revision ID: 0004_kbsearch
Revises: 0003_copilot

* ``kb_chunks.document_title``: the document's title on each of its chunks (filled from
  ``kb_documents``), so full text and vectors weigh it; the full-text index is rebuilt
  with it (SQLite FTS5 table and triggers, PostgreSQL stored ``tsvector``).
* The embedder is recorded per vector in ``kb_chunks.embedding_model`` and
  ``support_ticket_vectors.embedding_model`` (as before). Chunk vectors of the old
  hashing embedder are left in place: a search computes the new ones for what it reads
  and the next write of the tenant's knowledge base stores them
  (``knowledge.documents.service.reembed_stale``). Precedent vectors of resolved tickets
  are cheap to remake and are dropped here; drafts embed them again on first use.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_kbsearch"
down_revision = "0003_copilot"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from bizos.modules.knowledge.documents import search as kb_search

    with op.batch_alter_table("kb_chunks") as batch:
        batch.add_column(sa.Column("document_title", sa.String(length=300), nullable=True))
    op.execute(
        "UPDATE kb_chunks SET document_title = "
        "(SELECT d.title FROM kb_documents d WHERE d.id = kb_chunks.document_id)"
    )
    kb_search.install_titles(op.get_bind())
    op.execute("DELETE FROM support_ticket_vectors WHERE embedding_model = 'local-hash-384'")


def downgrade() -> None:
    from bizos.modules.knowledge.documents import search as kb_search

    kb_search.uninstall(op.get_bind())
    with op.batch_alter_table("kb_chunks") as batch:
        batch.drop_column("document_title")
    kb_search.install(op.get_bind())
