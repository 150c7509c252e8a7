"""`concurrency()` against the embedded server (real time), and its lease renewal on
virtual time with a fake client."""

from __future__ import annotations

import logging
from uuid import UUID, uuid4

import anyio
import pytest

from prefect_trio_client.orchestration import get_client
from prefect_trio_client.runs import (
    AcquireConcurrencySlotTimeoutError,
    ConcurrencySlotAcquisitionError,
    concurrency,
    flow,
    task,
)
from prefect_trio_client.runs._concurrency import _renew
from prefect_trio_client.schemas.actions import GlobalConcurrencyLimitCreate

pytestmark = pytest.mark.anyio


async def make_limit(name: str, limit: int) -> None:
    async with get_client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=limit)
        )


async def active_slots(name: str) -> int:
    async with get_client() as client:
        return (await client.read_global_concurrency_limit_by_name(name)).active_slots


async def test_slots_are_held_for_the_block_and_given_back() -> None:
    await make_limit("db", 3)
    async with concurrency("db", occupy=2):
        assert await active_slots("db") == 2
    assert await active_slots("db") == 0


async def test_a_full_limit_waits_within_the_timeout() -> None:
    await make_limit("one", 1)
    async with concurrency("one"):
        with pytest.raises(AcquireConcurrencySlotTimeoutError, match=r"0\.3 second"):
            async with concurrency("one", timeout_seconds=0.3):
                raise AssertionError("must not get the slot")
    assert await active_slots("one") == 0


async def test_a_waiter_gets_the_slot_once_it_is_given_back() -> None:
    await make_limit("turns", 1)
    order: list[str] = []
    first_holds = anyio.Event()

    async def first() -> None:
        async with concurrency("turns"):
            order.append("first in")
            first_holds.set()
            await anyio.sleep(0.2)
            order.append("first out")

    async def second() -> None:
        await first_holds.wait()
        async with concurrency("turns", timeout_seconds=30):
            order.append("second in")

    async with anyio.create_task_group() as group:
        group.start_soon(first)
        group.start_soon(second)
    assert order == ["first in", "first out", "second in"]


async def test_the_body_exception_passes_unchanged_and_the_slots_return() -> None:
    await make_limit("err", 1)
    error = KeyError("x")
    with pytest.raises(KeyError) as caught:
        async with concurrency("err"):
            raise error
    assert caught.value is error
    assert await active_slots("err") == 0


async def test_cancellation_inside_the_block_gives_the_slots_back() -> None:
    await make_limit("cancel", 1)
    with anyio.move_on_after(0.1) as scope:
        async with concurrency("cancel"):
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert await active_slots("cancel") == 0


async def test_a_missing_limit_is_skipped_with_a_warning_or_refused_when_strict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran = False
    with caplog.at_level(logging.WARNING, "prefect_trio_client.runs"):
        async with concurrency("nowhere"):
            ran = True
    assert ran
    assert "Concurrency limits ['nowhere'] do not exist - skipping acquisition." in caplog.text
    with pytest.raises(ConcurrencySlotAcquisitionError, match="must be created"):
        async with concurrency("nowhere", strict=True):
            raise AssertionError("must not run")


async def test_more_slots_than_the_limit_is_refused() -> None:
    await make_limit("small", 1)
    with pytest.raises(ConcurrencySlotAcquisitionError, match="greater than the limit"):
        async with concurrency("small", occupy=2):
            raise AssertionError("must not run")


async def test_bad_arguments_are_refused_before_any_request() -> None:
    with pytest.raises(ValueError, match="occupy"):
        async with concurrency("x", occupy=0):
            pass
    with pytest.raises(ValueError, match="lease_duration"):
        async with concurrency("x", lease_duration=5):
            pass


async def test_inside_a_task_the_runs_client_is_used() -> None:
    await make_limit("in-run", 1)

    @task
    async def guarded() -> int:
        async with concurrency("in-run"):
            return await active_slots("in-run")

    @flow
    async def owner() -> int:
        return await guarded()

    assert await owner() == 1
    assert await active_slots("in-run") == 0


class FakeLeaseClient:
    def __init__(self) -> None:
        self.renewals: list[float] = []
        self.fail = False

    async def renew_concurrency_lease(self, lease_id: UUID, lease_duration: float) -> None:
        self.renewals.append(anyio.current_time())
        if self.fail:
            raise ConnectionError("down")


@pytest.mark.virtual_time
async def test_the_lease_is_renewed_every_three_quarters_of_its_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = FakeLeaseClient()
    start = anyio.current_time()
    with anyio.move_on_after(200):
        await _renew(client, uuid4(), 60, ["x"])  # type: ignore[arg-type]
    assert [round(t - start) for t in client.renewals] == [45, 90, 135, 180]
    client.fail = True
    with anyio.move_on_after(50):
        await _renew(client, uuid4(), 60, ["x"])  # type: ignore[arg-type]
    assert "could not renew the concurrency lease on ['x']" in caplog.text
