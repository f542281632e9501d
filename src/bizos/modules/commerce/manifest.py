"""Commerce: products, stock, orders, fulfilment and the Shopify channel.

Everything commerce adds to the running product is listed here; importing its files
registers nothing. Sub-modules: inventory (products, stock ledger), orders (orders,
backorder alerts, won deals), fulfilment (order-to-cash, shipments), shopify (the
webhook door), settings, metrics (figures and the copilot's tools).
"""

from bizos.core.manifest import Manifest
from bizos.core.ports import PrivacyHooks
from bizos.modules.commerce import models, privacy, tools
from bizos.modules.commerce.fulfilment import api as fulfilment_api
from bizos.modules.commerce.fulfilment import handlers as fulfilment_handlers
from bizos.modules.commerce.fulfilment.workflows import order_to_cash
from bizos.modules.commerce.inventory import api as inventory_api
from bizos.modules.commerce.inventory import handlers as inventory_handlers
from bizos.modules.commerce.metrics import api as metrics_api
from bizos.modules.commerce.orders import api as orders_api
from bizos.modules.commerce.orders import handlers as orders_handlers
from bizos.modules.commerce.settings import api as settings_api
from bizos.modules.commerce.shopify import api as shopify_api
from bizos.modules.commerce.shopify import handlers as shopify_handlers
from bizos.modules.commerce.timeline import orders_source

MANIFEST = Manifest(
    name="commerce",
    models=(models,),
    routers=(
        inventory_api.router,
        orders_api.router,
        settings_api.router,
        shopify_api.router,
        fulfilment_api.router,
        metrics_api.router,
    ),
    subscribers=(
        inventory_handlers.register,
        orders_handlers.register,
        shopify_handlers.register,
        fulfilment_handlers.register,
    ),
    workflows=(order_to_cash,),
    tools=tuple(tools.TOOLS),
    timeline_sources={"commerce.orders": orders_source},
    privacy=PrivacyHooks(export=privacy.export),
)
