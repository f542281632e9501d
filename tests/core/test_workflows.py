"""Durable workflows through the seam: started once per event, steps retried by policy,
sagas compensated in reverse, signals awaited with a timeout. Runs on SQLite and, with
BIZOS_TEST_DATABASE_URL, on PostgreSQL (DBOS tables in the app's own database)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database, get_database
from bizos.core.events import Event, append_event
from bizos.core.ids import new_id
from bizos.core.observability import metrics
from bizos.core.sagas import Saga
from bizos.core.workflows import (
    RetryPolicy,
    SagaFailed,
    WorkflowNotFound,
    Workflows,
    WorkflowsNotRunning,
    durable_sleep,
    get_workflow_status,
    get_workflow_steps,
    send_signal,
    start_workflow,
    step,
    wait_for_signal,
    workflow,
    workflow_id_for_event,
)
from bizos.runtime import Runtime

# What the steps below did, keyed by a per-test run key so tests never share state.
attempts: Counter[str] = Counter()
journal: defaultdict[str, list[str]] = defaultdict(list)


class PaymentDeclined(Exception):
    pass


@pytest.fixture
async def workflows(settings: Settings, db: Database) -> AsyncIterator[Workflows]:
    runtime = Workflows(
        settings.model_copy(
            update={"workflows_enabled": True, "executor_id": f"test-{uuid.uuid4().hex[:8]}"}
        )
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def until(condition: Callable[[], bool], *, within_seconds: float = 30) -> None:
    async with asyncio.timeout(within_seconds):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


def runs(workflow_name: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "bizos_workflow_runs_total", {"workflow": workflow_name, "outcome": outcome}
    )
    return value or 0.0


# --- started once per event -----------------------------------------------------------


@step()
async def confirm_order(run: str, order_id: str) -> str:
    attempts[f"{run}:confirm"] += 1
    return f"confirmed {order_id}"


@workflow("tests.confirm_order")
async def confirm_order_flow(run: str, order_id: str) -> str:
    return await confirm_order(run, order_id)


async def test_starting_twice_from_the_same_event_runs_the_workflow_once(
    workflows: Workflows,
) -> None:
    run, event_id = uuid.uuid4().hex, new_id()
    before = runs("tests.confirm_order", "succeeded")
    workflow_id = workflow_id_for_event(event_id, "tests.confirm_order")

    first = await start_workflow(confirm_order_flow, run, "o-1", workflow_id=workflow_id)
    assert await first.result(timeout_seconds=30) == "confirmed o-1"
    second = await start_workflow("tests.confirm_order", run, "o-1", workflow_id=workflow_id)

    assert second.workflow_id == first.workflow_id == workflow_id
    assert await second.result(timeout_seconds=30) == "confirmed o-1"
    assert attempts[f"{run}:confirm"] == 1
    assert runs("tests.confirm_order", "succeeded") == before + 1
    state = await second.status()
    assert (state.status, state.name, state.executor_id) == (
        "succeeded",
        "tests.confirm_order",
        workflows.executor_id,
    )


async def test_concurrent_starts_from_a_redelivered_event_run_the_workflow_once(
    workflows: Workflows,
) -> None:
    run = uuid.uuid4().hex
    workflow_id = workflow_id_for_event(new_id(), "tests.confirm_order")

    handles = await asyncio.gather(
        *(start_workflow(confirm_order_flow, run, "o-2", workflow_id=workflow_id) for _ in range(5))
    )

    results = [await h.result(timeout_seconds=30) for h in handles]
    assert results == ["confirmed o-2"] * 5
    assert attempts[f"{run}:confirm"] == 1


def test_the_event_derived_id_is_stable_and_names_the_workflow() -> None:
    event_id = new_id()
    assert workflow_id_for_event(event_id, "crm.enrich_lead") == workflow_id_for_event(
        event_id, "crm.enrich_lead"
    )
    assert workflow_id_for_event(event_id, "crm.enrich_lead") != workflow_id_for_event(
        event_id, "crm.assign_lead"
    )
    with pytest.raises(ValueError):
        workflow_id_for_event("", "crm.enrich_lead")


async def test_an_unknown_workflow_name_is_refused(workflows: Workflows) -> None:
    with pytest.raises(LookupError):
        await start_workflow("tests.no_such_workflow")


async def test_without_the_runtime_nothing_starts() -> None:
    with pytest.raises(WorkflowsNotRunning):
        await start_workflow(confirm_order_flow, "run", "o-3")


# --- retry policies -------------------------------------------------------------------


@step(retry=RetryPolicy(max_attempts=3, interval_seconds=0.01, backoff_rate=2.0))
async def reserve_courier(run: str, failures: int) -> str:
    attempts[f"{run}:courier"] += 1
    if attempts[f"{run}:courier"] <= failures:
        raise ConnectionError("courier API unreachable")
    return "courier booked"


@step(retry=RetryPolicy(max_attempts=5, interval_seconds=0.01, give_up_on=(PaymentDeclined,)))
async def charge_card(run: str) -> str:
    attempts[f"{run}:charge"] += 1
    raise PaymentDeclined("card declined")


@workflow("tests.book_courier")
async def book_courier_flow(run: str, failures: int) -> str:
    return await reserve_courier(run, failures)


@workflow("tests.charge")
async def charge_flow(run: str) -> str:
    return await charge_card(run)


async def test_step_failing_twice_then_succeeding_runs_three_times_and_completes(
    workflows: Workflows,
) -> None:
    run = uuid.uuid4().hex

    handle = await start_workflow(book_courier_flow, run, 2)

    assert await handle.result(timeout_seconds=30) == "courier booked"
    assert attempts[f"{run}:courier"] == 3
    steps = await get_workflow_steps(handle.workflow_id)
    assert [(s.name, s.error) for s in steps] == [("reserve_courier", None)]


async def test_step_out_of_attempts_fails_the_workflow_with_the_steps_own_error(
    workflows: Workflows,
) -> None:
    run = uuid.uuid4().hex
    before = runs("tests.book_courier", "failed")

    handle = await start_workflow(book_courier_flow, run, 10)

    with pytest.raises(ConnectionError, match="courier API unreachable"):
        await handle.result(timeout_seconds=30)
    assert attempts[f"{run}:courier"] == 3
    state = await handle.status()
    assert state.status == "failed" and state.finished
    assert state.error is not None and "courier API unreachable" in state.error
    assert runs("tests.book_courier", "failed") == before + 1


async def test_an_error_the_policy_gives_up_on_is_not_retried(workflows: Workflows) -> None:
    run = uuid.uuid4().hex

    handle = await start_workflow(charge_flow, run)

    with pytest.raises(PaymentDeclined):
        await handle.result(timeout_seconds=30)
    assert attempts[f"{run}:charge"] == 1


def test_a_retry_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(backoff_rate=0.5)


# --- sagas ----------------------------------------------------------------------------


@step()
async def reserve_stock(run: str) -> str:
    journal[run].append("reserve_stock")
    return "reservation-1"


@step()
async def release_stock(run: str, reservation: str) -> None:
    journal[run].append(f"release_stock {reservation}")


@step()
async def take_payment(run: str) -> str:
    journal[run].append("take_payment")
    return "payment-1"


async def refund_payment(run: str, payment: str) -> None:
    # A plain async function: the saga makes it a durable step of its own.
    journal[run].append(f"refund_payment {payment}")


@step(retry=RetryPolicy(max_attempts=2, interval_seconds=0.01))
async def ship_order(run: str, fail: bool) -> str:
    journal[run].append("ship_order")
    if fail:
        raise RuntimeError("carrier rejected the parcel")
    return "shipped"


@workflow("tests.order_to_cash")
async def order_to_cash(run: str, fail_shipping: bool) -> str:
    async with Saga("order_to_cash") as saga:
        reservation = await reserve_stock(run)
        saga.add_compensation(release_stock, run, reservation)
        payment = await take_payment(run)
        saga.add_compensation(refund_payment, run, payment)
        return await ship_order(run, fail_shipping)


async def test_saga_step_failing_for_good_compensates_earlier_steps_in_reverse_order(
    workflows: Workflows,
) -> None:
    run = uuid.uuid4().hex
    before = runs("tests.order_to_cash", "compensated")

    handle = await start_workflow(order_to_cash, run, True)

    with pytest.raises(SagaFailed) as failed:
        await handle.result(timeout_seconds=30)
    assert journal[run] == [
        "reserve_stock",
        "take_payment",
        "ship_order",
        "ship_order",
        "refund_payment payment-1",
        "release_stock reservation-1",
    ]
    assert failed.value.compensated == ["compensate:refund_payment", "release_stock"]
    assert failed.value.failed_compensations == []
    assert "carrier rejected the parcel" in failed.value.reason
    steps = [s.name for s in await get_workflow_steps(handle.workflow_id)]
    assert steps == [
        "reserve_stock",
        "take_payment",
        "ship_order",
        "compensate:refund_payment",
        "release_stock",
    ]
    assert (await handle.status()).status == "failed"
    assert runs("tests.order_to_cash", "compensated") == before + 1


@step()
async def book_return_label(run: str) -> None:
    journal[run].append("book_return_label")


@step(retry=RetryPolicy(max_attempts=2, interval_seconds=0.01))
async def cancel_return_label(run: str) -> None:
    journal[run].append("cancel_return_label")
    raise ConnectionError("label service down")


@workflow("tests.return_order")
async def return_order(run: str) -> str:
    async with Saga("return_order") as saga:
        reservation = await reserve_stock(run)
        saga.add_compensation(release_stock, run, reservation)
        await book_return_label(run)
        saga.add_compensation(cancel_return_label, run)
        return await ship_order(run, True)


async def test_a_compensation_that_fails_for_good_does_not_stop_the_earlier_ones(
    workflows: Workflows,
) -> None:
    run = uuid.uuid4().hex

    handle = await start_workflow(return_order, run)

    with pytest.raises(SagaFailed) as failed:
        await handle.result(timeout_seconds=30)
    assert failed.value.failed_compensations == ["cancel_return_label"]
    assert failed.value.compensated == ["release_stock"]
    assert journal[run][-3:] == [
        "cancel_return_label",
        "cancel_return_label",
        "release_stock reservation-1",
    ]


async def test_saga_that_completes_runs_no_compensation(workflows: Workflows) -> None:
    run = uuid.uuid4().hex

    handle = await start_workflow(order_to_cash, run, False)

    assert await handle.result(timeout_seconds=30) == "shipped"
    assert journal[run] == ["reserve_stock", "take_payment", "ship_order"]


# --- signals --------------------------------------------------------------------------


@step()
async def escalate(run: str, level: int) -> None:
    journal[run].append(f"escalated to level {level}")


@workflow("tests.escalation_ladder")
async def escalation_ladder(run: str, waits: list[float]) -> str:
    """Escalate a ticket one level each time a wait ends without a customer reply."""
    for level, wait in enumerate(waits, start=1):
        reply = await wait_for_signal("customer.replied", timeout_seconds=wait)
        if reply is not None:
            return f"stopped at level {level - 1} by {reply['channel']}"
        await escalate(run, level)
    return "escalated to the top"


@workflow("tests.sleep_then_wait")
async def sleep_then_wait(run: str) -> str:
    await durable_sleep(0.3)
    reply = await wait_for_signal("customer.replied", timeout_seconds=30)
    return str(reply["channel"]) if reply else "no reply"


@workflow("tests.count_replies")
async def count_replies(run: str) -> int:
    """Count replies until none has come for half a second."""
    if await wait_for_signal("customer.replied", timeout_seconds=30) is None:
        return 0
    count = 1
    while await wait_for_signal("customer.replied", timeout_seconds=0.5) is not None:
        count += 1
    return count


async def test_a_customer_reply_stops_the_escalation(workflows: Workflows) -> None:
    run = uuid.uuid4().hex
    handle = await start_workflow(escalation_ladder, run, [0.2, 60.0, 60.0])

    await until(lambda: journal[run] == ["escalated to level 1"])
    await send_signal(handle.workflow_id, "customer.replied", {"channel": "email"})

    assert await handle.result(timeout_seconds=30) == "stopped at level 1 by email"
    assert journal[run] == ["escalated to level 1"]
    steps = [s.name for s in await get_workflow_steps(handle.workflow_id)]
    assert steps == ["wait_for_signal", "escalate", "wait_for_signal"]


async def test_waiting_for_a_signal_that_never_comes_times_out_with_none(
    workflows: Workflows,
) -> None:
    run = uuid.uuid4().hex

    handle = await start_workflow(escalation_ladder, run, [0.1, 0.1])

    assert await handle.result(timeout_seconds=30) == "escalated to the top"
    assert journal[run] == ["escalated to level 1", "escalated to level 2"]


async def test_a_signal_sent_before_the_wait_is_not_lost(workflows: Workflows) -> None:
    run = uuid.uuid4().hex
    handle = await start_workflow(sleep_then_wait, run)

    await send_signal(handle.workflow_id, "customer.replied", {"channel": "sms"})

    assert await handle.result(timeout_seconds=30) == "sms"


async def test_a_redelivered_signal_with_the_same_key_is_delivered_once(
    workflows: Workflows,
) -> None:
    run = uuid.uuid4().hex
    handle = await start_workflow(count_replies, run)

    for _ in range(2):
        await send_signal(handle.workflow_id, "customer.replied", "hi", idempotency_key="evt-1")

    assert await handle.result(timeout_seconds=30) == 1


async def test_a_signal_to_an_unknown_workflow_is_refused(workflows: Workflows) -> None:
    with pytest.raises(WorkflowNotFound):
        await send_signal("no-such-workflow", "customer.replied", "hi")


async def test_status_of_an_unknown_workflow_is_none(workflows: Workflows) -> None:
    assert await get_workflow_status("no-such-workflow") is None


async def test_waiting_outside_a_workflow_is_refused(workflows: Workflows) -> None:
    with pytest.raises(RuntimeError):
        await wait_for_signal("customer.replied", timeout_seconds=0.1)
    with pytest.raises(RuntimeError):
        await durable_sleep(0.1)


# --- steps and the app database -------------------------------------------------------


@step()
async def record_order_shipped(tenant_id: str, order_id: str) -> str:
    # Steps take ids and open their own unit of work (DESIGN rule 5).
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        row = await append_event(
            session,
            Context(tenant_id=tenant_id),
            "commerce.order.shipped",
            aggregate_type="order",
            aggregate_id=order_id,
        )
    return str(row["id"])


@workflow("tests.ship_and_record")
async def ship_and_record(tenant_id: str, order_id: str) -> str:
    return await record_order_shipped(tenant_id, order_id)


async def test_a_step_writes_to_the_app_database_in_its_own_unit_of_work(
    workflows: Workflows, db: Database
) -> None:
    tenant_id, other_tenant_id = new_id(), new_id()

    handle = await start_workflow(ship_and_record, tenant_id, "order-7")
    event_id = await handle.result(timeout_seconds=30)

    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        shipped = (await session.scalars(sa.select(Event.id))).all()
    async with db.unit_of_work(tenant_id=other_tenant_id, readonly=True) as session:
        seen_by_other = (await session.scalars(sa.select(Event.id))).all()
    assert shipped == [event_id]
    assert seen_by_other == []


# --- lifecycle ------------------------------------------------------------------------


@step()
async def pack_parcel(run: str) -> None:
    journal[run].append("packed")


@step()
async def hand_to_carrier(run: str) -> None:
    journal[run].append("handed to carrier")


@workflow("tests.pack_wait_ship")
async def pack_wait_ship(run: str) -> str:
    await pack_parcel(run)
    await durable_sleep(0.5)
    await hand_to_carrier(run)
    return "shipped"


async def test_stopping_leaves_a_workflow_pending_and_the_next_start_resumes_it(
    settings: Settings, db: Database
) -> None:
    run = uuid.uuid4().hex
    same_process = settings.model_copy(update={"executor_id": f"test-{run[:8]}"})
    first = Workflows(same_process)
    await first.start()
    handle = await start_workflow(pack_wait_ship, run)
    await until(lambda: journal[run] == ["packed"])
    await first.stop()

    second = Workflows(same_process)
    await second.start()
    try:
        resumed = await start_workflow(pack_wait_ship, run, workflow_id=handle.workflow_id)
        assert await resumed.result(timeout_seconds=30) == "shipped"
    finally:
        await second.stop()
    assert journal[run] == ["packed", "handed to carrier"]


async def test_the_runtime_runs_workflows_only_where_workers_run(
    settings: Settings, db: Database
) -> None:
    enabled = settings.model_copy(update={"workflows_enabled": True})
    runtime = Runtime(enabled, db, workers=True)
    await runtime.start()
    try:
        handle = await start_workflow(confirm_order_flow, uuid.uuid4().hex, "o-9")
        assert await handle.result(timeout_seconds=30) == "confirmed o-9"
    finally:
        await runtime.stop()
    with pytest.raises(WorkflowsNotRunning):
        await start_workflow(confirm_order_flow, "run", "o-9")

    api_only = Runtime(enabled, db, workers=False)
    await api_only.start()
    try:
        assert api_only.workflows is None
    finally:
        await api_only.stop()
