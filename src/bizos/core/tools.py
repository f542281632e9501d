"""Typed tools: what the copilot may ask of a module (DESIGN rule 8).

A :class:`Tool` names one question or action, the scope a caller needs for it, the
Pydantic model its parameters must satisfy, and the coroutine that answers it. Every
answer is a :class:`ToolResult`: the figure(s) *and* how they were found — a description
of the query, the filters applied and the ids of the records behind the figure — so a
number shown to a user can always be traced back to rows.

Modules export ``TOOLS: list[Tool]`` from their ``tools.py``; a :class:`ToolRegistry`
collects them. ``core`` knows nothing of the modules: whoever assembles the application
registers their lists.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Forbidden, NotFound, Unprocessable
from bizos.core.fields import Day

DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366 + 1
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]

# How many record ids a result carries at most; ``records_total`` says how many there were.
MAX_RECORDS = 100
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A figure with its provenance: ``query`` says in words what was computed,
    ``filters`` the parameters that narrowed it, ``records`` the ids behind it (at most
    :data:`MAX_RECORDS`; ``records_total`` counts them all)."""

    value: Any
    query: str
    filters: dict[str, Any] = field(default_factory=dict)
    records: list[str] = field(default_factory=list)
    records_total: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "query": self.query,
            "filters": self.filters,
            "records": self.records,
            "records_total": (
                self.records_total if self.records_total is not None else len(self.records)
            ),
        }


@dataclass(frozen=True, slots=True)
class Figure:
    """One number a tool's answer states: ``value`` is exact (money to the cent);
    ``unit`` names what is counted (``orders``, ``tickets``, ``%``, ``hours``) where it is
    not money; ``period`` the inclusive days it covers, if any."""

    label: str
    value: Decimal | int
    currency: str | None = None
    unit: str | None = None
    period: tuple[dt.date, dt.date] | None = None


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A record or passage an answer rests on (``type`` is ``document``, ``ticket``,
    ``contact``, ``deal``, ``order``, ``invoice`` …)."""

    type: str
    id: str
    title: str
    excerpt: str = ""


@dataclass(frozen=True, slots=True)
class Said:
    """A tool result in words: ``text`` states it, and every number written in ``text``
    is the value of one of ``figures``, part of a date, part of a name in a label or
    source title, or quoted from a cited source's excerpt (:func:`unfigured_numbers`)."""

    text: str
    figures: list[Figure] = field(default_factory=list)
    sources: list[SourceRef] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Proposal:
    """What an action tool would do, shown before it runs: ``before`` is the record as it
    is (None when the action creates one), ``after`` as it would be. ``summary`` keeps
    :class:`Said`'s rule: every number it writes is one of ``figures`` (an amount due, a
    reminder's level) or part of a date or a name; records are named, never by id."""

    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)


ToolRun = Callable[[AsyncSession, Context, Any], Awaitable[ToolResult]]
ToolSpeak = Callable[[Any, ToolResult], Said]
ToolPropose = Callable[[AsyncSession, Context, Any], Awaitable[Proposal]]


@dataclass(frozen=True, slots=True)
class Tool:
    """One thing the copilot may do: ``run(session, ctx, params)`` with ``params`` an
    instance of ``input_model``, allowed to callers holding ``scope``.

    A ``read`` tool answers; ``speak(params, result)`` says its answer in words. An
    ``action`` tool changes data: ``propose(session, ctx, params)`` describes the change
    without making it, and ``run`` makes it (once, after the user confirms)."""

    name: str
    description: str
    scope: str
    input_model: type[BaseModel]
    run: ToolRun
    speak: ToolSpeak | None = None
    kind: Literal["read", "action"] = "read"
    propose: ToolPropose | None = None

    def parameters_schema(self) -> dict[str, Any]:
        """The JSON schema of the parameters (what a planner shows a model)."""
        return self.input_model.model_json_schema()


ToolSpec = (
    tuple[str, str, type[BaseModel], ToolRun] | tuple[str, str, type[BaseModel], ToolRun, ToolSpeak]
)
"""``(name, description, input model, run[, speak])``: one read tool of a module's table."""

ActionSpec = tuple[str, str, type[BaseModel], ToolPropose, ToolRun]
"""``(name, description, input model, propose, run)``: one action tool."""


def tools_for(scope: str, *specs: ToolSpec) -> list[Tool]:
    """A module's read tools that callers holding ``scope`` may use, one per spec."""
    return [
        Tool(spec[0], spec[1], scope, spec[2], spec[3], spec[4] if len(spec) > 4 else None)
        for spec in specs
    ]


def actions_for(scope: str, *specs: ActionSpec) -> list[Tool]:
    """A module's action tools that callers holding ``scope`` may confirm, one per spec."""
    return [
        Tool(name, description, scope, model, run, kind="action", propose=propose)
        for name, description, model, propose, run in specs
    ]


def _validation_problem(exc: ValidationError) -> Unprocessable:
    return Unprocessable(
        "invalid tool parameters",
        errors=[
            {"loc": ["params", *[str(p) for p in e["loc"]]], "msg": e["msg"]} for e in exc.errors()
        ],
    )


class ToolRegistry:
    """Tools by name. ``call`` validates the parameters, checks the scope and runs."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise NotFound(f"no tool named {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._tools)

    def available(self, scopes: Iterable[str]) -> list[Tool]:
        """The tools a caller with ``scopes`` may use, by name."""
        held = set(scopes)
        return [self._tools[n] for n in self.names() if self._tools[n].scope in held]

    async def call(
        self,
        session: AsyncSession,
        ctx: Context,
        name: str,
        params: Mapping[str, Any] | BaseModel | None = None,
    ) -> ToolResult:
        """Run tool ``name``: 404 for an unknown tool, 403 when ``ctx`` lacks its scope,
        422 (with ``params.*`` field paths) when the parameters do not validate."""
        tool = self.get(name)
        if tool.scope not in ctx.scopes:
            raise Forbidden(f"missing scope: {tool.scope}")
        if isinstance(params, tool.input_model):
            validated = params
        else:
            raw = params.model_dump() if isinstance(params, BaseModel) else params
            validated = self.validated(name, raw)
        return await tool.run(session, ctx, validated)

    def validated(self, name: str, params: Mapping[str, Any] | None) -> BaseModel:
        """``params`` checked against tool ``name``'s model (422 with ``params.*`` paths)."""
        try:
            return self.get(name).input_model.model_validate(dict(params or {}))
        except ValidationError as exc:
            raise _validation_problem(exc) from None


# --- common parameters ----------------------------------------------------------------


class Days(BaseModel):
    """``from``..``to``, inclusive UTC days; by default the 30 days up to today."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: Day | None = Field(default=None, alias="from", description="First day (UTC).")
    to: Day | None = Field(
        default=None,
        description=f"Last day, inclusive (UTC); at most {MAX_DAYS} days after `from`.",
    )

    @field_validator("to")
    @classmethod
    def _not_before_from(cls, to: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("from_")
        if to is not None and start is not None and to < start:
            raise ValueError("'to' is before 'from'")
        return to

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        start, end = self.bounds()
        if end < start:
            raise ValueError("'to' is before 'from'")
        if (end - start).days > MAX_DAYS:
            raise ValueError(f"the range is longer than {MAX_DAYS} days")
        return self

    def bounds(self) -> tuple[dt.date, dt.date]:
        end = self.to or dt.datetime.now(dt.UTC).date()
        start = self.from_ or (end - dt.timedelta(days=DEFAULT_DAYS - 1))
        return start, end

    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """Half-open ``[start, end)`` in UTC datetimes."""
        start, end = self.bounds()
        return _midnight(start), _midnight(end + dt.timedelta(days=1))

    def described(self) -> dict[str, Any]:
        start, end = self.bounds()
        return {"from": start.isoformat(), "to": end.isoformat()}


class DateRange(Days):
    """A :class:`Days` range, optionally narrowed to one currency."""

    currency: CurrencyCode | None = Field(default=None, description="Only this currency.")

    @model_validator(mode="after")
    def _upper_currency(self) -> Self:
        if self.currency is not None:
            self.currency = self.currency.upper()
        return self

    def described(self) -> dict[str, Any]:
        return {**super().described(), "currency": self.currency}


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


class MetricRead(BaseModel, Generic[T]):
    """A :class:`ToolResult` at the HTTP edge: the figure(s) and how they were found."""

    value: T
    query: str
    filters: dict[str, Any]
    records: list[str] = Field(description=f"Ids behind the figure, at most {MAX_RECORDS}.")
    records_total: int

    @classmethod
    def of(cls, result: ToolResult) -> MetricRead[T]:
        return cls(
            value=result.value,
            query=result.query,
            filters=result.filters,
            records=result.records,
            records_total=(
                result.records_total if result.records_total is not None else len(result.records)
            ),
        )


# --- the rule that every number said is a figure ---------------------------------------

# A number as written: 24,580.00 · 212 · 12.5 (its sign is read from what precedes it).
_NUMBER = re.compile(r"(?<![\d.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
# A minus sign standing before a number, perhaps before its currency symbol: "-$5.00",
# "-5", "(-€3.10": at the start or after a space or bracket, never inside "SO-12" or "1-30".
_SIGN = re.compile(r"(?:^|[\s(])-[^\s\w]{0,2}$|(?:^|[\s(])-[A-Z]\$$")
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\.?"
)
# Dates and periods, whose digits are not figures: ISO days, "1 Nov 2026", "Nov 2026",
# "Nov 1, 2026", "Q3 2026".
_DATES = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?"
    rf"|\b\d{{1,2}} {_MONTH}(?:,? \d{{4}})?"
    rf"|\b{_MONTH} \d{{1,2}}(?:, \d{{4}})?\b"
    rf"|\b{_MONTH} \d{{4}}\b"
    r"|\bQ[1-4] \d{4}\b"
)


def numbers_in(text: str) -> list[Decimal]:
    """The numbers written in ``text`` (dates and periods left out), signed, without
    their thousands separators: ``"-$1,200.50 from 3 orders"`` → ``[-1200.50, 3]``."""
    plain = _DATES.sub(" ", text)
    found = []
    for match in _NUMBER.finditer(plain):
        value = Decimal(match.group(0).replace(",", ""))
        before = plain[max(0, match.start() - 4) : match.start()]
        found.append(-value if _SIGN.search(before) else value)
    return found


def unfigured_numbers(said: Said) -> list[Decimal]:
    """The numbers in ``said.text`` that break :class:`Said`'s rule: neither the exact
    value of one of its figures, nor part of a date or period, nor a number that appears
    in a figure's label or a source's title (a name such as ``INV-000123``, ``1-30``) or
    is quoted from a source's excerpt ("within 45 days", from the cited policy).
    An empty list means the text keeps the rule."""
    values = {Decimal(f.value) for f in said.figures}
    names = " ".join(
        [*(f.label for f in said.figures), *(f"{s.title} {s.excerpt}" for s in said.sources)]
    )
    in_names = {abs(n) for n in numbers_in(names)}
    return [n for n in numbers_in(said.text) if n not in values and abs(n) not in in_names]
