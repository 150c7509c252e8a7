"""Backpressure through the async client against a server whose latency spreads widely
without any queueing: that is no overload, and the limit stays open.

Virtual time on asyncio and trio (see conftest): the latencies are exact.
"""

from __future__ import annotations

import random

import anyio
import httpx
import pytest

from prefect_trio_client._backpressure import AdaptiveLimit
from prefect_trio_client.base import PrefectHttpxAsyncClient, RetryPolicy

pytestmark = pytest.mark.anyio


async def _drive(server: httpx.MockTransport, limit: AdaptiveLimit, *, callers: int) -> None:
    """`callers` concurrent callers, 100 POSTs each."""
    async with PrefectHttpxAsyncClient(
        transport=server,
        base_url="http://prefect.test/api",
        retry_policy=RetryPolicy(jitter_factor=0),
        backpressure=limit,
    ) as client:

        async def caller() -> None:
            for _ in range(100):
                (await client.post("/flow_runs/", json={})).raise_for_status()

        async with anyio.create_task_group() as group:
            for _ in range(callers):
                group.start_soon(caller)


async def test_latency_spread_without_queueing_keeps_the_limit_open() -> None:
    """As on Prefect's scaled topology (nginx, two replicas, PostgreSQL): latencies spread
    tenfold whatever our load, and no 503. Compared with the fastest latency seen, the
    limit fell to 1 there; compared with the typical latency, it stays open."""
    rng = random.Random(11)

    async def spread(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.01 * rng.lognormvariate(0.0, 0.8))
        return httpx.Response(201, json={})

    limit = AdaptiveLimit(initial=4, maximum=16)
    await _drive(httpx.MockTransport(spread), limit, callers=20)
    snapshot = limit.snapshot()
    assert snapshot.limit >= 12.0
    assert snapshot.peak_in_flight == 16
