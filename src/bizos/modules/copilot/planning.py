"""From what a question asks to the tool calls that answer it."""

from __future__ import annotations

from bizos.modules.copilot.parsing import Parsed
from bizos.modules.copilot.steps import Outcome, Outcomes, Plan, Step

__all__ = ["Outcome", "Outcomes", "Plan", "Step", "plan"]


def plan(parsed: Parsed) -> Plan:
    raise NotImplementedError  # filled in on this branch shortly
