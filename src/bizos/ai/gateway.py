"""The AI gateway (DESIGN rule 7): one door for every model call."""

from __future__ import annotations
