"""Cursor helpers: opaque round trips, refusal of anything we did not issue."""

from __future__ import annotations

import pytest

from bizos.core.errors import Unprocessable
from bizos.core.pagination import PageParams, decode_cursor, encode_cursor, take_page


def test_cursor_round_trips_an_id() -> None:
    key = "01a200ac-972c-7669-a48d-730c657a9d91"
    assert decode_cursor(encode_cursor(key)) == key
    assert key not in encode_cursor(key)


@pytest.mark.parametrize("cursor", ["%%%", "", encode_cursor("a") + "!", "AAEC"])
def test_foreign_cursors_are_422_at_query_cursor(cursor: str) -> None:
    with pytest.raises(Unprocessable) as caught:
        decode_cursor(cursor)
    assert caught.value.errors == [{"loc": ["query", "cursor"], "msg": "invalid cursor"}]


def test_a_well_formed_cursor_we_did_not_issue_is_refused() -> None:
    """Base64 of a plausible key, or a real cursor's key with another key's tag, is 422:
    a forged cursor must not quietly shift the page."""
    issued = encode_cursor("01a200ac-972c-7669-a48d-730c657a9d91")
    other = encode_cursor("01a200ac-0000-7669-a48d-730c657a9d91")
    forged = [
        "YWJj",  # base64 of "abc", no tag
        "YWJj.AAAAAAAAAAAA",
        other.partition(".")[0] + "." + issued.partition(".")[2],
    ]
    for cursor in forged:
        with pytest.raises(Unprocessable):
            decode_cursor(cursor)


def test_take_page_sets_the_cursor_only_when_more_rows_follow() -> None:
    params = PageParams(limit=2)
    items, cursor = take_page(["a", "b", "c"], params, key=str)
    assert items == ["a", "b"]
    assert cursor is not None and decode_cursor(cursor) == "b"
    assert take_page(["a", "b"], params, key=str) == (["a", "b"], None)
