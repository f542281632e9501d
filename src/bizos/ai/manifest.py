"""AI: the gateway's settings, usage, calls and prompts.

What the AI platform contributes to the running product: its tables (per-tenant settings
and the metered, provenance-carrying record of every call) and its HTTP routes (usage,
settings, a call's provenance, the prompt templates). It subscribes to no events, runs
no jobs or workflows, and offers the copilot no tools of its own: modules call the
gateway (``ai.gateway``) from their own use cases. It holds no personal data about a
contact (a call records token counts, cost, provider, model, template, source references
and the id of the record it was about, never the prompt or the output), so it declares no
privacy hooks. The privacy proxy's lookup of the tenant's names is the CRM's
(``name_lookup`` in its manifest).
"""

from bizos.ai import models
from bizos.ai.api import router
from bizos.core.manifest import Manifest

MANIFEST = Manifest(name="ai", models=(models,), routers=(router,))
