"""What the copilot (and MCP clients) may ask and do in crm: read tools answer with their
query, filters and records; action tools propose a change and make it once confirmed."""

from __future__ import annotations

from bizos.core.tools import Tool

# --- read tools -----------------------------------------------------------------------
# Each part keeps its read tools in its own tools room (scope crm:read); they are listed
# here in the order a planner reads them.
from bizos.modules.crm.deals import tools as deals_tools
from bizos.modules.crm.forecast import tools as forecast_tools
from bizos.modules.crm.leads import tools as leads_tools
from bizos.modules.crm.lookup import tools as lookup_tools
from bizos.modules.crm.next_best_action import tools as next_best_action_tools

_BY_NAME = {
    tool.name: tool
    for tool in (
        *deals_tools.TOOLS,
        *forecast_tools.TOOLS,
        *leads_tools.TOOLS,
        *lookup_tools.TOOLS,
        *next_best_action_tools.TOOLS,
    )
}
READ_TOOLS: list[Tool] = [
    _BY_NAME[name]
    for name in (
        "crm.pipeline",
        "crm.forecast",
        "crm.leads",
        "crm.hot_leads",
        "crm.deal_lookup",
        "crm.contact_lookup",
        "crm.company_lookup",
        "crm.next_best_actions",
    )
]

# --- action tools ---------------------------------------------------------------------

ACTION_TOOLS: list[Tool] = []

TOOLS: list[Tool] = [*READ_TOOLS, *ACTION_TOOLS]
