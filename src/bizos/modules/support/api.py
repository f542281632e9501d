"""Support router: tickets, inbound email, SLA policies, drafts and replies."""

from __future__ import annotations

from fastapi import APIRouter

from bizos.modules.support.drafts import api as drafts_api
from bizos.modules.support.inbound import api as inbound_api
from bizos.modules.support.sla import api as sla_api
from bizos.modules.support.tickets import api as tickets_api

router = APIRouter()
router.include_router(tickets_api.router)
router.include_router(drafts_api.router)
router.include_router(sla_api.router)
router.include_router(inbound_api.router)
