"""Identity: tenants, users, memberships, sessions and API keys."""

from bizos.core.manifest import Manifest
from bizos.modules.identity import models
from bizos.modules.identity.api import router
from bizos.modules.identity.verification import owner_address_verified

MANIFEST = Manifest(
    name="identity",
    models=(models,),
    routers=(router,),
    email_sending_allowed=owner_address_verified,
)
