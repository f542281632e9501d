"""Outreach: outbound messages, their delivery and tracking."""

from bizos.core.manifest import Manifest
from bizos.core.ports import PrivacyHooks
from bizos.modules.outreach import models, privacy
from bizos.modules.outreach.api import router

MANIFEST = Manifest(
    name="outreach",
    models=(models,),
    routers=(router,),
    privacy=PrivacyHooks(export=privacy.export),
)
