"""A vocabulary as large as the demo tenant's: its catalogue, its 37 cafés and contacts
made of its first and last names (many sharing a first name)."""

from __future__ import annotations

from bizos.demo.commerce.catalogue import CATALOGUE
from bizos.demo.crm.data import CAFE_NAMES, FIRST_NAMES, LAST_NAMES
from bizos.modules.copilot.vocabulary import Named, Vocabulary

DEMO_VOCAB = Vocabulary(
    products=[Named(f"p{i}", item.name, (item.sku,)) for i, item in enumerate(CATALOGUE)],
    companies=[Named(f"co{i}", name) for i, name in enumerate(CAFE_NAMES)],
    contacts=[
        Named(
            f"c{i}", f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i * 7) % len(LAST_NAMES)]}"
        )
        for i in range(120)
    ],
    users=[Named("u1", "Sam Owner"), Named("u2", "Jordan Lee")],
    currencies=["USD"],
    categories=["green coffee", "packaging", "shipping", "marketing", "rent", "software"],
)
