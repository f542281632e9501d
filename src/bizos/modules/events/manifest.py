"""Events: the tenant's event log, read and tracked through the API."""

from bizos.core.manifest import Manifest
from bizos.modules.events.api import router

MANIFEST = Manifest(name="events", routers=(router,))
