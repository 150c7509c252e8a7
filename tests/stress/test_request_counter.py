"""The stress tool's request counter: requests, busy answers, and the time spent in them.

The time in requests over the wall time is the report's "requests in flight, on average"
(what says that a run against a real server is bound by the server); on the virtual
clocks of the ``anyio_backend`` fixture every duration here is exact.
"""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from prefect_trio_client.stress._observe import RequestCounter

pytestmark = pytest.mark.anyio

SERVER_TIME = 0.25  # seconds each answer takes


async def answer(request: httpx.Request) -> httpx.Response:
    await anyio.sleep(SERVER_TIME)
    return httpx.Response(503 if request.url.path == "/busy" else 200)


async def test_sequential_requests_add_up_to_their_time_and_busy_answers_are_counted() -> None:
    counter = RequestCounter()
    transport = httpx.MockTransport(answer)
    hooks = counter.async_hooks()
    async with httpx.AsyncClient(transport=transport, event_hooks=hooks) as client:
        started = anyio.current_time()
        for path in ("/a", "/busy", "/admin/version"):
            await client.get(f"http://api{path}")
        wall = anyio.current_time() - started
    assert (counter.sent, counter.answered, counter.overloaded) == (3, 3, 1)
    assert counter.version_checks == 1
    assert counter.busy == pytest.approx(3 * SERVER_TIME)
    assert counter.busy / wall == pytest.approx(1.0)  # one request in flight at a time


async def test_concurrent_requests_count_each_its_own_time() -> None:
    counter = RequestCounter()
    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport, event_hooks=counter.async_hooks()) as client:
        started = anyio.current_time()
        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(client.get, "http://api/a")
        wall = anyio.current_time() - started
    assert counter.busy / wall == pytest.approx(4.0)


def test_sync_clients_are_timed_on_the_monotonic_clock() -> None:
    counter = RequestCounter()

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.05)  # the server's time, which the counter must see
        return httpx.Response(429)

    transport = httpx.MockTransport(slow)
    with httpx.Client(transport=transport, event_hooks=counter.sync_hooks()) as client:
        client.get("http://api/a")
    assert (counter.sent, counter.answered, counter.overloaded) == (1, 1, 1)
    assert counter.busy >= 0.05
