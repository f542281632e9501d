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


def test_take_page_sets_the_cursor_only_when_more_rows_follow() -> None:
    params = PageParams(limit=2)
    items, cursor = take_page(["a", "b", "c"], params, key=str)
    assert items == ["a", "b"]
    assert cursor is not None and decode_cursor(cursor) == "b"
    assert take_page(["a", "b"], params, key=str) == (["a", "b"], None)
