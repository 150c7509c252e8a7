"""Runs when the API goes away: logging never fails a run, and a run whose API comes
back within the retry budget is still reported (embedded server, real time)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from prefect_trio_client.base import RetryPolicy
from prefect_trio_client.runs import flow, get_run_logger, use_client
from prefect_trio_client.schemas.objects import StateType
from prefect_trio_client.testing import EmbeddedAPI, embedded_api
from tests.runs.helpers import WrappingTransport, logs, only_flow_run

pytestmark = pytest.mark.anyio


class Outage(WrappingTransport):
    """Refuses connections to matching paths while `down`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, paths: tuple[str, ...]) -> None:
        super().__init__(inner)
        self.paths = paths
        self.down = False
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down and any(request.url.path.endswith(path) for path in self.paths):
            self.refused += 1
            raise httpx.ConnectError("connection refused (simulated)", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def api() -> AsyncIterator[EmbeddedAPI]:
    async with embedded_api() as api:
        yield api


def client_with_outage(api: EmbeddedAPI, *paths: str) -> tuple[Any, Outage]:
    made: list[Outage] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        made.append(Outage(inner, paths))
        return made[0]

    policy = RetryPolicy(jitter_factor=0, backoff_base=0.05)
    client = api.client(wrap_transport=wrap, httpx_settings={"retry_policy": policy})
    return client, made[0]


async def test_an_api_that_refuses_logs_does_not_fail_the_run(
    api: EmbeddedAPI, caplog: pytest.LogCaptureFixture
) -> None:
    client, outage = client_with_outage(api, "/logs/")

    @flow
    async def chatty() -> str:
        get_run_logger().info("nobody will read this")
        return "done"

    async with client:
        outage.down = True
        with use_client(client), caplog.at_level(logging.WARNING, "prefect_trio_client.runs"):
            assert await chatty() == "done"
    assert outage.refused > 0
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "run logs are being dropped" in m]) == 1
    run = await only_flow_run("chatty")
    assert run.state_type is StateType.COMPLETED
    assert await logs(run.id) == []


async def test_a_run_is_reported_when_the_api_comes_back(api: EmbeddedAPI) -> None:
    client, outage = client_with_outage(api, "")  # every path

    async def come_back_later() -> None:
        await anyio.sleep(0.3)
        outage.down = False

    @flow
    async def through_outage() -> str:
        outage.down = True  # from here the API is unreachable for a while
        return "survived"

    async with client, anyio.create_task_group() as group:
        with use_client(client):
            group.start_soon(come_back_later)
            assert await through_outage() == "survived"
    assert outage.refused > 0
    run = await only_flow_run("through-outage")
    assert run.state_type is StateType.COMPLETED
