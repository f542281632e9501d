"""Knowledge: documents, search, summaries and contracts."""

from bizos.core.manifest import Manifest
from bizos.modules.knowledge import handlers, tools
from bizos.modules.knowledge.api import router
from bizos.modules.knowledge.documents import models
from bizos.modules.knowledge.summaries import models as summary_models
from bizos.modules.knowledge.summaries.contracts import extract_contract_terms

MANIFEST = Manifest(
    name="knowledge",
    models=(models, summary_models),
    routers=(router,),
    subscribers=(handlers.register,),
    workflows=(extract_contract_terms,),
    tools=tuple(tools.TOOLS),
)
