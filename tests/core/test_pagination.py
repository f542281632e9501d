"""Cursor helpers: opaque round trips, refusal of anything we did not issue."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bizos.core.errors import Unprocessable
from bizos.core.pagination import (
    ListOrder,
    Page,
    PageParams,
    decode_cursor,
    encode_cursor,
    read_page,
    take_page,
    where_given,
)


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


class _ListBase(DeclarativeBase):
    pass


class _Thing(_ListBase):
    __tablename__ = "things"
    id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    kind: Mapped[str]


_THING_ORDER = ListOrder("things", _Thing.id, [_Thing.name], default="name")


class _ThingRead(BaseModel):
    name: str


async def _list_things(
    session: AsyncSession, page: PageParams, kind: str | None = None
) -> tuple[list[_ThingRead], str | None]:
    query = where_given(sa.select(_Thing), (_Thing.kind, kind))
    return await read_page(session, _THING_ORDER, query, page, lambda t: _ThingRead(name=t.name))


async def test_a_list_use_case_reads_filtered_pages_in_order_to_the_end() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(_ListBase.metadata.create_all)
    # A system session: the tenancy guard refuses a session of neither kind.
    async with AsyncSession(engine, info={"system": True}) as session:
        session.add_all(
            _Thing(id=f"t{i}", name=name, kind="tool" if i % 2 else "part")
            for i, name in enumerate(["e", "d", "c", "b", "a"])
        )
        await session.flush()
        names: list[str] = []
        page = PageParams(limit=1, sort="name")
        while True:
            found = Page[_ThingRead].of(await _list_things(session, page, kind="tool"))
            names += [t.name for t in found.items]
            if found.next_cursor is None:
                break
            page = PageParams(limit=1, after=decode_cursor(found.next_cursor), sort="name")
    await engine.dispose()
    assert names == ["b", "d"]
