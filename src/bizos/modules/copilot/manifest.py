"""The copilot: questions answered from the business's own data, conversations and
proposed actions."""

from bizos.core.manifest import Manifest
from bizos.modules.copilot import models
from bizos.modules.copilot.api import router

MANIFEST = Manifest(
    name="copilot",
    models=(models,),
    routers=(router,),
)
