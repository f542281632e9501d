"""Audit: the tenant's audit trail, read through the API (the table is core's)."""

from bizos.core.manifest import Manifest
from bizos.modules.audit.api import router

MANIFEST = Manifest(name="audit", routers=(router,))
