"""Finance: expenses, budgets and the books' figures."""

from bizos.core.manifest import Manifest
from bizos.modules.finance import api, models, tools
from bizos.modules.finance.budgets import api as budgets_api

MANIFEST = Manifest(
    name="finance",
    models=(models,),
    routers=(api.router, budgets_api.router),
    tools=tuple(tools.TOOLS),
)
