"""Support: tickets, inbound mail, SLAs and AI drafts."""

from bizos.core.manifest import Manifest
from bizos.core.ports import PrivacyHooks
from bizos.modules.support import privacy, tools
from bizos.modules.support.api import router
from bizos.modules.support.drafts import handlers as drafts_handlers
from bizos.modules.support.drafts import models as draft_models
from bizos.modules.support.drafts.workflows import ai_draft
from bizos.modules.support.inbound import handlers as inbound_handlers
from bizos.modules.support.sla import handlers as sla_handlers
from bizos.modules.support.sla import models as sla_models
from bizos.modules.support.sla.jobs import sla_breaches
from bizos.modules.support.tickets import models
from bizos.modules.support.tickets.timeline import support_source

MANIFEST = Manifest(
    name="support",
    models=(models, draft_models, sla_models),
    routers=(router,),
    # In this order: mail becomes tickets, tickets get their SLA, then their drafts.
    subscribers=(inbound_handlers.register, sla_handlers.register, drafts_handlers.register),
    workflows=(ai_draft,),
    jobs=(sla_breaches,),
    tools=tuple(tools.TOOLS),
    timeline_sources={"support.tickets": support_source},
    privacy=PrivacyHooks(export=privacy.export),
)
