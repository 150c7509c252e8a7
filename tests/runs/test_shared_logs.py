"""One log shipper shared by every run tree of a program (issue 15, item 7): runs share
``POST /logs/`` batches; a run that ends while others are in flight does not wait for its
own records (the next batch takes them), and the last run out sends everything before its
call returns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from prefect_trio_client.lifespan import current_lifespan_service
from prefect_trio_client.orchestration.client import PrefectClient
from prefect_trio_client.runs import flow, get_run_logger, use_client
from prefect_trio_client.runs._logs import LogShipper
from prefect_trio_client.runs._shared_logs import shared_shipper, shipper_app_for
from prefect_trio_client.testing import EmbeddedAPI, embedded_api
from tests.runs.helpers import flow_runs, logs
from tests.runs.test_task_events import recorded_client

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api() -> AsyncIterator[EmbeddedAPI]:
    async with embedded_api() as api:
        yield api


async def test_concurrent_runs_share_log_requests_and_their_logs_are_stored(
    api: EmbeddedAPI,
) -> None:
    @flow(name="chatty")
    async def chatty(index: int) -> int:
        get_run_logger().info("line %d", index)
        await anyio.sleep(index / 100)  # runs end one by one, not together
        return index

    client, recorder = recorded_client(api)
    async with client:
        with use_client(client):
            async with anyio.create_task_group() as group:
                for index in range(20):
                    group.start_soon(chatty, index)
        app = shipper_app_for(client)
        assert current_lifespan_service().refcount(app) == 0  # closed with the last run
        # stored when the last run returned
        for run in await flow_runs("chatty"):
            stored = [entry.message for entry in await logs(run.id)]
            assert f"line {run.parameters['index']}" in stored, stored
    posts = recorder.paths().count("POST /logs/")
    assert 1 <= posts <= 3, posts  # not one per run: runs ending one by one wait for none


async def test_a_lone_run_finds_its_logs_stored_when_its_call_returns(api: EmbeddedAPI) -> None:
    @flow(name="lone")
    async def lone() -> None:
        get_run_logger().info("alone")

    await lone()
    [run] = await flow_runs("lone")
    assert "alone" in [entry.message for entry in await logs(run.id)]


async def test_runs_with_different_clients_never_share_a_shipper() -> None:
    url = "http://127.0.0.1:4499/api"  # never opened: the key is made from the settings
    same = [PrefectClient(url, api_key="k"), PrefectClient(url, api_key="k")]
    assert shipper_app_for(same[0]) is shipper_app_for(same[1])
    for other in (
        PrefectClient(url, api_key="other"),
        PrefectClient(url),
        PrefectClient("http://127.0.0.1:4498/api", api_key="k"),
    ):
        assert shipper_app_for(other) is not shipper_app_for(same[0])


class FakeClient:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.gate: anyio.Event | None = None
        self.fail = False

    async def create_logs(self, entries: list[dict[str, Any]]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("the API is down")
        self.batches.append(list(entries))


def entry(n: int) -> dict[str, Any]:
    return {"name": "x", "level": 20, "message": str(n), "timestamp": "t"}


@pytest.mark.virtual_time
async def test_a_run_ending_while_a_batch_is_in_flight_goes_in_the_next_one() -> None:
    client = FakeClient()
    client.gate = anyio.Event()
    async with shared_shipper(client) as shipper:  # type: ignore[arg-type]
        async with anyio.create_task_group() as group:
            shipper.put(entry(1))
            group.start_soon(shipper.flush)  # the first batch goes at once, and waits
            await anyio.wait_all_tasks_blocked()
            shipper.put(entry(2))
            shipper.put(entry(3))
            group.start_soon(shipper.flush)
            group.start_soon(shipper.flush)
            await anyio.wait_all_tasks_blocked()
            assert client.batches == []
            client.gate.set()
        assert anyio.current_time() < shipper.interval  # no interval waited for
        assert [len(b) for b in client.batches] == [1, 2]
    assert shipper.sent == 3


@pytest.mark.virtual_time
async def test_a_run_ending_while_others_run_waits_for_none_of_its_records() -> None:
    client = FakeClient()
    async with shared_shipper(client) as shipper:  # type: ignore[arg-type]
        async with shared_shipper(client) as inner:  # type: ignore[arg-type]
            inner.put(entry(1))
        assert anyio.current_time() == 0  # returned at once
        assert client.batches == []  # and cost no request of its own
        shipper.put(entry(2))
        await anyio.sleep(shipper.interval + 0.5)  # just past the shipper's next tick
        assert client.batches == [[entry(1), entry(2)]]  # the next batch took them
        shipper.put(entry(3))
    assert client.batches == [[entry(1), entry(2)], [entry(3)]]  # the last out sent its own
    assert anyio.current_time() == shipper.interval + 0.5  # the last out waited no tick
    assert (shipper.sent, shipper.dropped) == (3, 0)


@pytest.mark.virtual_time
async def test_a_run_cancelled_while_others_run_leaves_its_records_to_the_last_out() -> None:
    client = FakeClient()
    async with shared_shipper(client) as shipper:  # type: ignore[arg-type]
        with anyio.CancelScope() as scope:
            async with shared_shipper(client) as inner:  # type: ignore[arg-type]
                inner.put(entry(1))
                scope.cancel()
                await anyio.sleep(1)
        assert scope.cancelled_caught
        assert anyio.current_time() == 0
    assert client.batches == [[entry(1)]]
    assert shipper.dropped == 0


@pytest.mark.virtual_time
async def test_the_last_run_out_sends_what_waits_even_when_cancelled() -> None:
    client = FakeClient()
    client.gate = anyio.Event()
    async with anyio.create_task_group() as group:

        async def open_gate() -> None:
            await anyio.sleep(3)
            client.gate.set()  # type: ignore[union-attr]

        group.start_soon(open_gate)
        with anyio.CancelScope() as scope:
            async with shared_shipper(client) as shipper:  # type: ignore[arg-type]
                shipper.put(entry(1))
                shipper.put(entry(2))
                scope.cancel()
    assert anyio.current_time() == 3  # the shielded flush waited for the send
    assert client.batches == [[entry(1), entry(2)]]
    assert shipper.dropped == 0


@pytest.mark.virtual_time
async def test_closing_with_a_send_that_hangs_drops_and_counts_within_the_bound() -> None:
    client = FakeClient()
    client.gate = anyio.Event()  # never set: the API hangs
    async with shared_shipper(client) as shipper:  # type: ignore[arg-type]
        shipper.put(entry(1))
    assert anyio.current_time() == pytest.approx(shipper.flush_timeout)
    assert (shipper.sent, shipper.dropped) == (0, 1)


@pytest.mark.virtual_time
async def test_a_failed_batch_costs_its_records_and_the_next_batch_goes_on() -> None:
    client = FakeClient()
    async with shared_shipper(client) as shipper:  # type: ignore[arg-type]
        client.fail = True
        async with shared_shipper(client) as inner:  # type: ignore[arg-type]
            inner.put(entry(1))
        await anyio.sleep(shipper.interval + 0.5)
        assert shipper.dropped == 1
        client.fail = False
        shipper.put(entry(2))
    assert client.batches == [[entry(2)]]
    assert (shipper.sent, shipper.dropped) == (1, 1)


@pytest.mark.virtual_time
async def test_the_shipper_closes_when_the_last_run_leaves() -> None:
    client = FakeClient()
    app = shipper_app_for(client)  # type: ignore[arg-type]
    service = current_lifespan_service()
    async with shared_shipper(client) as shipper:  # type: ignore[arg-type]
        async with shared_shipper(client) as same:  # type: ignore[arg-type]
            assert same is shipper
            assert service.refcount(app) == 2
        assert service.refcount(app) == 1
    assert service.refcount(app) == 0
    assert service.open_apps() == [] or app not in service.open_apps()
    assert shipper_app_for(client) is not app  # type: ignore[arg-type]  # a fresh one


@pytest.mark.virtual_time
async def test_an_api_refusing_logs_costs_records_not_the_run() -> None:
    client = FakeClient()
    client.fail = True
    async with shared_shipper(client) as shipper:  # type: ignore[arg-type]
        shipper.put(entry(1))
        shipper.put(entry(2))
    assert anyio.current_time() == 0
    assert shipper.dropped == 2
    assert shipper.sent == 0


def test_a_shipper_without_a_client_drops_and_counts() -> None:
    shipper = LogShipper()
    shipper.put(entry(1))
    assert shipper.dropped == 0  # queued: dropped only when no run can send it

    async def main() -> None:
        async with anyio.create_task_group() as group:
            await group.start(shipper.run)
            await shipper.flush()
            shipper.close()

    anyio.run(main)
    assert shipper.dropped == 1
