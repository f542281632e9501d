"""Finance: expenses, budgets and the books' figures."""

from bizos.core.manifest import Manifest
from bizos.modules.finance import models, tools
from bizos.modules.finance.api import router

MANIFEST = Manifest(
    name="finance",
    models=(models,),
    routers=(router,),
    tools=tuple(tools.TOOLS),
)
