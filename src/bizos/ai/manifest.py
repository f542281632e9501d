"""AI: the gateway's settings, usage, calls and prompts."""

from bizos.ai import models
from bizos.ai.api import router
from bizos.core.manifest import Manifest

MANIFEST = Manifest(name="ai", models=(models,), routers=(router,))
