"""Our verifier against Stripe's own library: what it signs we accept, what it rejects
we reject."""

from __future__ import annotations

import time

import pytest
import stripe

from bizos.modules.billing.stripe.signature import (
    SignatureError,
    compute_signature,
    parse_header,
    verify_signature,
)
from tests.fixtures.stripe.events import dumps, event, payment_intent, sign

SECRET = "whsec_unit_test"
NOW = 1_764_000_000


def body() -> str:
    return dumps(event("payment_intent.succeeded", payment_intent(amount="9.99")))


def test_a_header_from_stripes_library_verifies() -> None:
    payload = body()
    header = sign(payload, SECRET, timestamp=NOW)
    assert verify_signature(payload.encode(), header, SECRET, now=NOW + 10) == NOW


def test_what_we_compute_is_what_stripes_library_checks() -> None:
    payload = body()
    now = int(time.time())
    header = f"t={now},v1={compute_signature(payload.encode(), SECRET, now)}"
    constructed = stripe.Webhook.construct_event(payload, header, SECRET)
    assert constructed["type"] == "payment_intent.succeeded"


def test_non_ascii_bodies_are_signed_over_their_utf8_bytes() -> None:
    payload = body().replace("null", '"Zoë Müller"', 1)
    header = sign(payload, SECRET, timestamp=NOW)
    verify_signature(payload.encode("utf-8"), header, SECRET, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, 10_000])
def test_timestamps_outside_the_tolerance_are_refused(skew: int) -> None:
    payload = body()
    header = sign(payload, SECRET, timestamp=NOW)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature(payload.encode(), header, SECRET, now=NOW + skew)


def test_the_tolerance_is_configurable() -> None:
    payload = body()
    header = sign(payload, SECRET, timestamp=NOW)
    verify_signature(payload.encode(), header, SECRET, now=NOW + 500, tolerance=600)
    with pytest.raises(SignatureError):
        verify_signature(payload.encode(), header, SECRET, now=NOW + 500, tolerance=300)


def test_any_one_of_several_v1_signatures_may_match_and_other_schemes_are_ignored() -> None:
    payload = body()
    good = sign(payload, SECRET, timestamp=NOW).split("v1=")[1]
    header = f"t={NOW},v0={good},v1={'0' * 64},v1={good.upper()},x=1"
    verify_signature(payload.encode(), header, SECRET, now=NOW)
    with pytest.raises(SignatureError):  # a valid digest under v0 alone proves nothing
        verify_signature(payload.encode(), f"t={NOW},v0={good}", SECRET, now=NOW)


@pytest.mark.parametrize(
    "header",
    [None, "", "t=", "v1=abc", f"t={NOW}", "t=-5,v1=ab", "t=1e9,v1=ab", "x" * 5000, "t=1,v1=é"],
)
def test_malformed_headers_are_refused(header: str | None) -> None:
    with pytest.raises(SignatureError):
        verify_signature(body().encode(), header, SECRET, now=NOW)


def test_no_secret_verifies_nothing() -> None:
    payload = body()
    with pytest.raises(SignatureError):
        verify_signature(payload.encode(), sign(payload, "", timestamp=NOW), "", now=NOW)


def test_parse_keeps_the_timestamp_and_every_v1() -> None:
    parsed = parse_header("t=12, v1=AA ,v1=bb,v0=cc")
    assert parsed.timestamp == 12 and parsed.signatures == ("aa", "bb")
