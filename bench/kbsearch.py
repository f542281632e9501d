"""Knowledge search quality and latency, in process, over the demo's knowledge base.

    .venv/bin/python bench/kbsearch.py [--repeat 300] [--database-url URL]

Migrates a fresh SQLite database (or the PostgreSQL one given), indexes the demo's
documents (policies, FAQs, brew guide, privacy notice, the supply-agreement PDF) plus an
"Opening hours" and a "Vacation policy" page in one workspace, and asks labelled
questions (each with the document that answers it) and unrelated ones. Prints:

- top-1: how often the answering document comes first;
- the score of the right answer (min, p10, median) and the best unrelated score: a
  threshold must sit between them (``termvectors.MIN_RELEVANCE``);
- p50/p95 of ``service.search`` (limit 5, results as the HTTP search shows them), the
  fitted corpus cached as in a server.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from _server import percentile

from bizos.ai.termvectors import MIN_RELEVANCE
from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.db import Database, set_database
from bizos.demo.knowledge import DOCUMENTS, contract_pdf
from bizos.migrate import migrate_sync
from bizos.modules.identity import service as identity
from bizos.modules.knowledge.documents import service
from bizos.modules.knowledge.documents.index import corpus_index
from bizos.registry import install_ports

AGREEMENT = "Supply agreement — Finca La Esperanza"
EXTRA = [
    (
        "Opening hours",
        "Our roastery shop and cafe are open Monday to Friday 8:00-18:00 and Saturday "
        "9:00-14:00. Closed on Sundays and public holidays.",
    ),
    (
        "Vacation policy",
        "Every employee gets 25 days of paid leave a year plus public holidays. Ask your "
        "manager at least two weeks ahead; up to 5 unused days carry over.",
    ),
]
LABELLED = [
    ("opening hours", "Opening hours"),
    ("when are you open on saturday", "Opening hours"),
    ("vacaton polcy", "Vacation policy"),
    ("how many holiday days do staff get", "Vacation policy"),
    ("how long does a refund take", "Returns and refunds"),
    ("can I return an opened bag", "Returns and refunds"),
    ("I want my money back", "Returns and refunds"),
    ("restocking fee", "Returns and refunds"),
    ("when do you ship", "Shipping and delivery"),
    ("my parcel is lost", "Shipping and delivery"),
    ("delivery cost to the UK", "Shipping and delivery"),
    ("shiping costs", "Shipping and delivery"),
    ("pause my subscription", "Subscription FAQ"),
    ("cancel subscription", "Subscription FAQ"),
    ("skip a delivery", "Subscription FAQ"),
    ("minimum order for cafes", "Wholesale terms"),
    ("payment terms for wholesale", "Wholesale terms"),
    ("grinder broken warranty", "Equipment warranty"),
    ("how long is the warranty", "Equipment warranty"),
    ("waranty claim", "Equipment warranty"),
    ("espresso recipe", "Brew guide"),
    ("how to store beans", "Brew guide"),
    ("coffee tastes too bitter", "Brew guide"),
    ("delete my data", "Privacy notice"),
    ("do you sell my personal data", "Privacy notice"),
    ("when does the supply agreement renew", AGREEMENT),
    ("green coffee price per kg", AGREEMENT),
    ("notice of non-renewal", AGREEMENT),
]
UNRELATED = [
    "what's the weather in paris",
    "bitcoin mining rig",
    "quarterly tax filing deadline",
    "football scores tonight",
    "how tall is mount everest",
    "xylophone quokka",
    "best pizza recipe",
    "kubernetes cluster autoscaling",
    "what is my revenue this month",
    "who won the election",
]


async def _index(db: Database) -> Context:
    async with db.unit_of_work(system=True) as session:
        tenant = await identity.create_tenant(
            session, Context(actor_type="system", actor_id="bench"), name="Bench", slug="bench"
        )
    ctx = Context(tenant_id=tenant.id, actor_type="system", actor_id="bench")
    async with db.unit_of_work(tenant_id=tenant.id) as session:
        for title, content, content_type, tags in DOCUMENTS:
            await service.create_document(
                session, ctx, title=title, content=content, content_type=content_type, tags=tags
            )
        for title, content in EXTRA:
            await service.create_document(
                session, ctx, title=title, content=content, content_type="text/plain"
            )
        await service.create_document(
            session,
            ctx,
            title=AGREEMENT,
            content=contract_pdf(dt.date.today()),
            content_type="application/pdf",
        )
    return ctx


async def _quality(db: Database, ctx: Context) -> None:
    top1 = 0
    right: list[float] = []
    async with db.unit_of_work(tenant_id=ctx.require_tenant(), readonly=True) as session:
        for question, expected in LABELLED:
            hits = await service.search(
                session, ctx, question, limit=50, min_score=service.RELEVANT
            )
            top1 += bool(hits) and hits[0].title == expected
            right.append(max((h.score for h in hits if h.title == expected), default=0.0))
        # Their hits are dropped by the threshold: the margin is read from the space.
        corpus = await corpus_index().corpus(
            session, ctx.require_tenant(), service.default_embedder()
        )
        unrelated = [float(corpus.space.similarities(q).max()) for q in UNRELATED]
        kept = [
            q
            for q in UNRELATED
            if await service.search(session, ctx, q, limit=5, min_score=service.RELEVANT)
        ]
    print(f"top-1            {top1}/{len(LABELLED)} labelled questions")
    print(
        f"right answer     min {min(right):.3f}  p10 {percentile(right, 10):.3f}  "
        f"median {statistics.median(right):.3f}  (0.000 = dropped under the threshold)"
    )
    print(
        f"unrelated best   {max(unrelated):.3f}  (threshold {MIN_RELEVANCE}; "
        f"{len(kept)} of {len(UNRELATED)} unrelated questions got a hit)"
    )


async def _latency(db: Database, ctx: Context, repeat: int) -> None:
    questions = [q for q, _ in LABELLED] + UNRELATED
    timings: list[float] = []
    async with db.unit_of_work(tenant_id=ctx.require_tenant(), readonly=True) as session:
        for i in range(repeat):
            started = time.perf_counter()
            question = questions[i % len(questions)]
            await service.search(session, ctx, question, limit=5, min_score=service.RELEVANT)
            timings.append(1000 * (time.perf_counter() - started))
    print(
        f"search latency   p50 {percentile(timings, 50):.2f} ms  "
        f"p95 {percentile(timings, 95):.2f} ms  ({repeat} searches)"
    )


async def run(url: str, repeat: int) -> None:
    install_ports()
    settings = get_settings().model_copy(update={"database_url": url})
    db = Database(settings.resolved_database_url(), app_role=settings.db_app_role)
    set_database(db)
    try:
        ctx = await _index(db)
        await _quality(db, ctx)
        await _latency(db, ctx, repeat)
    finally:
        set_database(None)
        await db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=300)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'kb.db'}"
    migrate_sync(url)
    asyncio.run(run(url, args.repeat))


if __name__ == "__main__":
    main()
