"""What only Prefect's scaled topology shows (`nox -s topology`): replicas behind a proxy
share one PostgreSQL, and a replica lost mid-program costs our client nothing.

The topology's handle comes from the ``topology`` fixture (tests/interop/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import anyio
import pytest

from prefect_trio_client import states
from prefect_trio_client.orchestration import PrefectClient, get_client
from prefect_trio_client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect_trio_client.schemas.objects import StateType
from tests.topology.stack import Topology

pytestmark = [pytest.mark.interop, pytest.mark.topology, pytest.mark.anyio]


@pytest.fixture
def replicas_restored(topology: Topology) -> Iterator[Topology]:
    """The topology, with every replica a test killed started again afterwards."""
    yield topology
    for index in range(len(topology.layout.ports.replicas)):
        if topology.pid(f"replica-{index}") is None:
            topology.start_replica(index)


@pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"])
async def test_replicas_share_one_database(
    anyio_backend: str, api_url: str, topology: Topology, unique: str
) -> None:
    async with get_client() as client:
        flow_id = await client.create_flow_from_name(f"shared-{unique}")
        run = await client.create_flow_run(flow_id, name=f"shared-{unique}")
    for replica in topology.layout.replica_urls:
        async with PrefectClient(replica) as direct:
            assert (await direct.read_flow_run(run.id)).name == f"shared-{unique}"


@pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"])
async def test_runs_complete_with_a_replica_killed_between_calls(
    anyio_backend: str, api_url: str, replicas_restored: Topology, unique: str
) -> None:
    """Connections pooled to the killed replica fail; every run still completes once."""
    tag = f"killed-{unique}"
    async with get_client() as client:
        flow_id = await client.create_flow_from_name(tag)
        ids: list[UUID] = []

        async def one(i: int) -> None:
            run = await client.create_flow_run(
                flow_id, name=f"{tag}-{i}", tags=[tag], idempotency_key=f"{tag}-{i}"
            )
            await client.set_flow_run_state(run.id, states.Running())
            ids.append(run.id)

        async with anyio.create_task_group() as tg:
            for i in range(16):
                tg.start_soon(one, i)
        await anyio.to_thread.run_sync(replicas_restored.kill_replica, 0)
        async with anyio.create_task_group() as tg:
            for run_id in ids:
                tg.start_soon(client.set_flow_run_state, run_id, states.Completed())
        tagged = FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]))
        stored = await client.read_flow_runs(flow_run_filter=tagged)
    assert sorted(r.name for r in stored) == sorted(f"{tag}-{i}" for i in range(16))
    assert {r.state.type for r in stored if r.state is not None} == {StateType.COMPLETED}
