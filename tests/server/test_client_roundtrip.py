"""Our own `PrefectClient` against the embedded app in-process: the methods a program
uses, end to end (the orchestration suite's per-method checks live in
``tests/orchestration``; this is the server's view)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import anyio
import httpx
import pytest

from prefect_trio_client import states
from prefect_trio_client.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.schemas.actions import (
    ArtifactCreate,
    GlobalConcurrencyLimitCreate,
    LogCreate,
    VariableCreate,
    WorkPoolCreate,
)
from prefect_trio_client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect_trio_client.schemas.objects import StateType
from prefect_trio_client.server import create_app
from prefect_trio_client.settings import ClientSettings
from tests.server.helpers import lifespan

pytestmark = pytest.mark.anyio


@pytest.fixture
async def prefect() -> AsyncIterator[PrefectClient]:
    app = create_app(":memory:")
    async with (
        lifespan(app),
        PrefectClient(
            "http://embedded/api",
            httpx_settings={"transport": httpx.ASGITransport(app)},
            settings=ClientSettings(client_csrf_support_enabled=False),
        ) as client,
    ):
        yield client


async def test_runs_tasks_retries_and_logs(prefect: PrefectClient) -> None:
    flow_id = await prefect.create_flow_from_name("roundtrip")

    async def one_run(index: int) -> None:
        run = await prefect.create_flow_run(flow_id, tags=["roundtrip"], idempotency_key=str(index))
        await prefect.propose_state(states.Running(), flow_run_id=run.id)
        task = await prefect.create_task_run(flow_run_id=run.id, task_key="t", dynamic_key="0")
        await prefect.propose_state(states.Running(), task_run_id=task.id)
        if index == 0:
            await prefect.propose_state(states.AwaitingRetry(), task_run_id=task.id)
            retried = await prefect.propose_state(states.Running(), task_run_id=task.id)
            assert retried.name == "Retrying"
        await prefect.propose_state(states.Completed(), task_run_id=task.id)
        await prefect.propose_state(states.Completed(), flow_run_id=run.id)
        now = datetime.now(timezone.utc)
        await prefect.create_logs(
            [LogCreate(name="rt", level=20, message="done", timestamp=now, flow_run_id=run.id)]
        )

    async with anyio.create_task_group() as group:
        for index in range(10):
            group.start_soon(one_run, index)
    runs = await prefect.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["roundtrip"]))
    )
    assert len(runs) == 10
    assert {run.state_type for run in runs} == {StateType.COMPLETED}
    replay = await prefect.create_flow_run(flow_id, idempotency_key="3")
    assert replay.id in {run.id for run in runs}
    tasks = await prefect.read_task_runs(
        task_run_filter=TaskRunFilter(
            flow_run_id=TaskRunFilterFlowRunId(any_=[run.id for run in runs])
        )
    )
    assert sorted(task.run_count for task in tasks) == [1] * 9 + [2]
    logs = await prefect.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[r.id for r in runs]))
    )
    assert len(logs) == 10
    assert len(await prefect.read_flow_run_states(runs[0].id)) == 3
    with pytest.raises(ObjectNotFound):
        await prefect.read_flow_run(flow_id)


async def test_deployments_pools_variables_limits_artifacts(prefect: PrefectClient) -> None:
    flow_id = await prefect.create_flow_from_name("roundtrip")
    pool = await prefect.create_work_pool(WorkPoolCreate(name="pool", type="process"))
    assert pool.default_queue_id is not None
    deployment_id = await prefect.create_deployment(flow_id, "nightly", work_pool_name="pool")
    deployment = await prefect.read_deployment_by_name("roundtrip/nightly")
    assert deployment.id == deployment_id
    run = await prefect.create_flow_run_from_deployment(deployment_id, idempotency_key="k")
    again = await prefect.create_flow_run_from_deployment(deployment_id, idempotency_key="k")
    assert again.id == run.id
    soon = datetime.now(timezone.utc) + timedelta(minutes=1)
    polled = await prefect.get_scheduled_flow_runs_for_work_pool("pool", scheduled_before=soon)
    assert [item.flow_run.id for item in polled] == [run.id]
    await prefect.send_worker_heartbeat("pool", "worker-1", heartbeat_interval_seconds=30)
    assert (await prefect.read_work_pool("pool")).status is not None
    variable = await prefect.create_variable(VariableCreate(name="answer", value=42))
    assert variable.value == 42
    with pytest.raises(ObjectAlreadyExists):
        await prefect.create_variable(VariableCreate(name="answer", value=1))
    assert await prefect.read_variable_by_name("missing") is None
    await prefect.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name="gcl", limit=1))
    lease = await prefect.increment_concurrency_slots_with_lease(["gcl"], 1, lease_duration=60)
    with pytest.raises(httpx.HTTPStatusError) as info:
        await prefect.increment_concurrency_slots_with_lease(["gcl"], 1, lease_duration=60)
    assert info.value.response.status_code == 423
    await prefect.renew_concurrency_lease(lease.lease_id, 120)
    await prefect.release_concurrency_slots_with_lease(lease.lease_id)
    assert (await prefect.read_global_concurrency_limit_by_name("gcl")).active_slots == 0
    artifact = await prefect.create_artifact(ArtifactCreate(key="report", data="# hi"))
    assert [a.id for a in await prefect.read_artifacts()] == [artifact.id]
