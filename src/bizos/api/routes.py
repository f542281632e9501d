"""Router assembly: every module's router, in one place."""

from __future__ import annotations

from fastapi import FastAPI

from bizos.ai.api import router as ai_router
from bizos.connectors.api import router as connectors_router
from bizos.modules.audit.api import router as audit_router
from bizos.modules.billing.api import router as billing_router
from bizos.modules.commerce.api import router as commerce_router
from bizos.modules.crm.api import router as crm_router
from bizos.modules.events.api import router as events_router
from bizos.modules.finance.api import router as finance_router
from bizos.modules.identity.api import router as identity_router
from bizos.modules.knowledge.api import router as knowledge_router
from bizos.modules.notifications.api import router as notifications_router
from bizos.modules.outreach.api import router as outreach_router
from bizos.modules.support.api import router as support_router
from bizos.modules.webhooks.api import router as webhooks_router
from bizos.modules.webhooks.inbound_api import router as inbound_webhooks_router
from bizos.modules.work.api import router as work_router


def include_routers(app: FastAPI) -> None:
    app.include_router(identity_router)
    app.include_router(events_router)
    app.include_router(webhooks_router)
    app.include_router(inbound_webhooks_router)
    app.include_router(audit_router)
    app.include_router(connectors_router)
    app.include_router(outreach_router)
    app.include_router(crm_router)
    app.include_router(work_router)
    app.include_router(notifications_router)
    app.include_router(commerce_router)
    app.include_router(billing_router)
    app.include_router(finance_router)
    app.include_router(knowledge_router)
    app.include_router(support_router)
    app.include_router(ai_router)
