"""Metering: tokens and cost per call, monthly budgets, usage reports."""

from __future__ import annotations
