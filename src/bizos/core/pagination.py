"""Cursor pagination: opaque cursors, the ``limit``/``cursor``/``sort`` query parameters.

A cursor is the URL-safe base64 of the sort key of the last item a page returned and a
short MAC of it, so a cursor we did not make is a 422 rather than a silently shifted
page. Callers must treat it as opaque; encoding it keeps us free to change what it holds.

A list of records offers its orders through a :class:`ListOrder` (``?sort=-created_at``,
newest first, by default): :meth:`ListOrder.apply` narrows and orders the query (keyset,
``limit + 1`` rows) and :meth:`ListOrder.take_page` tells whether another page follows.
A list with a single order of its own (the event log, a timeline) states it with
:func:`fixed_order` and keeps its own key, handing rows to :func:`take_page`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import hashlib
import hmac
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.auth import derive_key
from bizos.core.errors import Unprocessable, field_error

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_MAX_KEY_LENGTH = 600

T = TypeVar("T")
R = TypeVar("R")
SelectT = TypeVar("SelectT", bound="sa.Select[*tuple[Any, ...]]")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``next_cursor`` is null on the last page."""

    # Always present in a response (null or not): documented as required.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    items: list[T]
    next_cursor: str | None = None

    @classmethod
    def of(cls, found: tuple[Sequence[T], str | None]) -> Self:
        """The page a list function found, ``(items, next_cursor)``:
        ``return Page[DealRead].of(await service.list_deals(...))``."""
        items, cursor = found
        return cls(items=list(items), next_cursor=cursor)


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
    """``after``: the key inside the cursor; ``sort``: the order asked for, on lists that
    offer a choice (None for readers inside the process, and lists of one order)."""

    limit: int
    after: str | None = None
    sort: str | None = None


Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, at most {MAX_LIMIT}.")
]
Cursor = Annotated[
    str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")
]


def page_params(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


Pagination = Annotated[PageParams, Depends(page_params)]


def take_page(
    rows: Sequence[T], params: PageParams, key: Callable[[T], str]
) -> tuple[list[T], str | None]:
    """Split rows fetched with ``limit + 1`` into this page and the cursor of the next."""
    items = list(rows[: params.limit])
    more = len(rows) > params.limit
    return items, encode_cursor(key(items[-1])) if more and items else None


# --- sortable lists ------------------------------------------------------------------------

_DESCENDING = "-"
_ValueTypes = (dt.datetime, dt.date, decimal.Decimal, int, float, str)


def _dump(value: Any) -> Any:
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _refuse_cursor(detail: str) -> Unprocessable:
    return Unprocessable(detail, errors=[field_error(["query", "cursor"], "invalid cursor")])


@dataclass(frozen=True, slots=True)
class _SortField:
    column: sa.orm.InstrumentedAttribute[Any]
    python_type: type
    nullable: bool

    def parse(self, value: Any) -> Any:
        """A value a cursor carried, as the column's Python type (ValueError if it is not)."""
        if value is None:
            if not self.nullable:
                raise ValueError("null for a column that holds none")
            return None
        kind = self.python_type
        if kind is dt.datetime:
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("naive time")
            return moment
        if kind is dt.date:
            return dt.date.fromisoformat(value)
        if kind is decimal.Decimal:
            return decimal.Decimal(str(value))
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("not an integer")
        if kind is str and not isinstance(value, str):
            raise ValueError("not text")
        if kind is float and not isinstance(value, int | float):
            raise ValueError("not a number")
        return value


class ListOrder:
    """The orders one list offers under ``?sort=``, and keyset paging in each of them.

    An order is a column, ascending (``created_at``) or descending (``-created_at``, the
    default: newest first), with the row id as the tie-break in the same direction, so the
    order is total and a page boundary never repeats or skips a row, whatever is written
    meanwhile. Nulls come last either way. The cursor carries the list's name, the order
    and the last row's (value, id); it is good only for the list and order that issued it,
    so another list's cursor, or this list's under another ``sort``, is a 422.

    Readers inside the process that build ``PageParams(limit, after=<id>)`` themselves
    (no ``sort``) get the rows in id order, as they always did: ascending, or descending
    for a list built with ``unsorted_descending``.
    """

    def __init__(
        self,
        name: str,
        id_column: sa.orm.InstrumentedAttribute[str],
        columns: Sequence[sa.orm.InstrumentedAttribute[Any]],
        *,
        default: str = "-created_at",
        unsorted_descending: bool = False,
    ) -> None:
        self.name = name
        self.id_column = id_column
        self.unsorted_descending = unsorted_descending
        self.fields: dict[str, _SortField] = {}
        for attribute in columns:
            column = attribute.expression
            storage = column.type
            while isinstance(storage, sa.TypeDecorator):  # UtcDateTime: a datetime
                storage = storage.impl_instance
            python_type = storage.python_type
            if not issubclass(python_type, _ValueTypes):
                raise TypeError(f"cannot sort {name} on {attribute.key} ({python_type})")
            nullable = bool(getattr(column, "nullable", True))
            self.fields[attribute.key] = _SortField(attribute, python_type, nullable)
        choices = [c for f in self.fields for c in (_DESCENDING + f, f)]
        if default not in choices:
            raise ValueError(f"default sort {default!r} is not one of {choices}")
        self.default = default
        self.choices: tuple[str, ...] = (default, *(c for c in choices if c != default))
        self.dependency = self._dependency()

    @property
    def description(self) -> str:
        listed = ", ".join(f"`{c}`" for c in self.choices)
        return (
            f"Order of the list: {listed} (default `{self.default}`). A leading `-` means "
            "descending (newest, largest first); ties are broken by id in the same direction. "
            "A cursor is only valid with the `sort` it was issued for."
        )

    def _split(self, sort: str) -> tuple[_SortField, bool]:
        descending = sort.startswith(_DESCENDING)
        return self.fields[sort.removeprefix(_DESCENDING)], descending

    def position(self, page: PageParams) -> tuple[Any, str] | None:
        """The (value, id) after which ``page`` starts; 422 for a cursor of another list or
        another sort."""
        if page.after is None or page.sort is None:
            return None
        try:
            name, sort, value, last_id = json.loads(page.after)
        except (ValueError, TypeError):
            raise _refuse_cursor("the cursor is not valid for this list") from None
        if name != self.name or not isinstance(last_id, str):
            raise _refuse_cursor("the cursor is not valid for this list")
        if sort != page.sort:
            raise _refuse_cursor(
                f"the cursor was issued for sort={sort}: pass that sort with it, "
                "or start again without a cursor"
            )
        field, _ = self._split(sort)
        try:
            return field.parse(value), last_id
        except (ValueError, TypeError, ArithmeticError):
            raise _refuse_cursor("the cursor is not valid for this list") from None

    def apply(self, query: SelectT, page: PageParams) -> SelectT:
        """``query`` narrowed to the rows after the cursor, ordered, ``limit + 1`` of them."""
        if page.sort is None:
            ident = self.id_column
            if page.after is not None:
                past = ident < page.after if self.unsorted_descending else ident > page.after
                query = query.where(past)
            order = ident.desc() if self.unsorted_descending else ident.asc()
            return query.order_by(order).limit(page.limit + 1)
        field, descending = self._split(page.sort)
        column, ident = field.column, self.id_column
        start = self.position(page)
        if start is not None:
            value, last_id = start
            past_id = ident < last_id if descending else ident > last_id
            if value is None:
                query = query.where(column.is_(None), past_id)
            else:
                past = column < value if descending else column > value
                after = sa.or_(past, sa.and_(column == value, past_id))
                query = query.where(sa.or_(after, column.is_(None)) if field.nullable else after)
        key = column.desc() if descending else column.asc()
        tie = ident.desc() if descending else ident.asc()
        return query.order_by(key.nulls_last() if field.nullable else key, tie).limit(
            page.limit + 1
        )

    def cursor_after(self, row: Any, page: PageParams) -> str:
        """The raw key (inside a cursor) of ``row`` in the order of ``page``."""
        if page.sort is None:
            return str(getattr(row, self.id_column.key))
        field, _ = self._split(page.sort)
        value = _dump(getattr(row, field.column.key))
        last_id = getattr(row, self.id_column.key)
        return json.dumps([self.name, page.sort, value, last_id], separators=(",", ":"))

    def take_page(
        self, rows: Sequence[T], page: PageParams, entity: Callable[[T], Any] = lambda r: r
    ) -> tuple[list[T], str | None]:
        """Split rows fetched by :meth:`apply` into this page and the next page's cursor."""
        return take_page(rows, page, key=lambda r: self.cursor_after(entity(r), page))

    def _dependency(self) -> Callable[..., PageParams]:
        order = self

        def sorted_page_params(
            limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None, sort: str = order.default
        ) -> PageParams:
            page = PageParams(
                limit=limit, after=decode_cursor(cursor) if cursor else None, sort=sort
            )
            order.position(page)  # a cursor of another list or sort: 422 before any work
            return page

        return _with_sort_choices(sorted_page_params, self.choices, self.description)


# --- a list endpoint in three lines ------------------------------------------------------


def where_given(query: SelectT, *filters: tuple[Any, object]) -> SelectT:
    """``query`` narrowed by ``column == value`` for each ``(column, value)`` whose value
    was given (not None): the optional equality filters of a list endpoint."""
    for column, value in filters:
        if value is not None:
            query = query.where(column == value)
    return query


async def read_page(
    session: AsyncSession,
    order: ListOrder,
    query: sa.Select[Any],
    page: PageParams,
    read: Callable[[Any], R],
) -> tuple[list[R], str | None]:
    """One page of ``query``'s entities in ``page``'s order, each shaped by ``read`` (the
    Read schema), and the next page's cursor. The usual list use case is::

        query = where_given(sa.select(Deal), (Deal.stage, stage), (Deal.owner_id, owner_id))
        return await read_page(session, DEAL_ORDER, query, page, deal_read)

    and its endpoint ``return Page[DealRead].of(await service.list_deals(...))``.
    """
    rows = list(await session.scalars(order.apply(query, page)))
    items, cursor = order.take_page(rows, page)
    return [read(r) for r in items], cursor


def _with_sort_choices(
    dependency: Callable[..., PageParams], choices: tuple[str, ...], description: str
) -> Callable[..., PageParams]:
    """``dependency`` with its ``sort`` parameter documented (and validated) as the enum
    of ``choices``: FastAPI reads the signature, so the OpenAPI document lists them."""
    signature = inspect.signature(dependency)
    sort = signature.parameters["sort"].replace(
        annotation=Annotated[
            Literal.__getitem__(choices),
            # An enum even for one choice (Pydantic would say `const`): one shape for clients.
            Query(description=description, json_schema_extra={"enum": list(choices)}),
        ]
    )
    parameters = [p if p.name != "sort" else sort for p in signature.parameters.values()]
    dependency.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return dependency


def fixed_order(sort: str, description: str) -> Callable[..., PageParams]:
    """Page parameters of a list that has one order of its own (a log read forward, a
    merged timeline, a computed report): ``sort`` accepts just that order, so a client
    need not guess it and a generic client passing ``sort`` learns the choice from a 422.
    The list keeps its own cursor key (``PageParams.sort`` stays None)."""

    def page_params_in_order(
        limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None, sort: str = sort
    ) -> PageParams:
        return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)

    return _with_sort_choices(
        page_params_in_order, (sort,), f"Order of the list: `{sort}` only ({description})."
    )
