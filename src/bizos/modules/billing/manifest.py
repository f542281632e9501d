"""Billing: invoices, payments, refunds, credit notes, dunning and Stripe."""

from bizos.core.manifest import Manifest
from bizos.modules.billing import handlers, models, tools
from bizos.modules.billing.api import router
from bizos.modules.billing.invoices.dunning import dunning
from bizos.modules.billing.timeline import billing_source

MANIFEST = Manifest(
    name="billing",
    models=(models,),
    routers=(router,),
    subscribers=(handlers.register,),
    jobs=(dunning,),
    tools=tuple(tools.TOOLS),
    timeline_sources={"billing": billing_source},
)
