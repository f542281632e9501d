"""Connectors: the tenant's outside systems (email, SMS, models, enrichment, shipping).

What the connectors platform contributes: its table (each tenant's connector configs,
secrets sealed) and its HTTP routes (``/api/v1/connectors``, admins only). It subscribes
to no events and runs no jobs, workflows or tools; key rotation runs from the CLI
(``rotate_connector_secrets``). The capability resolvers (``channels``,
``enrichment.resolver``, ``shipping.resolver``) are called by the modules that send,
enrich and ship. It holds secrets and settings, no personal data about a contact.
"""

from bizos.connectors import models
from bizos.connectors.api import router
from bizos.core.manifest import Manifest

MANIFEST = Manifest(name="connectors", models=(models,), routers=(router,))
