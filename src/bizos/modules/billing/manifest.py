"""Billing: invoices, credit notes, payments and their reconciliation, refunds,
discrepancies, dunning and Stripe webhooks; its figures and its part of a contact's
timeline."""

from bizos.core.manifest import Manifest
from bizos.modules.billing import api, models, privacy, service, tools
from bizos.modules.billing.credit_notes import api as credit_notes_api
from bizos.modules.billing.discrepancies import api as discrepancies_api
from bizos.modules.billing.dunning.jobs import dunning
from bizos.modules.billing.invoices import api as invoices_api
from bizos.modules.billing.payments import api as payments_api
from bizos.modules.billing.refunds import api as refunds_api
from bizos.modules.billing.stripe import api as stripe_api
from bizos.modules.billing.stripe import handlers as stripe_handlers

MANIFEST = Manifest(
    name="billing",
    models=(models,),
    routers=(
        invoices_api.router,
        credit_notes_api.router,
        discrepancies_api.router,
        payments_api.router,
        refunds_api.router,
        stripe_api.router,
        api.router,
    ),
    subscribers=(stripe_handlers.register,),
    jobs=(dunning,),
    tools=tuple(tools.TOOLS),
    timeline_sources={"billing": service.billing_source},
    privacy=privacy.HOOKS,
)
