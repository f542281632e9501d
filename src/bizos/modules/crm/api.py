"""The CRM's routers, one per part, under ``/api/v1/crm`` (and the public form)."""

from __future__ import annotations

from fastapi import APIRouter

from bizos.modules.crm.assignment.api import router as assignment_router
from bizos.modules.crm.companies.api import router as companies_router
from bizos.modules.crm.contacts.api import router as contacts_router
from bizos.modules.crm.deals.api import router as deals_router
from bizos.modules.crm.forecast.api import router as forecast_router
from bizos.modules.crm.imports.api import router as imports_router
from bizos.modules.crm.leads.api import router as leads_router
from bizos.modules.crm.next_best_action.api import router as next_best_action_router
from bizos.modules.crm.scoring.api import router as scoring_router

router = APIRouter()
# Contacts last: its /contacts/{id} would otherwise shadow static paths other parts add
# under /contacts/ (e.g. /contacts/export).
for part in (
    imports_router,
    leads_router,
    scoring_router,
    assignment_router,
    deals_router,
    forecast_router,
    next_best_action_router,
    companies_router,
    contacts_router,
):
    router.include_router(part)
