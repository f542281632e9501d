"""Every support subscriber (and, by importing them, its workflows and jobs), and
its contact timeline source."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher
from bizos.modules.support.drafts import handlers as drafts
from bizos.modules.support.inbound import handlers as inbound
from bizos.modules.support.sla import handlers as sla


def register(dispatcher: Dispatcher) -> None:
    inbound.register(dispatcher)
    sla.register(dispatcher)
    drafts.register(dispatcher)
