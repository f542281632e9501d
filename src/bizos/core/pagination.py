"""Cursor pagination: opaque cursors, the ``limit``/``cursor`` query parameters, the page.

A cursor is the URL-safe base64 of the sort key of the last item a page returned (for
most lists, the UUIDv7 id, which sorts in creation order) and a short MAC of it, so a
cursor we did not make is a 422 rather than a silently shifted page. Callers must
treat it as opaque; encoding it keeps us free to change what it holds. A list endpoint reads rows
with ``key > params.after`` ordered by key, fetches ``limit + 1`` of them and hands
them to :func:`take_page`, which tells whether another page follows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict

from bizos.core.auth import derive_key
from bizos.core.errors import Unprocessable, field_error

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_MAX_KEY_LENGTH = 200

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``next_cursor`` is null on the last page."""

    # Always present in a response (null or not): documented as required.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    items: list[T]
    next_cursor: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _mac(key: bytes) -> str:
    digest = hmac.new(derive_key("pagination.cursor"), key, hashlib.sha256).digest()
    return _b64(digest[:9])


def encode_cursor(last_key: str) -> str:
    raw = last_key.encode()
    return f"{_b64(raw)}.{_mac(raw)}"


def decode_cursor(cursor: str) -> str:
    """The sort key inside ``cursor``; 422 (at ``query.cursor``) for anything we did not make."""
    body, _, _tag = cursor.partition(".")
    try:
        key = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, ValueError):
        key = ""
    # The round trip rejects stray characters the lenient decoder would accept, and the
    # MAC rejects well-formed cursors we never issued.
    if (
        not key
        or len(key) > _MAX_KEY_LENGTH
        or not key.isprintable()
        or not hmac.compare_digest(encode_cursor(key), cursor)
    ):
        raise Unprocessable(
            "the cursor is not valid", errors=[field_error(["query", "cursor"], "invalid cursor")]
        )
    return key


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    after: str | None = None


Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, at most {MAX_LIMIT}.")
]


def page_params(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=400, description="`next_cursor` of the previous page.")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


Pagination = Annotated[PageParams, Depends(page_params)]


def take_page(
    rows: Sequence[T], params: PageParams, key: Callable[[T], str]
) -> tuple[list[T], str | None]:
    """Split rows fetched with ``limit + 1`` into this page and the cursor of the next."""
    items = list(rows[: params.limit])
    more = len(rows) > params.limit
    return items, encode_cursor(key(items[-1])) if more and items else None
