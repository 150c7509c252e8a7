"""Events through a misbehaving network, against a real Prefect server with its services:
the loopback fault proxy (tests/fault_proxy.py) sits between our clients and the server.

- a websocket cut mid-stream, several times during a burst: every event stored once;
- a proxy that refuses websocket upgrades: a `@flow`'s task runs are all recorded by
  Prefect's task-run recorder, with the states the same flow records without the proxy;
- a subscriber whose websocket is cut: every event seen once, none twice.

The server's persister writes events a moment after they arrive, so reads poll with a
deadline. `nox -s interop` runs this module against a server started with its services
(``PREFECT_TRIO_CLIENT_INTEROP_SERVICES=1``); elsewhere it is skipped.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

from prefect_trio_client import flow, task
from prefect_trio_client.events import Event, Resource, get_events_client, get_events_subscriber
from prefect_trio_client.orchestration import get_client
from prefect_trio_client.schemas.events import EventFilter, EventResourceFilter
from prefect_trio_client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from tests.fault_proxy import FaultProxy, run_fault_proxy
from tests.interop.events_read import stored_ids

pytestmark = [
    pytest.mark.interop,
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"]),
    pytest.mark.skipif(
        os.environ.get("PREFECT_TRIO_CLIENT_INTEROP_SERVICES") != "1",
        reason="needs a Prefect server with its services (nox -s interop runs it)",
    ),
]

BURST = 300


def upstream(api_url: str) -> tuple[str, int]:
    parts = urlsplit(api_url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def through(proxy: FaultProxy) -> str:
    return f"{proxy.url}/api"


def of_resource(resource_id: str) -> EventFilter:
    return EventFilter(resource=EventResourceFilter(id=[resource_id]))


def burst(resource_id: str, count: int = BURST) -> list[Event]:
    return [
        Event(
            event="proxy.burst",
            resource=Resource({"prefect.resource.id": resource_id}),
            payload={"n": n, "padding": "x" * 200},
        )
        for n in range(count)
    ]


# --------------------------------------------------------------------------- a


async def test_a_websocket_cut_mid_stream_stores_every_event_once(
    api_url: str, unique: str, anyio_backend: str
) -> None:
    resource_id = f"proxy.cut.{unique}"
    events = burst(resource_id)
    # each event is ~500 bytes on the wire: the cuts fall inside frames, three times
    cuts = run_fault_proxy(*upstream(api_url), seed=1, ws_cut_after=[20_000] * 3)
    async with cuts as proxy:
        emitter = get_events_client(through(proxy), checkpoint_every=50, backoff_initial=0.05)
        async with emitter:
            assert all(emitter.emit_nowait(e) for e in events)
    assert proxy.ws_cut == 3
    assert emitter.reconnects >= 3
    assert emitter.transport == "websocket"
    assert (emitter.delivered, emitter.dropped) == (BURST, 0)
    ids = await stored_ids(api_url, of_resource(resource_id), BURST)
    assert len(ids) == BURST
    assert set(ids) == {str(e.id) for e in events}


async def test_a_proxy_fixed_later_gets_the_websocket_back(
    api_url: str, unique: str, anyio_backend: str
) -> None:
    resource_id = f"proxy.fixed.{unique}"
    events = burst(resource_id, 20)
    async with run_fault_proxy(*upstream(api_url), seed=1, refuse_upgrades=404) as proxy:
        emitter = get_events_client(
            through(proxy), upgrade_retry_initial=0.05, upgrade_retry_max=0.2
        )
        async with emitter:
            assert all(emitter.emit_nowait(e) for e in events[:10])
            with anyio.fail_after(30):
                await proxy.until_upgrades(3)  # refused, tried again, refused again
            proxy.refuse_upgrades = None  # the proxy is fixed
            with anyio.fail_after(30):
                await proxy.until_upgrades(4)
            assert all(emitter.emit_nowait(e) for e in events[10:])
    assert proxy.refused == 3
    assert proxy.upgrades == 4  # the websocket stayed open for the later events
    assert (emitter.transport, emitter.delivered, emitter.dropped) == ("websocket", 20, 0)
    ids = await stored_ids(api_url, of_resource(resource_id), 20)
    assert sorted(ids) == sorted(str(e.id) for e in events)


# --------------------------------------------------------------------------- b

STEPS = 4


@task
async def double(x: int) -> int:
    return 2 * x


@task(retries=1)
async def flaky(attempts: list[int]) -> str:
    attempts.append(1)
    if len(attempts) == 1:
        raise RuntimeError("flaky")
    return "ok"


@task
async def boom() -> None:
    raise ValueError("boom")


@flow
async def steps(label: str) -> int:
    total = 0
    for i in range(STEPS):
        total += await double(i)
    await flaky([])
    with contextlib.suppress(ValueError):
        await boom()
    return total


async def recorded_task_runs(flow_run_id: Any, count: int) -> list[tuple[str, int, Any]]:
    """The task runs of one flow run, with their states, once Prefect's recorder wrote
    `count` of them in a final state (bounded: 60 s)."""
    async with get_client() as client:
        with anyio.fail_after(60):
            while True:
                runs = await client.read_task_runs(
                    task_run_filter=TaskRunFilter(
                        flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id])
                    )
                )
                described = []
                for run in runs:
                    history = await client.read_task_run_states(run.id)
                    states = [(s.type.value, s.name, s.message or "") for s in history]
                    described.append((run.task_key.rsplit("-", 1)[0], run.run_count, states))
                final = all(s and s[-1][0] in ("COMPLETED", "FAILED") for _, _, s in described)
                if len(described) >= count and final:
                    return sorted(described, key=repr)
                await anyio.sleep(0.5)


async def run_steps(label: str) -> Any:
    assert await steps(label) == 12
    async with get_client() as client:
        runs = await client.read_flow_runs(limit=200)
        (run,) = [r for r in runs if r.parameters.get("label") == label]
    return run.id


async def test_a_proxy_refusing_upgrades_loses_no_task_run(
    api_url: str, unique: str, anyio_backend: str, isolated_prefect_env: pytest.MonkeyPatch
) -> None:
    direct = await run_steps(f"direct-{unique}")
    async with run_fault_proxy(*upstream(api_url), seed=1, refuse_upgrades=404) as proxy:
        isolated_prefect_env.setenv("PREFECT_API_URL", through(proxy))
        proxied = await run_steps(f"proxied-{unique}")
        isolated_prefect_env.setenv("PREFECT_API_URL", api_url)
    assert proxy.refused >= 1
    count = STEPS + 2
    expected = await recorded_task_runs(direct, count)
    assert len(expected) == count
    assert await recorded_task_runs(proxied, count) == expected
    async with get_client() as client:
        (run,) = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[proxied]))
        )
    assert run.state is not None
    assert run.state.type.value == "COMPLETED"


# --------------------------------------------------------------------------- c


async def test_a_subscriber_whose_websocket_is_cut_sees_every_event_once(
    api_url: str, unique: str, anyio_backend: str
) -> None:
    """The events are stored first; the subscriber's backfill then streams them through
    a proxy that cuts it three times mid-stream: every reconnection backfills from the
    newest event seen (less a minute), and what was seen already is skipped."""
    resource_id = f"proxy.sub.{unique}"
    events = burst(resource_id)
    async with get_events_client() as emitter:
        for e in events:
            emitter.emit_nowait(e)
    assert emitter.delivered == BURST
    await stored_ids(api_url, of_resource(resource_id), BURST)
    seen: list[str] = []
    async with run_fault_proxy(*upstream(api_url), seed=1, ws_cut_after=[30_000] * 3) as proxy:
        subscriber = get_events_subscriber(of_resource(resource_id), api=through(proxy))
        async with subscriber:
            with anyio.fail_after(60):
                async for received in subscriber:
                    seen.append(str(received.id))
                    if len(seen) == BURST:
                        break
    assert proxy.ws_cut == 3
    assert subscriber.reconnects >= 3
    # a repeat would have taken the place of an event: the first BURST are all distinct
    assert len(seen) == len(set(seen)) == BURST
    assert set(seen) == {str(e.id) for e in events}
