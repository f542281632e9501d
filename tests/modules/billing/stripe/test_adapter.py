"""The Stripe adapter reads the invoice reference and the payer's email wherever
checkouts put them."""

from __future__ import annotations

from bizos.modules.billing.stripe.adapter import payment_from_charge, payment_from_intent
from tests.fixtures.stripe.events import charge, payment_intent


def test_the_invoice_reference_is_found_under_the_keys_people_use() -> None:
    for key in ("invoice_number", "invoice", "invoice_id", "invoiceNumber", "Invoice Number"):
        fact = payment_from_intent(payment_intent(amount="5.00", metadata={key: " inv-12 "}))
        assert fact.invoice_number == "inv-12", key
    assert (
        payment_from_intent(payment_intent(amount="5.00", metadata={"x": "1"})).invoice_number
        is None
    )


def test_the_email_is_read_from_a_named_address_in_any_case() -> None:
    meta = {"email": " Ana Costa <ANA@Example.COM> "}
    assert payment_from_intent(payment_intent(amount="5.00", metadata=meta)).customer_email == (
        "ana@example.com"
    )
    fact = payment_from_charge(charge(amount="5.00", email="  Bo@Example.org "))
    assert fact.customer_email == "bo@example.org"
    assert (
        payment_from_intent(payment_intent(amount="5.00", email="not an email")).customer_email
        is None
    )
