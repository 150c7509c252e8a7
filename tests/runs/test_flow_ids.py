"""The flow is created once per process and API, not once per flow run (issue 15, item
7), and again when the server no longer knows it (embedded server, real time)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from prefect_trio_client.runs import flow, use_client
from prefect_trio_client.testing import EmbeddedAPI, embedded_api
from tests.runs.helpers import WrappingTransport, flow_runs

pytestmark = pytest.mark.anyio


class Counter(WrappingTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        super().__init__(inner)
        self.flow_creations = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/flows/"):
            self.flow_creations += 1
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def api() -> AsyncIterator[EmbeddedAPI]:
    async with embedded_api() as api:
        yield api


@flow(name="kept")
async def kept() -> None:
    pass


async def runs_through_new_clients(api: EmbeddedAPI, count: int) -> int:
    """Run `kept` `count` times, each through a client of its own; the flow creations."""
    created = 0
    for _ in range(count):
        counters: list[Counter] = []

        def wrap(inner: httpx.AsyncBaseTransport, counters: list[Counter] = counters) -> Counter:
            counters.append(Counter(inner))
            return counters[0]

        async with api.client(wrap_transport=wrap) as client:
            with use_client(client):
                await kept()
        created += counters[0].flow_creations
    return created


async def test_a_flow_is_created_once_for_all_its_runs(api: EmbeddedAPI) -> None:
    assert await runs_through_new_clients(api, 3) == 1
    runs = await flow_runs("kept")
    assert len(runs) == 3
    assert len({run.flow_id for run in runs}) == 1


async def test_a_flow_deleted_on_the_server_is_created_again(api: EmbeddedAPI) -> None:
    assert await runs_through_new_clients(api, 1) == 1
    [first] = await flow_runs("kept")
    async with api.client() as client:
        await client.delete_flow(first.flow_id)
    assert await runs_through_new_clients(api, 1) == 1  # the kept id was refused: created
    [second] = await flow_runs("kept")
    assert second.flow_id != first.flow_id


async def test_another_embedded_api_gets_its_own_flow() -> None:
    for _ in range(2):  # a new app is a new database: the id kept for the last one is not used
        async with embedded_api() as api:
            assert await runs_through_new_clients(api, 1) == 1
