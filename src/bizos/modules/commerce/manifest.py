"""Commerce: products, stock, orders, fulfilment and the Shopify channel."""

from bizos.core.manifest import Manifest
from bizos.modules.commerce import handlers, models, tools
from bizos.modules.commerce.api import router
from bizos.modules.commerce.fulfilment.workflow import order_to_cash
from bizos.modules.commerce.timeline import orders_source

MANIFEST = Manifest(
    name="commerce",
    models=(models,),
    routers=(router,),
    subscribers=(handlers.register,),
    workflows=(order_to_cash,),
    tools=tuple(tools.TOOLS),
    timeline_sources={"commerce.orders": orders_source},
)
