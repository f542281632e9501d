"""Outreach: outbound messages, their delivery and tracking."""

from bizos.core.manifest import Manifest
from bizos.modules.outreach import models
from bizos.modules.outreach.api import router

MANIFEST = Manifest(name="outreach", models=(models,), routers=(router,))
