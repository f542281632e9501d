"""Background machinery of one process: dispatcher, webhook delivery, durable workflows.

``bizos serve`` runs it in-process with the API; ``bizos serve --no-workers`` does not;
``bizos worker`` runs it alone.
"""

from __future__ import annotations

import structlog

from bizos.core.config import Settings
from bizos.core.db import Database

log = structlog.get_logger("bizos.runtime")


class Runtime:
    def __init__(self, settings: Settings, db: Database, *, workers: bool = True) -> None:
        self.settings = settings
        self.db = db
        self.workers = workers

    async def start(self) -> None:
        log.info("runtime.started", workers=self.workers)

    async def stop(self) -> None:
        log.info("runtime.stopped")
