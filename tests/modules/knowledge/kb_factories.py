"""Factories for knowledge-base tests: real PDFs (fpdf2), realistic HTML and Markdown,
and reading back what the service stored."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from fpdf import FPDF

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.knowledge.documents.models import KbChunk


def make_pdf(
    pages: Sequence[str], *, title: str | None = None, user_password: str | None = None
) -> bytes:
    """A real PDF with one page per text (Helvetica, wrapped), optionally encrypted."""
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=user_password)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


RETURNS_MD = """# Customer handbook

Everything our customers ask about, in one place.

## Returns

You may return any unused item within 30 days of delivery.

### Refunds

We refund the purchase price to the original card within 5 business days after the
returned parcel reaches our warehouse. Gift cards are refunded as store credit.

### Exchanges

Swap a size or colour free of charge; the replacement ships when we receive the original.

## Shipping

Orders leave our warehouse in Leeds within one working day. Express delivery arrives
the next day when ordered before 2 pm.

# Opening hours

The support line is open Monday to Friday, 9 am to 5 pm.
"""

NAV_JUNK_HTML = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Warranty terms</title>
<style>body { font-family: sans-serif }</style>
<script>window.tracking = "cookiebanner-nav-junk";</script></head>
<body>
<header class="site-header"><nav><ul><li><a href="/">Home</a></li>
<li><a href="/shop">Shop everything</a></li><li><a href="/blog">Blog</a></li></ul></nav></header>
<div id="cookie-consent">We use cookies to improve your experience. Accept all cookies?</div>
<nav aria-label="breadcrumb">Home / Legal / Warranty</nav>
<main>
  <article>
    <h1>Warranty terms</h1>
    <p>Every kettle carries a <strong>two year</strong> warranty against manufacturing
    defects.</p>
    <h2>How to claim</h2>
    <ol><li>Photograph the defect.</li><li>Email the photo with your order number.</li></ol>
    <h3>Claims outside the EU</h3>
    <p>Claims from outside the EU are handled by our partner in Zurich.</p>
  </article>
  <aside class="sidebar">Related: our bestselling teapots</aside>
</main>
<footer><p>Copyright 2024 Kettle Co. All rights reserved.</p><a href="/privacy">Privacy</a></footer>
<script>console.log("footer script")</script>
</body></html>
"""


async def stored_chunks(db: Database, tenant_id: str, document_id: str) -> list[KbChunk]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        rows = await s.scalars(
            sa.select(KbChunk).where(KbChunk.document_id == document_id).order_by(KbChunk.ordinal)
        )
        return list(rows)


async def events_of(db: Database, tenant_id: str, type_: str) -> list[Event]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        rows = await s.scalars(
            sa.select(Event)
            .where(Event.tenant_id == tenant_id, Event.type == type_)
            .order_by(Event.sequence)
        )
        return list(rows)


def ctx_of(tenant_id: str, **kw: Any) -> Context:
    return Context(tenant_id=tenant_id, actor_type="user", actor_id="u-test", **kw)
