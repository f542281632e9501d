"""Money: amounts in a currency's minor unit of two decimals, rounded half up.

The one home for rounding money. ``cents`` gives the amount to compute with; ``text``
gives the string the API and events carry (``"12.50"``), so a figure reads the same in
every module.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal | int | str | float) -> Decimal:
    """``value`` rounded half up to the cent (floats go through their shortest text)."""
    amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def text(value: Decimal | int | str | float) -> str:
    """The amount as the API writes it: ``"12.50"``."""
    return str(cents(value))


_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "AUD": "A$", "CAD": "C$"}


def spoken(value: Decimal | int | str | float, currency: str | None) -> str:
    """The amount as an answer writes it: ``$24,580.00``, ``€12.50``, ``1,200.00 SEK``."""
    amount = f"{cents(value):,.2f}"
    negative = amount.startswith("-")
    amount = amount.lstrip("-")
    code = (currency or "").upper()
    sign = "-" if negative else ""
    if code in _SYMBOLS:
        return f"{sign}{_SYMBOLS[code]}{amount}"
    return f"{sign}{amount} {code}".rstrip()
