"""Every module's event subscribers, registered on one dispatcher.

Each module's ``handlers.py`` exports ``register(dispatcher)``; add a module here to
have its subscribers run under ``bizos serve`` and ``bizos worker``.
"""

from __future__ import annotations

from collections.abc import Callable

from bizos.ai import handlers as ai_handlers
from bizos.core.dispatcher import Dispatcher
from bizos.modules.billing import handlers as billing_handlers
from bizos.modules.commerce import handlers as commerce_handlers
from bizos.modules.crm import handlers as crm_handlers
from bizos.modules.finance import handlers as finance_handlers
from bizos.modules.knowledge import handlers as knowledge_handlers
from bizos.modules.notifications import handlers as notifications_handlers
from bizos.modules.support import handlers as support_handlers
from bizos.modules.webhooks import handlers as webhooks_handlers
from bizos.modules.work import handlers as work_handlers

MODULES: tuple[Callable[[Dispatcher], None], ...] = (
    webhooks_handlers.register,
    crm_handlers.register,
    work_handlers.register,
    notifications_handlers.register,
    commerce_handlers.register,
    billing_handlers.register,
    finance_handlers.register,
    ai_handlers.register,
    knowledge_handlers.register,
    support_handlers.register,
)


def register_handlers(dispatcher: Dispatcher) -> None:
    for register in MODULES:
        register(dispatcher)
