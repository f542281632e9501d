"""A small tenant vocabulary and a fixed day for the parser's tests."""

from __future__ import annotations

import datetime as dt

from bizos.modules.copilot.vocabulary import Named, Vocabulary

TODAY = dt.date(2026, 12, 7)  # a Monday

VOCAB = Vocabulary(
    products=[
        Named("p-eth-250", "Ethiopia Yirgacheffe 250 g", ("NW-ETH-YIRG-250",)),
        Named("p-eth-1k", "Ethiopia Yirgacheffe 1 kg", ("NW-ETH-YIRG-1K",)),
        Named("p-esp-250", "House Espresso Blend 250 g", ("NW-HOUSE-ESP-250",)),
        Named("p-grinder", "Conical Burr Grinder", ("NW-EQ-GRINDER",)),
        Named("p-kettle", "Gooseneck Kettle 1 L", ("NW-EQ-KETTLE",)),
        Named("p-dripper", "Ceramic Pour-Over Dripper", ("NW-EQ-DRIPPER",)),
    ],
    contacts=[
        Named("c-dana", "Dana Whitfield", ("dana@acme.test",)),
        Named("c-marco", "Marco Rossi"),
        Named("c-priya", "Priya Shah"),
    ],
    companies=[
        Named("co-acme", "Acme Corp", ("Acme",)),
        Named("co-daily", "The Daily Grind"),
        Named("co-heron", "Blue Heron Café"),
    ],
    users=[Named("u-sam", "Sam Owner")],
    currencies=["USD", "EUR"],
    default_currency="USD",
    timezone="America/New_York",
    categories=["marketing", "rent", "shipping", "green coffee", "packaging", "software"],
)
