"""Identity: tenants, users, memberships, sessions and API keys."""

from bizos.core.manifest import Manifest
from bizos.modules.identity import models
from bizos.modules.identity.api import router

MANIFEST = Manifest(name="identity", models=(models,), routers=(router,))
