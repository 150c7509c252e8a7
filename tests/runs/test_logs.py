"""The log shipper on virtual time, with a fake client."""

from __future__ import annotations

import logging
import threading
from typing import Any

import anyio
import pytest

from prefect_trio_client.runs._logs import LogShipper

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]


class FakeClient:
    def __init__(self) -> None:
        self.batches: list[tuple[float, list[dict[str, Any]]]] = []
        self.fail = False
        self.hang = False
        self.delay = 0.0  # how long the API takes to answer

    async def create_logs(self, entries: list[dict[str, Any]]) -> None:
        if self.delay:
            await anyio.sleep(self.delay)
        if self.hang:
            await anyio.sleep_forever()
        if self.fail:
            raise ConnectionError("the API is down")
        self.batches.append((anyio.current_time(), list(entries)))


def entry(n: int) -> dict[str, Any]:
    return {"name": "x", "level": 20, "message": str(n), "timestamp": "t"}


async def test_a_full_batch_goes_at_once_and_the_rest_at_the_interval() -> None:
    client = FakeClient()
    shipper = LogShipper(client, batch_size=3, interval=2.0)  # type: ignore[arg-type]
    async with anyio.create_task_group() as group:
        await group.start(shipper.run)
        await anyio.sleep(0.5)
        start = anyio.current_time()
        for n in range(3):
            shipper.put(entry(n))
        shipper.put(entry(3))  # queued before the shipper woke: goes with them
        await anyio.sleep(0.1)
        assert [(t - start, len(b)) for t, b in client.batches] == [(0, 3), (0, 1)]
        shipper.put(entry(4))  # not a full batch: waits for the interval
        await anyio.sleep(1)
        assert len(client.batches) == 2
        await anyio.sleep(1)
        assert [len(b) for _, b in client.batches] == [3, 1, 1]
        shipper.close()
    assert shipper.sent == 5
    assert shipper.dropped == 0


async def test_records_arriving_during_a_slow_send_wait_for_the_interval() -> None:
    """Against a slow API, what arrives while a batch is in flight is not sent the moment
    that send returns (a request in flight all the time), unless it fills a batch."""
    client = FakeClient()
    client.delay = 0.5
    shipper = LogShipper(client, batch_size=3, interval=2.0)  # type: ignore[arg-type]
    async with anyio.create_task_group() as group:
        await group.start(shipper.run)
        start = anyio.current_time()
        shipper.put(entry(0))
        await anyio.sleep(2.1)  # the interval's send is in flight
        shipper.put(entry(1))
        await anyio.sleep(1.0)  # it returned at 2.5 s; entry 1 waits
        assert [(t - start, len(b)) for t, b in client.batches] == [(2.5, 1)]
        for n in range(2, 5):
            shipper.put(entry(n))  # a full batch (with entry 1) goes at once
        await anyio.sleep(0.6)
        assert [(t - start, len(b)) for t, b in client.batches] == [(2.5, 1), (3.6, 3)]
        await anyio.sleep(0.6)  # entry 4 was waiting when that send began: it follows
        assert [(t - start, len(b)) for t, b in client.batches][2:] == [(4.1, 1)]
        shipper.close()
    assert shipper.sent == 5


async def test_close_flushes_what_waits() -> None:
    client = FakeClient()
    shipper = LogShipper(client, interval=60)  # type: ignore[arg-type]
    async with anyio.create_task_group() as group:
        await group.start(shipper.run)
        shipper.put(entry(1))
        shipper.close()
    assert [len(b) for _, b in client.batches] == [1]
    assert anyio.current_time() < 60


async def test_records_from_threads_are_taken_without_waiting() -> None:
    client = FakeClient()
    shipper = LogShipper(client, interval=1)  # type: ignore[arg-type]
    async with anyio.create_task_group() as group:
        await group.start(shipper.run)

        def many() -> None:
            for n in range(50):
                shipper.put(entry(n))
            assert threading.current_thread() is not threading.main_thread()

        await anyio.to_thread.run_sync(many)
        shipper.close()
    assert sum(len(b) for _, b in client.batches) == 50


async def test_a_full_queue_drops_and_counts_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = FakeClient()
    shipper = LogShipper(client, max_queue=2, interval=60)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, "prefect_trio_client.runs"):
        for n in range(5):
            shipper.put(entry(n))
    assert shipper.dropped == 3
    warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(warnings) == 1
    assert "full" in warnings[0].getMessage()


async def test_an_api_that_refuses_logs_costs_records_not_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = FakeClient()
    client.fail = True
    shipper = LogShipper(client, interval=1)  # type: ignore[arg-type]
    async with anyio.create_task_group() as group:
        await group.start(shipper.run)
        shipper.put(entry(1))
        await anyio.sleep(1.5)
        shipper.put(entry(2))
        shipper.close()
    assert shipper.dropped == 2
    assert shipper.sent == 0
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 1


async def test_the_last_flush_is_bounded_even_when_cancelled() -> None:
    client = FakeClient()
    client.hang = True
    shipper = LogShipper(client, interval=60, flush_timeout=5)  # type: ignore[arg-type]
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            await group.start(shipper.run)
            shipper.put(entry(1))  # not a full batch: waits for the interval
            scope.cancel()  # the run is cancelled: the shipper still tries, 5 s at most
    assert scope.cancelled_caught
    assert anyio.current_time() == pytest.approx(5)
    assert shipper.dropped == 1


async def test_a_batch_cut_off_mid_send_is_counted_not_sent_twice() -> None:
    client = FakeClient()
    client.hang = True
    shipper = LogShipper(client, batch_size=1, interval=60)  # type: ignore[arg-type]
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            await group.start(shipper.run)
            shipper.put(entry(1))  # a full batch: sent at once, and hangs
            await anyio.sleep(1)
            scope.cancel()
    assert shipper.dropped == 1
    assert client.batches == []
