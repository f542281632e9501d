"""Connectors: the tenant's outside systems (email, SMS, models, enrichment, shipping)."""

from bizos.connectors import models
from bizos.connectors.api import router
from bizos.core.manifest import Manifest

MANIFEST = Manifest(name="connectors", models=(models,), routers=(router,))
