"""What the copilot (and MCP clients) may ask and do in crm: read tools answer with their
query, filters and records; action tools propose a change and make it once confirmed."""

from __future__ import annotations

from bizos.core.tools import Tool

# --- read tools -----------------------------------------------------------------------

READ_TOOLS: list[Tool] = []

# --- action tools ---------------------------------------------------------------------

ACTION_TOOLS: list[Tool] = []

TOOLS: list[Tool] = [*READ_TOOLS, *ACTION_TOOLS]
