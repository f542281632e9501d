"""The demo tenant's knowledge base: policies, FAQs, a brewing guide and a supply
contract (a real PDF, tagged ``contract`` so its terms are extracted when the workers
start).

The contract's dates are relative to today, so the renewal-notice task it yields lands
in the future whenever the demo is made.
"""

from __future__ import annotations

import datetime as dt
import random

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.knowledge.documents import service

RETURNS = """# Returns and refunds

We want every bag to be the best coffee you have had this week. If it is not, tell us.

## Coffee

- Unopened bags can be returned within **30 days** of delivery for a full refund.
- Opened bags: if a coffee tastes wrong (stale, over-roasted, not what the label says),
  we replace it or refund it within **14 days** of delivery. Please keep the bag; we may
  ask for a photo of the roast date.

## Equipment

- Grinders, kettles and brewers can be returned unused in their original packaging
  within 30 days. A 10% restocking fee applies to opened equipment boxes.
- Faulty equipment is covered by the warranty (see *Equipment warranty*), not by returns.

## Refunds

We check a returned item within 2 business days of its arriving at our warehouse and
approve the refund the same day. Refunds go back to the original payment method within
5 business days of our approving them. Card refunds can take another 3-5 days to show on
your statement.

## How to return

Email support@northwind.example with your order number. We send a prepaid return label
for faulty or wrong items; for change-of-mind returns the customer pays return postage.
"""

SHIPPING = """# Shipping and delivery

## When we ship

We roast on Monday, Wednesday and Friday and ship the same afternoon. Orders placed
before 11:00 (Berlin time) on a roast day go out that day.

## Costs and times

| Destination | Cost | Typical time |
| --- | --- | --- |
| Germany | free over EUR 35, else EUR 4.90 | 1-2 business days |
| EU | EUR 9.90 | 3-5 business days |
| UK and Switzerland | EUR 14.90 | 4-7 business days, duties paid by the customer |

## Tracking and lost parcels

Every parcel has tracking; the link is in your shipping email. If tracking has not moved
for **5 business days**, contact us and we open a claim with the carrier and send a
replacement straight away — you do not have to wait for the claim.

## Damaged parcels

If a parcel arrives damaged (a crushed box, a split bag), photograph the box and the
contents and email them within 7 days. We replace damaged coffee and equipment at no cost.
"""

SUBSCRIPTIONS = """# Subscription FAQ

**How often will my coffee arrive?** Every 1, 2 or 4 weeks — you choose, and you can
change it any time before the next roast day.

**Can I pause or skip a delivery?** Yes. Pause for up to 3 months or skip the next
delivery from your account page, or email us before 09:00 on the roast day.

**How do I cancel?** Cancel any time from your account page or by email. There is no
cancellation fee and no minimum term. A delivery already roasted is still sent and
charged.

**Can I change the coffee?** Yes: pick a single origin, the house espresso or "roaster's
choice", which changes every month.

**When am I charged?** On the roast day of each delivery. If a payment fails we retry
twice over 4 days and email you before pausing the subscription.
"""

WHOLESALE = """# Wholesale terms for cafes and offices

- Minimum order: 5 kg per delivery. Prices are per kilogram and exclude VAT.
- Payment terms: 30 days from invoice for accounts older than three months; new accounts
  pay on order for their first three deliveries.
- Late payment: we send reminders at 1, 7 and 14 days overdue and may hold deliveries
  once an invoice is 30 days overdue.
- Free barista training (2 hours) for every new cafe account, and a grinder on loan for
  accounts ordering over 20 kg a month.
- Price changes are announced 60 days in advance by email.

## Late or missed deliveries

Wholesale deliveries arrive before 10:00 on the agreed day. If a delivery has not come by
then and you need coffee urgently, call the wholesale line on +49 30 5550 1234: we send an
emergency delivery by same-day courier within Berlin (next day elsewhere) and credit its
shipping to your account.
"""

COFFEES = """# Our coffees

## Single origins and blends

We roast single origins from Ethiopia, Colombia, Guatemala, Brazil, Sumatra and Kenya,
and the House Espresso Blend. Every coffee comes in two bag sizes, 250 g and 1 kg, as
whole beans or ground to order.

## Decaf

Yes, we sell decaf: the Decaf Colombia (Swiss Water) is decaffeinated by the Swiss Water
process, with water only and no chemical solvents. It is a medium roast with notes of
toffee and plum, and costs EUR 15.50 for 250 g. It is also available in the
subscription.

## Freshness

Every bag shows its roast date. We ship within two days of roasting, and coffee is at
its best from one to six weeks after the roast date.
"""

WARRANTY = """# Equipment warranty

Grinders and brewers we sell carry a **2-year warranty** from the delivery date against
defects in materials and workmanship. Burrs, seals and glass are wear parts and are
covered for 6 months.

To claim, email support@northwind.example with the order number, a description of the
fault and, if you can, a short video. We repair, replace or refund — repairs are usually
back with you within 10 business days. The warranty does not cover descaling damage,
commercial use of home machines, or drops.
"""

BREW_GUIDE = """<html><head><title>Brew guide</title></head><body>
<nav><a href="/">Shop</a> | <a href="/blog">Blog</a> | <a href="/cart">Cart</a></nav>
<h1>Brew guide</h1>
<h2>Filter (V60, Chemex)</h2>
<p>Use 60 g of coffee per litre of water at 93-96 &deg;C, ground medium-fine. Bloom with
twice the coffee's weight in water for 40 seconds, then pour in slow circles. Total time
3 to 4 minutes. Too bitter? Grind coarser. Too sour or thin? Grind finer.</p>
<h2>Espresso</h2>
<p>Start at 18 g in, 36 g out in 27-32 seconds. Our espresso roasts are best 7 to 21
days after the roast date; rest them a week before pulling shots.</p>
<h2>Storing coffee</h2>
<p>Keep beans in the resealable bag, away from light and heat. Do not refrigerate.
Freeze only in airtight, single-use portions.</p>
<footer>&copy; Northwind Coffee Roasters</footer>
</body></html>
"""

PRIVACY = """Privacy notice (summary)

We keep the details you give us (name, email, delivery address, order history) to
deliver orders and run your account. Payments are handled by our payment processor; we
never see or store full card numbers. You can ask for a copy of your data or for its
deletion at privacy@northwind.example; we answer within 30 days. We do not sell data.
"""

DOCUMENTS: list[tuple[str, str, str, list[str]]] = [
    ("Returns and refunds", RETURNS, "text/markdown", ["policy", "returns"]),
    ("Shipping and delivery", SHIPPING, "text/markdown", ["policy", "shipping"]),
    ("Subscription FAQ", SUBSCRIPTIONS, "text/markdown", ["faq", "subscriptions"]),
    ("Wholesale terms", WHOLESALE, "text/markdown", ["policy", "wholesale"]),
    ("Our coffees", COFFEES, "text/markdown", ["products", "coffee"]),
    ("Equipment warranty", WARRANTY, "text/markdown", ["policy", "warranty"]),
    ("Brew guide", BREW_GUIDE, "text/html", ["guide"]),
    ("Privacy notice", PRIVACY, "text/plain", ["policy", "privacy"]),
]


def _months_later(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    return dt.date(day.year + index // 12, index % 12 + 1, 1)


def _long(day: dt.date) -> str:
    return f"{day.day} {day.strftime('%B')} {day.year}"


def contract_terms(today: dt.date) -> dict[str, dt.date]:
    """The supply contract's dates: started four months ago, runs 18 months, renews
    unless notice is given 90 days before its end."""
    start = _months_later(today.replace(day=1), -4)
    end = _months_later(start, 18) - dt.timedelta(days=1)
    return {"start": start, "end": end, "notice": end - dt.timedelta(days=90)}


def contract_pdf(today: dt.date) -> bytes:
    """A green-coffee supply agreement as a PDF (text set in Helvetica, so it extracts)."""
    terms = contract_terms(today)
    paragraphs = [
        ("GREEN COFFEE SUPPLY AGREEMENT", ""),
        (
            "",
            f'This Supply Agreement (the "Agreement") is made on {_long(terms["start"])} '
            "between Finca La Esperanza Export S.A., a company registered in Huila, "
            'Colombia (the "Supplier"), and Northwind Coffee Roasters GmbH, Berlin, '
            'Germany (the "Buyer").',
        ),
        (
            "1. Supply",
            "The Supplier shall supply washed Caturra and Castillo green coffee, screen "
            "15 and above, specialty grade (SCA 84+), in 69 kg GrainPro-lined jute bags, "
            "delivered FOB Cartagena.",
        ),
        (
            "2. Price and volume",
            "The Buyer commits to purchase 12,000 kg per contract year at a fixed price "
            "of USD 7.40 per kg, a total of USD 88,800 per contract year, payable within "
            "30 days of the bill of lading. A quality premium of USD 0.35 per kg applies "
            "to lots cupping at 86 points or above.",
        ),
        (
            "3. Term",
            f"This Agreement commences on {_long(terms['start'])} and continues until "
            f'{_long(terms["end"])} (the "Initial Term").',
        ),
        (
            "4. Renewal",
            "Upon expiry of the Initial Term this Agreement shall automatically renew "
            "for successive periods of twelve (12) months unless either party gives the "
            "other written notice of non-renewal at least ninety (90) days before the "
            "end of the then-current term.",
        ),
        (
            "5. Termination",
            "Either party may terminate this Agreement for material breach that is not "
            "remedied within thirty (30) days of written notice of the breach.",
        ),
        (
            "6. Quality claims",
            "The Buyer may reject a lot within 21 days of arrival if a pre-shipment "
            "sample approved by the Buyer does not match the delivered coffee.",
        ),
        (
            "7. Governing law",
            "This Agreement is governed by the laws of Germany. Disputes are settled "
            "by the courts of Berlin.",
        ),
        (
            "",
            "Signed for the Supplier: Alejandro Ruiz, Export Director. Signed for the "
            "Buyer: Olivia Brandt, Managing Director.",
        ),
    ]
    pdf = FPDF(format="A4")
    pdf.set_title("Green coffee supply agreement")
    pdf.add_page()
    for heading, text in paragraphs:
        if heading:
            pdf.set_font("Helvetica", "B", 12)
            pdf.multi_cell(0, 7, heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if text:
            pdf.set_font("Helvetica", "", 11)
            pdf.multi_cell(0, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(2)
    return bytes(pdf.output())


async def seed_knowledge_base(session: AsyncSession, ctx: Context, rng: random.Random) -> None:
    """The demo's documents, indexed; the contract's terms are extracted by the workers
    from its ``kb.document.created`` event."""
    for title, content, content_type, tags in DOCUMENTS:
        await service.create_document(
            session, ctx, title=title, content=content, content_type=content_type, tags=tags
        )
    today = dt.date.today()
    await service.create_document(
        session,
        ctx,
        title="Supply agreement — Finca La Esperanza",
        content=contract_pdf(today),
        content_type="application/pdf",
        filename="finca-la-esperanza-supply-agreement.pdf",
        tags=["contract", "supplier"],
    )
