"""Every commerce subscriber (and, by importing them, its workflows and jobs), and
its contact timeline source."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher
from bizos.modules.commerce.fulfilment import handlers as fulfilment
from bizos.modules.commerce.inventory import handlers as inventory
from bizos.modules.commerce.orders import handlers as orders
from bizos.modules.commerce.shopify import handlers as shopify


def register(dispatcher: Dispatcher) -> None:
    inventory.register(dispatcher)
    orders.register(dispatcher)
    shopify.register(dispatcher)
    fulfilment.register(dispatcher)
