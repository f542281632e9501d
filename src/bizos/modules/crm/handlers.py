"""The CRM's event subscribers, one register() per part."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher
from bizos.modules.crm.assignment import handlers as assignment
from bizos.modules.crm.contacts import handlers as contacts
from bizos.modules.crm.deals import handlers as deals
from bizos.modules.crm.forecast import handlers as forecast
from bizos.modules.crm.imports import handlers as imports
from bizos.modules.crm.leads import handlers as leads
from bizos.modules.crm.scoring import handlers as scoring


def register(dispatcher: Dispatcher) -> None:
    for part in (contacts, imports, leads, scoring, assignment, deals, forecast):
        part.register(dispatcher)
