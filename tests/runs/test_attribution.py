"""Requests made for a flow run carry Prefect's attribution headers (embedded server)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from prefect_trio_client.runs import flow, task, use_client
from prefect_trio_client.testing import EmbeddedAPI, embedded_api
from tests.runs.helpers import WrappingTransport, only_flow_run

pytestmark = pytest.mark.anyio


class Recorder(WrappingTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        super().__init__(inner)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def api() -> AsyncIterator[EmbeddedAPI]:
    async with embedded_api() as api:
        yield api


async def test_a_flow_runs_requests_name_its_flow(api: EmbeddedAPI) -> None:
    recorders: list[Recorder] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        recorders.append(Recorder(inner))
        return recorders[0]

    @task
    async def step() -> None:
        pass

    @flow(name="attributed")
    async def attributed() -> None:
        await step()

    async with api.client(wrap_transport=wrap) as client:
        with use_client(client):
            await attributed()
    run = await only_flow_run("attributed")
    # the task run goes by events; the flow run's own state proposals are made in the run
    in_run = [r for r in recorders[0].requests if r.url.path.endswith("/set_state")]
    assert in_run
    headers = in_run[-1].headers
    assert headers["X-Prefect-Flow-Id"] == str(run.flow_id)
    assert headers["X-Prefect-Flow-Name"] == "attributed"
    flow_creation = [r for r in recorders[0].requests if r.url.path.endswith("/flows/")]
    assert "X-Prefect-Flow-Id" not in flow_creation[0].headers  # before the run existed
