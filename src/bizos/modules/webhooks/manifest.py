"""Webhooks: outbound subscriptions and deliveries, and the inbound webhook record."""

from bizos.core.manifest import Manifest
from bizos.modules.webhooks import handlers, models
from bizos.modules.webhooks.api import router
from bizos.modules.webhooks.inbound.api import router as inbound_router

MANIFEST = Manifest(
    name="webhooks",
    models=(models,),
    routers=(router, inbound_router),
    subscribers=(handlers.register,),
)
