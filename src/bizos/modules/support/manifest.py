"""Support: tickets, inbound mail, SLAs and AI drafts."""

from bizos.core.manifest import Manifest
from bizos.modules.support import handlers, tools
from bizos.modules.support.api import router
from bizos.modules.support.drafts import models as draft_models
from bizos.modules.support.drafts.workflow import ai_draft
from bizos.modules.support.sla import models as sla_models
from bizos.modules.support.sla.service import sla_breaches
from bizos.modules.support.tickets import models
from bizos.modules.support.tickets.timeline import support_source

MANIFEST = Manifest(
    name="support",
    models=(models, draft_models, sla_models),
    routers=(router,),
    subscribers=(handlers.register,),
    workflows=(ai_draft,),
    jobs=(sla_breaches,),
    tools=tuple(tools.TOOLS),
    timeline_sources={"support.tickets": support_source},
)
