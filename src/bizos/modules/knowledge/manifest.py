"""Knowledge: documents, search, summaries and contracts."""

from bizos.core.manifest import Manifest
from bizos.modules.knowledge import tools
from bizos.modules.knowledge.api import router
from bizos.modules.knowledge.contracts import handlers as contract_handlers
from bizos.modules.knowledge.contracts import models as contract_models
from bizos.modules.knowledge.contracts.workflows import extract_contract_terms
from bizos.modules.knowledge.documents import models
from bizos.modules.knowledge.summaries import models as summary_models

MANIFEST = Manifest(
    name="knowledge",
    models=(models, summary_models, contract_models),
    # Documents are chunked and indexed in the transaction that writes them: only
    # contracts subscribe (to documents' events).
    routers=(router,),
    subscribers=(contract_handlers.register,),
    workflows=(extract_contract_terms,),
    tools=tuple(tools.TOOLS),
)
