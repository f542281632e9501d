"""Background machinery of one process: dispatcher, webhook delivery, durable workflows,
scheduled jobs.

``bizos serve`` runs it in-process with the API; ``bizos serve --no-workers`` does not;
``bizos worker`` runs it alone.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher
from bizos.core.scheduler import Scheduler
from bizos.core.workflows import Workflows
from bizos.modules.outreach.delivery import MessageDelivery
from bizos.modules.webhooks.delivery import WebhookSender
from bizos.registry import install_ports, jobs, register_subscribers, workflows

log = structlog.get_logger("bizos.runtime")


class Runtime:
    def __init__(self, settings: Settings, db: Database, *, workers: bool = True) -> None:
        self.settings = settings
        self.db = db
        self.workers = workers
        self.workflows: Workflows | None = None
        self.message_delivery: MessageDelivery | None = None
        # Built even without workers so tests and `bizos worker` can drive them directly.
        self.dispatcher = Dispatcher(db, settings)
        install_ports()
        register_subscribers(self.dispatcher)
        self.scheduler = Scheduler(db, jobs())
        self.webhook_sender = WebhookSender(db, settings)
        self._loops: list[asyncio.Task[None]] = []
        self.smtp_receiver: asyncio.Server | None = None

    async def start(self) -> None:
        if self.workers and self.settings.workflows_enabled:
            # First, so event handlers started after it can start workflows.
            workflows()  # every manifest's workflows are defined before the executor starts
            self.workflows = Workflows(self.settings)
            await self.workflows.start()
        if self.workers:
            self.message_delivery = MessageDelivery(self.db)
            await self.message_delivery.start()
            self._loops = [
                asyncio.create_task(self.dispatcher.run_forever(), name="bizos-dispatcher"),
                asyncio.create_task(self.webhook_sender.run_forever(), name="bizos-webhooks"),
                asyncio.create_task(self.scheduler.run_forever(), name="bizos-scheduler"),
            ]
            if self.settings.smtp_receiver_port:
                from bizos.modules.support.inbound.smtp import start_smtp_receiver

                self.smtp_receiver = await start_smtp_receiver(
                    host=self.settings.smtp_receiver_host,
                    port=self.settings.smtp_receiver_port,
                    domains=self.settings.smtp_receiver_domains,
                )
        log.info("runtime.started", workers=self.workers)

    def worker_health(self) -> dict[str, bool]:
        """Each background loop of this process and whether it still runs (``/readyz``)."""
        return {task.get_name().removeprefix("bizos-"): not task.done() for task in self._loops}

    async def stop(self) -> None:
        if self.smtp_receiver is not None:
            self.smtp_receiver.close()
            await self.smtp_receiver.wait_closed()
            self.smtp_receiver = None
        await self._stop_loops()
        if self.message_delivery is not None:
            await self.message_delivery.stop()
            self.message_delivery = None
        await self._stop_workflows()  # last: the machinery stopped above may start workflows
        log.info("runtime.stopped")

    async def _stop_loops(self) -> None:
        self.dispatcher.stop()
        self.webhook_sender.stop()
        self.scheduler.stop()
        for task in self._loops:
            # Let the poll in progress finish; a stuck one is cancelled (and rolls back).
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=self.settings.webhook_timeout_seconds + 5)
        self._loops = []
        await self.webhook_sender.aclose()

    async def _stop_workflows(self) -> None:
        # Unfinished workflows stay PENDING; the next start with this executor id resumes them.
        if self.workflows is not None:
            await self.workflows.stop()
            self.workflows = None
