"""The shapes a plan is made of: a :class:`Step` names a catalogue tool with its
arguments, a :class:`Plan` lists them, an :class:`Outcome` is what running one gave."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from bizos.core.tools import Proposal, Said, ToolResult

Outcomes = Mapping[str, "Outcome"]
Args = dict[str, Any] | Callable[[Outcomes], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Step:
    """One tool call. ``args`` is a dict, or a function of the earlier outcomes (keyed by
    step id) for a step that needs an earlier answer; it raises ``LookupError`` when
    there is nothing to go on. ``after`` names the steps it waits for; ``when`` (given the
    outcomes so far) says whether to run it at all; steps sharing a ``parallel_group``
    run together."""

    id: str
    tool: str
    args: Args
    label: str
    after: tuple[str, ...] = ()
    when: Callable[[Outcomes], bool] | None = None
    parallel_group: str | None = None

    def resolve(self, outcomes: Outcomes) -> dict[str, Any]:
        """The arguments to call the tool with."""
        return self.args(outcomes) if callable(self.args) else dict(self.args)


@dataclass(frozen=True, slots=True)
class Plan:
    """The steps, in an order that respects ``after``. ``compare`` names the (current,
    previous) step ids of a comparison, whose difference the answer states."""

    steps: list[Step] = field(default_factory=list)
    compare: tuple[str, str] | None = None

    def tools(self) -> list[str]:
        return [s.tool for s in self.steps]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running a step gave: the validated ``params``, the ``result`` and its words
    (``said``) for a read tool, the ``proposal`` for an action, or the ``error``.
    ``skipped`` is set when the step's ``when`` said no."""

    step: Step
    params: BaseModel | None = None
    result: ToolResult | None = None
    said: Said | None = None
    proposal: Proposal | None = None
    error: str | None = None
    duration_ms: float = 0.0
    skipped: bool = False
