"""Support router: tickets, inbound email, SLA policies, drafts and replies."""

from __future__ import annotations

from fastapi import APIRouter

from bizos.modules.support.drafts import api as drafts_api
from bizos.modules.support.drafts.service import pending_drafts
from bizos.modules.support.inbound import api as inbound_api
from bizos.modules.support.sla import api as sla_api
from bizos.modules.support.sla.triage import TICKET_RULES
from bizos.modules.support.tickets.api import TicketEndpoints

router = APIRouter()
router.include_router(TicketEndpoints(TICKET_RULES, pending_drafts).router())
router.include_router(drafts_api.router)
router.include_router(sla_api.router)
router.include_router(inbound_api.router)
