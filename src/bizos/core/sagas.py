"""Sagas: compensations a durable workflow records as its steps complete, run newest
first when it fails (DESIGN rule 4). Built on the seam in :mod:`bizos.core.workflows`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, ParamSpec

import structlog
from dbos import DBOS

from bizos.core.workflows import RetryPolicy, SagaFailed

P = ParamSpec("P")

log = structlog.get_logger("bizos.workflows")


class Saga:
    """Compensations recorded as a workflow's steps complete, run in reverse on failure.

    ::

        async with Saga("order_to_cash") as saga:
            reservation = await reserve_stock(tenant_id, order_id)
            saga.add_compensation(release_stock, tenant_id, reservation)
            payment = await charge_card(tenant_id, order_id)
            saga.add_compensation(refund_payment, tenant_id, payment)
            await ship_order(tenant_id, order_id)

    When the block raises, each compensation runs as a durable step (a ``@step``
    function with its own retry policy, or any async function, checkpointed under the
    name ``compensate:<function>``), newest first, and :class:`SagaFailed` is raised
    from the original error. Replay re-registers the same compensations in the same
    order, so a crash during compensation resumes where it stopped.
    """

    def __init__(self, name: str, *, compensation_retry: RetryPolicy | None = None) -> None:
        self.name = name
        self._retry = compensation_retry or RetryPolicy(max_attempts=3, interval_seconds=1.0)
        self._compensations: list[tuple[str, Callable[[], Coroutine[Any, Any, object]]]] = []

    def add_compensation(
        self,
        fn: Callable[P, Coroutine[Any, Any, object]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> None:
        step_name: str | None = getattr(fn, "__bizos_step__", None)
        if step_name is not None:
            self._compensations.append((step_name, functools.partial(fn, *args, **kwargs)))
            return
        name = f"compensate:{fn.__qualname__}"
        retry = self._retry

        async def compensate() -> object:
            return await DBOS.run_step_async(
                {
                    "name": name,
                    "retries_allowed": retry.max_attempts > 1,
                    "max_attempts": retry.max_attempts,
                    "interval_seconds": retry.interval_seconds,
                    "backoff_rate": retry.backoff_rate,
                },
                fn,
                *args,
                **kwargs,
            )

        self._compensations.append((name, compensate))

    async def compensate(self) -> tuple[list[str], list[str]]:
        """Run the recorded compensations newest first; returns (done, failed) step names.

        A compensation that fails for good is logged and skipped so the earlier ones still
        run.
        """
        done: list[str] = []
        failed: list[str] = []
        while self._compensations:
            step_name, compensation = self._compensations.pop()
            try:
                await compensation()
            except Exception as error:
                log.error(
                    "saga.compensation_failed",
                    saga=self.name,
                    step=step_name,
                    error=type(error).__name__,
                )
                failed.append(step_name)
            else:
                done.append(step_name)
        return done, failed

    async def __aenter__(self) -> Saga:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Only real failures compensate: a cancelled task (shutdown) stays PENDING and is
        # replayed by recovery, which must find the saga where it was.
        if not isinstance(exc, Exception):
            return
        done, failed = await self.compensate()
        log.warning("saga.compensated", saga=self.name, compensated=done, failed=failed)
        raise SagaFailed(self.name, f"{type(exc).__name__}: {exc}", done, failed) from exc
