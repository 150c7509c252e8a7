"""`run_deployment` and `wait_for_flow_run` against the embedded server, with a stand-in
worker that plays the scheduled runs (real time, short poll intervals)."""

from __future__ import annotations

from uuid import UUID, uuid4

import anyio
import pytest

from prefect_trio_client import states
from prefect_trio_client.exceptions import ObjectNotFound
from prefect_trio_client.orchestration import PrefectClient, get_client
from prefect_trio_client.runs import (
    FlowRunWaitTimeout,
    flow,
    run_deployment,
    wait_for_flow_run,
)
from prefect_trio_client.schemas.objects import StateType
from tests.runs.helpers import flow_runs, only_flow_run, task_runs

pytestmark = pytest.mark.anyio


async def make_deployment() -> UUID:
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("etl")
        return await client.create_deployment(flow_id, "nightly", parameters={"n": 1})


async def play(client: PrefectClient, flow_run_id: UUID, final: StateType) -> None:
    """What a worker does with a run: Pending, Running, then `final`."""
    await client.propose_state(states.Pending(), flow_run_id=flow_run_id)
    await client.propose_state(states.Running(), flow_run_id=flow_run_id)
    end = states.Completed() if final is StateType.COMPLETED else states.Failed(message="no")
    await client.propose_state(end, flow_run_id=flow_run_id)


async def worker(count: int, final: StateType = StateType.COMPLETED) -> None:
    """Play the first `count` runs of "etl" that appear."""
    played: set[UUID] = set()
    async with get_client() as client:
        while len(played) < count:
            for run in await flow_runs("etl"):
                if run.id not in played and run.state_type is StateType.SCHEDULED:
                    played.add(run.id)
                    await play(client, run.id, final)
            await anyio.sleep(0.02)


async def test_timeout_zero_returns_the_scheduled_run_at_once() -> None:
    deployment_id = await make_deployment()
    run = await run_deployment("etl/nightly", parameters={"n": 5}, timeout=0)
    assert run.state_type is StateType.SCHEDULED
    assert run.deployment_id == deployment_id
    assert run.parameters == {"n": 5}
    by_id = await run_deployment(deployment_id, timeout=0)
    assert by_id.deployment_id == deployment_id


async def test_run_deployment_waits_for_the_final_state() -> None:
    await make_deployment()
    async with anyio.create_task_group() as group:
        group.start_soon(worker, 1)
        run = await run_deployment("etl/nightly", poll_interval=0.05, timeout=60)
    assert run.state_type is StateType.COMPLETED


async def test_at_the_timeout_the_latest_state_is_returned() -> None:
    await make_deployment()
    run = await run_deployment("etl/nightly", poll_interval=0.05, timeout=0.2)
    assert run.state_type is StateType.SCHEDULED  # nobody played it


async def test_inside_a_flow_the_run_is_a_subflow_of_it() -> None:
    await make_deployment()

    @flow
    async def trigger() -> UUID:
        child = await run_deployment("etl/nightly", timeout=0)
        return child.id

    child_id = await trigger()
    parent = await only_flow_run("trigger")
    [tracking] = await task_runs(parent.id)
    assert tracking.task_key == "prefect.deployments.flow_runs.run_deployment.etl-nightly"
    assert tracking.dynamic_key == "0"
    [child] = [run for run in await flow_runs("etl") if run.id == child_id]
    assert child.parent_task_run_id == tracking.id


async def test_bad_names_and_unknown_deployments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="Invalid deployment name format: nightly"):
        await run_deployment("nightly", timeout=0)
    with pytest.raises(ObjectNotFound):
        await run_deployment("etl/none", timeout=0)
    with pytest.raises(ValueError, match="negative"):
        await run_deployment("etl/nightly", timeout=-1)


async def test_wait_for_flow_run_returns_the_final_run_or_times_out() -> None:
    await make_deployment()
    scheduled = await run_deployment("etl/nightly", timeout=0)
    with pytest.raises(FlowRunWaitTimeout, match=f"{scheduled.id} exceeded watch timeout"):
        await wait_for_flow_run(scheduled.id, timeout=0.2, poll_interval=0.05)
    async with anyio.create_task_group() as group:
        group.start_soon(worker, 1, StateType.FAILED)
        done = await wait_for_flow_run(scheduled.id, timeout=60, poll_interval=0.05)
    assert done.state_type is StateType.FAILED
    with pytest.raises(ObjectNotFound):
        await wait_for_flow_run(uuid4(), timeout=1)
