"""Anti-corruption layer: Stripe's event JSON in, plain payment and refund facts out.

Nothing past this file knows Stripe's field names. Stripe counts money in integer minor
units of the currency (cents; yen for zero-decimal currencies like JPY; thousandths for
the three-decimal ones) and writes currencies in lower case; the facts carry ``Decimal``
amounts quantized to the cent and upper-case ISO 4217 codes.

One payment per PaymentIntent: ``payment_intent.succeeded`` and the ``charge.succeeded``
of the same intent both name the intent id as the payment's outside id, so whichever
arrives second is recognised as the same payment. A charge without an intent (the old
Charges API) is its own payment.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from email.utils import parseaddr
from typing import Any

CENT = Decimal("0.01")
# https://docs.stripe.com/currencies#zero-decimal
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
        "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
_MAX_MINOR = 10**15


class StripeMappingError(ValueError):
    """The event does not have the shape Stripe documents for its type."""


class NotAPayment(Exception):
    """A well-formed event that records no money received (say, an uncaptured charge)."""


@dataclass(frozen=True, slots=True)
class StripeEvent:
    id: str
    type: str
    created: dt.datetime | None
    object: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PaymentFact:
    """Money received, as Stripe reported it."""

    payment_intent_id: str | None
    charge_id: str | None
    amount: Decimal
    currency: str
    customer_email: str | None
    customer_name: str | None
    invoice_number: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    received_at: dt.datetime | None = None

    @property
    def external_id(self) -> str:
        # Always set: the adapter refuses objects with neither id.
        return self.payment_intent_id or self.charge_id or ""


@dataclass(frozen=True, slots=True)
class RefundFact:
    external_id: str
    amount: Decimal
    reason: str | None


@dataclass(frozen=True, slots=True)
class ChargeRefunds:
    """A ``charge.refunded`` event: the charge (which is also the payment, in case its
    ``charge.succeeded`` has not arrived yet), the refunds it lists, and the cumulative
    amount refunded so far (Stripe may not list every refund object)."""

    payment: PaymentFact
    refunds: tuple[RefundFact, ...]
    amount_refunded: Decimal


def from_minor_units(amount: Any, currency: str) -> Decimal:
    """``amount`` integer minor units of ``currency`` as a ``Decimal`` in major units."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount < _MAX_MINOR:
        raise StripeMappingError("an amount is not a non-negative integer of minor units")
    return Decimal(amount).scaleb(-_exponent(currency)).quantize(CENT, rounding=ROUND_HALF_UP)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """The inverse of :func:`from_minor_units` (used to build test and demo events)."""
    return int(amount.scaleb(_exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _exponent(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    return 3 if code in THREE_DECIMAL_CURRENCIES else 2


def parse_event(body: bytes) -> StripeEvent:
    """The envelope of a Stripe event: ``{id, type, created, data: {object}}``."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StripeMappingError("the body is not JSON") from exc
    if not isinstance(raw, dict):
        raise StripeMappingError("the body is not a JSON object")
    event_id, event_type = raw.get("id"), raw.get("type")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 200:
        raise StripeMappingError("the event has no id")
    if not isinstance(event_type, str) or not 1 <= len(event_type) <= 100:
        raise StripeMappingError("the event has no type")
    data = raw.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    return StripeEvent(
        id=event_id,
        type=event_type,
        created=_timestamp(raw.get("created")),
        object=obj if isinstance(obj, dict) else {},
    )


def payment_from_intent(obj: Mapping[str, Any]) -> PaymentFact:
    """A succeeded PaymentIntent."""
    intent_id = _id(obj, "pi_")
    if obj.get("status") not in (None, "succeeded"):
        raise NotAPayment(f"the payment intent is {obj.get('status')}")
    charge = _latest_charge(obj)
    charge_id = _ref(obj.get("latest_charge")) or (_ref(charge) if charge else None)
    return _payment_fact(obj, "amount_received", charge, intent_id, charge_id)


def payment_from_charge(obj: Mapping[str, Any]) -> PaymentFact:
    """A succeeded, captured Charge (with or without a PaymentIntent)."""
    charge_id = _id(obj, "ch_", "py_")
    if obj.get("status") not in (None, "succeeded"):
        raise NotAPayment(f"the charge is {obj.get('status')}")
    if obj.get("captured") is False:
        raise NotAPayment("the charge is authorised but not captured")
    return _payment_fact(obj, "amount_captured", obj, _ref(obj.get("payment_intent")), charge_id)


def _payment_fact(
    obj: Mapping[str, Any],
    moved: str,
    charge: Mapping[str, Any] | None,
    intent_id: str | None,
    charge_id: str | None,
) -> PaymentFact:
    """The money of a PaymentIntent or Charge ``obj``: its ``moved`` amount (received or
    captured; else ``amount``), with the payer found on it or on ``charge``."""
    currency = _currency(obj)
    amount = obj.get(moved)
    if not (isinstance(amount, int) and amount > 0):
        amount = obj.get("amount")
    metadata = _metadata(obj)
    return PaymentFact(
        payment_intent_id=intent_id,
        charge_id=charge_id,
        amount=_positive(from_minor_units(amount, currency)),
        currency=currency,
        customer_email=_email(obj, charge, metadata),
        customer_name=_name(obj, charge, metadata),
        invoice_number=_invoice_number(metadata),
        metadata=metadata,
        received_at=_timestamp(obj.get("created")),
    )


def refunds_from_charge(obj: Mapping[str, Any]) -> ChargeRefunds:
    """A refunded Charge: the refunds it lists and the total refunded."""
    payment = payment_from_charge({**obj, "status": "succeeded"})
    refunds: list[RefundFact] = []
    listed = obj.get("refunds")
    items = listed.get("data") if isinstance(listed, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("status") not in (None, "succeeded"):
            continue
        refund_id = _opt_str(item.get("id"))
        if not refund_id:
            continue
        refunds.append(
            RefundFact(
                external_id=refund_id,
                amount=from_minor_units(item.get("amount"), payment.currency),
                reason=_opt_str(item.get("reason")),
            )
        )
    total = from_minor_units(obj.get("amount_refunded", 0), payment.currency)
    return ChargeRefunds(payment=payment, refunds=tuple(refunds), amount_refunded=total)


# --- helpers ----------------------------------------------------------------------------


def _opt_str(value: Any, limit: int = 320) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def _id(obj: Mapping[str, Any], *prefixes: str) -> str:
    value = _opt_str(obj.get("id"), 100)
    if value is None or not value.startswith(prefixes):
        raise StripeMappingError(f"the object has no {' or '.join(prefixes)} id")
    return value


def _ref(value: Any) -> str | None:
    """An id, whether Stripe sent it bare or as an expanded object."""
    if isinstance(value, Mapping):
        return _opt_str(value.get("id"), 100)
    return _opt_str(value, 100)


def _currency(obj: Mapping[str, Any]) -> str:
    value = obj.get("currency")
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise StripeMappingError("the object has no currency")
    return value.upper()


def _positive(amount: Decimal) -> Decimal:
    if amount <= 0:
        raise NotAPayment("no money was received")
    return amount


def _timestamp(value: Any) -> dt.datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**11:
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    return None


def _metadata(obj: Mapping[str, Any]) -> dict[str, str]:
    raw = obj.get("metadata")
    if not isinstance(raw, dict):
        return {}
    # Stripe metadata is at most 50 string pairs; anything else is dropped.
    return {str(k)[:40]: str(v)[:500] for k, v in list(raw.items())[:50] if v is not None}


def _latest_charge(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    latest = obj.get("latest_charge")
    if isinstance(latest, dict):
        return latest
    charges = obj.get("charges")  # API versions before 2022-11-15 embed the charges
    items = charges.get("data") if isinstance(charges, dict) else None
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return None


def _billing_details(charge: Mapping[str, Any] | None) -> Mapping[str, Any]:
    details = charge.get("billing_details") if charge else None
    return details if isinstance(details, dict) else {}


def _email(
    obj: Mapping[str, Any], charge: Mapping[str, Any] | None, metadata: Mapping[str, str]
) -> str | None:
    customer = obj.get("customer")
    for value in (
        obj.get("receipt_email"),
        _billing_details(charge).get("email"),
        charge.get("receipt_email") if charge else None,
        customer.get("email") if isinstance(customer, dict) else None,
        metadata.get("customer_email"),
        metadata.get("email"),
    ):
        email = _address(value)
        if email:
            return email
    return None


def _address(value: Any) -> str | None:
    """``" Ana@Example.COM "`` or ``"Ana Costa <ana@example.com>"`` -> the lower-case
    address; ``None`` when there is none."""
    text = _opt_str(value)
    if text is None:
        return None
    _, address = parseaddr(text)
    address = address.strip().lower()
    return address if "@" in address and " " not in address else None


def _name(
    obj: Mapping[str, Any], charge: Mapping[str, Any] | None, metadata: Mapping[str, str]
) -> str | None:
    customer = obj.get("customer")
    shipping = obj.get("shipping")
    for value in (
        _billing_details(charge).get("name"),
        customer.get("name") if isinstance(customer, dict) else None,
        shipping.get("name") if isinstance(shipping, dict) else None,
        metadata.get("customer_name"),
    ):
        name = _opt_str(value, 200)
        if name:
            return name
    return None


# Metadata keys checkout plugins and people use for our invoice number, compared with
# case, spaces, dashes and underscores ignored ("Invoice Number", "invoiceNumber", ...).
_INVOICE_KEYS = (
    "invoicenumber",
    "invoice",
    "invoiceno",
    "invoicenr",
    "invoiceid",
    "invoiceref",
    "invoicereference",
)


def _squash_key(key: str) -> str:
    return "".join(c for c in key.lower() if c.isalnum())


def _invoice_number(metadata: Mapping[str, str]) -> str | None:
    """The invoice reference as written (trimmed); the payments matcher reads it."""
    by_key = {_squash_key(k): v for k, v in metadata.items()}
    for key in _INVOICE_KEYS:
        value = _opt_str(by_key.get(key), 100)
        if value:
            return value
    return None
