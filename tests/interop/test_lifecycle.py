"""A full client lifecycle against a real Prefect server: trio, asyncio, and the sync client.

Run by `nox -s interop`, twice: once with the server's CSRF protection off, once on.
The lifecycle is written once, against an async interface; the sync client runs it
through `Blocking`, which calls its methods directly (they block, which is the point).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import anyio
import httpx
import pytest
from pydantic import ValidationError

from prefect_trio_client import states
from prefect_trio_client.exceptions import Abort, ObjectAlreadyExists, ObjectNotFound
from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient, get_client
from prefect_trio_client.schemas.actions import (
    ArtifactCreate,
    DeploymentUpdate,
    GlobalConcurrencyLimitCreate,
    LogCreate,
    VariableCreate,
    VariableUpdate,
    WorkPoolCreate,
    WorkPoolUpdate,
)
from prefect_trio_client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    DeploymentFilter,
    DeploymentFilterTags,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect_trio_client.schemas.objects import ConcurrencyLeaseHolder, StateType
from prefect_trio_client.schemas.responses import SetStateStatus
from prefect_trio_client.schemas.sorting import FlowRunSort
from tests.interop.conftest import INTEROP_CSRF

pytestmark = [pytest.mark.interop, pytest.mark.anyio]


class Blocking:
    """The sync client behind the async interface the lifecycle is written against."""

    def __init__(self, client: SyncPrefectClient) -> None:
        self._client = client
        self.httpx_client = _BlockingHttp(client.httpx_client)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


class _BlockingHttp:
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._client.post(url, **kwargs)


async def lifecycle(client: Any, unique: str) -> None:
    tag = f"interop-{unique}"

    # health and flows
    assert await client.api_healthcheck() is None
    assert (await client.hello()).status_code == 200
    assert (await client.api_version()).startswith("3.")
    flow_id = await client.create_flow_from_name(f"flow-{unique}")
    assert await client.create_flow_from_name(f"flow-{unique}") == flow_id
    assert (await client.read_flow(flow_id)).name == f"flow-{unique}"
    assert (await client.read_flow_by_name(f"flow-{unique}")).id == flow_id
    found = await client.read_flows(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[f"flow-{unique}"]))
    )
    assert [f.id for f in found] == [flow_id]
    with pytest.raises(ObjectNotFound):
        await client.read_flow(uuid4())

    # flow runs, idempotency
    run = await client.create_flow_run(
        flow_id, name=f"run-{unique}", parameters={"x": 1}, tags=[tag], idempotency_key=unique
    )
    replay = await client.create_flow_run(flow_id, tags=[tag], idempotency_key=unique)
    assert replay.id == run.id
    assert run.state is not None
    assert run.state.type is StateType.PENDING
    await client.update_flow_run(run.id, parameters={"x": 2}, tags=[tag, "updated"])
    await client.set_flow_run_name(run.id, f"run-{unique}-renamed")
    await client.update_flow_run_labels(run.id, {"team": "data"})
    read = await client.read_flow_run(run.id)
    assert read.name == f"run-{unique}-renamed"
    assert read.parameters == {"x": 2}
    assert read.labels["team"] == "data"

    # states: Pending -> Running -> Completed, a duplicate transition rejected
    running = await client.set_flow_run_state(run.id, states.Running())
    assert running.status is SetStateStatus.ACCEPT
    transition = str(uuid4())
    body = {
        "state": {
            "type": "RUNNING",
            "name": "Running",
            "state_details": {"transition_id": transition},
        },
        "force": False,
    }
    first = await client.httpx_client.post(f"/flow_runs/{run.id}/set_state", json=body)
    assert first.json()["status"] == "ACCEPT"
    again = await client.httpx_client.post(f"/flow_runs/{run.id}/set_state", json=body)
    assert again.json()["status"] == "REJECT"

    # task runs with states
    task_run = await client.create_task_run(
        flow_run_id=run.id, task_key=f"task-{unique}", dynamic_key="0"
    )
    started = await client.set_task_run_state(task_run.id, states.Running())
    assert started.status is SetStateStatus.ACCEPT
    done = await client.propose_state(states.Completed(message="ok"), task_run_id=task_run.id)
    assert done.is_completed()
    assert (await client.read_task_run(task_run.id)).state_type is StateType.COMPLETED
    task_runs = await client.read_task_runs(
        task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run.id]))
    )
    assert [t.id for t in task_runs] == [task_run.id]
    assert [s.type for s in await client.read_task_run_states(task_run.id)] == [
        StateType.PENDING,
        StateType.RUNNING,
        StateType.COMPLETED,
    ]

    backwards = await client.set_flow_run_state(run.id, states.Pending())
    assert backwards.status is SetStateStatus.ABORT  # RUNNING cannot go back to PENDING
    with pytest.raises(Abort, match="cannot transition to a PENDING state"):
        await client.propose_state(states.Pending(), flow_run_id=run.id)
    completed = await client.propose_state(states.Completed(), flow_run_id=run.id)
    assert completed.is_completed()
    assert (await client.read_flow_run(run.id)).state_type is StateType.COMPLETED
    not_paused = await client.resume_flow_run(run.id)
    assert not_paused.status is SetStateStatus.ABORT
    history = [s.type for s in await client.read_flow_run_states(run.id)]
    assert history[0] is StateType.PENDING
    assert history[-1] is StateType.COMPLETED

    # logs
    now = datetime.now(timezone.utc)
    await client.create_logs(
        [
            LogCreate(
                name="interop", level=20, message=f"line {i}", timestamp=now, flow_run_id=run.id
            )
            for i in range(3)
        ]
    )
    logs = await client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))
    )
    assert [log.message for log in logs] == ["line 0", "line 1", "line 2"]

    # filters and counts
    second = await client.create_flow_run(flow_id, tags=[tag])
    tagged = FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]))
    assert await client.count_flow_runs(flow_run_filter=tagged) == 2
    done_filter = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[tag]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED])),
    )
    assert [r.id for r in await client.read_flow_runs(flow_run_filter=done_filter)] == [run.id]
    page = await client.read_flow_runs(
        flow_run_filter=tagged, sort=FlowRunSort.NAME_ASC, limit=1, offset=1
    )
    assert len(page) == 1

    # work pool, queue, heartbeat, deployment, runs from it, scheduled runs
    pool_name = f"pool-{unique}"
    pool = await client.create_work_pool(WorkPoolCreate(name=pool_name, type="process"))
    assert pool.name == pool_name
    with pytest.raises(ObjectAlreadyExists):
        await client.create_work_pool(WorkPoolCreate(name=pool_name, type="process"))
    await client.update_work_pool(pool_name, WorkPoolUpdate(description="updated"))
    assert (await client.read_work_pool(pool_name)).description == "updated"
    queue = await client.create_work_queue(f"queue-{unique}", work_pool_name=pool_name, priority=2)
    assert (
        await client.read_work_queue_by_name(queue.name, work_pool_name=pool_name)
    ).id == queue.id
    assert queue.name in [q.name for q in await client.read_work_queues(work_pool_name=pool_name)]
    await client.send_worker_heartbeat(pool_name, f"worker-{unique}", heartbeat_interval_seconds=30)
    assert pool_name in [p.name for p in await client.read_work_pools()]

    deployment_id = await client.create_deployment(
        flow_id,
        f"deployment-{unique}",
        work_pool_name=pool_name,
        work_queue_name=queue.name,
        parameters={"x": 1},
        tags=[tag],
    )
    deployment = await client.read_deployment_by_name(f"flow-{unique}/deployment-{unique}")
    assert deployment.id == deployment_id
    await client.update_deployment(deployment_id, DeploymentUpdate(description="updated"))
    assert (await client.read_deployment(deployment_id)).description == "updated"
    tagged_deployments = await client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[tag]))
    )
    assert [d.id for d in tagged_deployments] == [deployment_id]
    from_deployment = await client.create_flow_run_from_deployment(
        deployment_id, parameters={"x": 5}, idempotency_key=f"dep-{unique}"
    )
    replayed = await client.create_flow_run_from_deployment(
        deployment_id, parameters={"x": 99}, idempotency_key=f"dep-{unique}"
    )
    assert replayed.id == from_deployment.id
    assert from_deployment.state_type is StateType.SCHEDULED
    soon = datetime.now(timezone.utc) + timedelta(minutes=5)
    scheduled = await client.get_scheduled_flow_runs_for_deployments(
        [deployment_id], scheduled_before=soon
    )
    assert from_deployment.id in [r.id for r in scheduled]
    for_pool = await client.get_scheduled_flow_runs_for_work_pool(
        pool_name, work_queue_names=[queue.name], scheduled_before=soon
    )
    assert from_deployment.id in [r.flow_run.id for r in for_pool]

    # variables
    variable = await client.create_variable(VariableCreate(name=f"var_{unique}", value={"a": 1}))
    assert variable.value == {"a": 1}
    with pytest.raises(ObjectAlreadyExists):
        await client.create_variable(VariableCreate(name=f"var_{unique}", value=1))
    await client.update_variable(VariableUpdate(name=f"var_{unique}", value="new"))
    read_variable = await client.read_variable_by_name(f"var_{unique}")
    assert read_variable is not None
    assert read_variable.value == "new"
    assert f"var_{unique}" in [v.name for v in await client.read_variables()]
    await client.delete_variable_by_name(f"var_{unique}")
    assert await client.read_variable_by_name(f"var_{unique}") is None

    # global concurrency with a lease
    limit_name = f"gcl-{unique}"
    await client.create_global_concurrency_limit(
        GlobalConcurrencyLimitCreate(name=limit_name, limit=2)
    )
    lease = await client.increment_concurrency_slots_with_lease(
        [limit_name],
        1,
        lease_duration=60,
        holder=ConcurrencyLeaseHolder(type="flow_run", id=run.id),
    )
    assert [limit.name for limit in lease.limits] == [limit_name]
    assert (await client.read_global_concurrency_limit_by_name(limit_name)).active_slots == 1
    await client.renew_concurrency_lease(lease.lease_id, lease_duration=120)
    await client.release_concurrency_slots_with_lease(lease.lease_id)
    assert (await client.read_global_concurrency_limit_by_name(limit_name)).active_slots == 0
    await client.delete_global_concurrency_limit_by_name(limit_name)
    with pytest.raises(ObjectNotFound):
        await client.read_global_concurrency_limit_by_name(limit_name)

    # artifacts
    artifact = await client.create_artifact(
        ArtifactCreate(key=f"report-{unique}", type="markdown", data="# hi", flow_run_id=run.id)
    )
    read_artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"report-{unique}"]))
    )
    assert [a.id for a in read_artifacts] == [artifact.id]

    # clean up what can be deleted
    await client.delete_deployment(deployment_id)
    await client.delete_flow_run(second.id)
    await client.delete_task_run(task_run.id)
    await client.delete_work_pool(pool_name)
    await client.delete_flow(flow_id)
    with pytest.raises(ObjectNotFound):
        await client.read_flow(flow_id)


@pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"])
async def test_lifecycle_async(anyio_backend: str, api_url: str, unique: str) -> None:
    async with get_client() as client:
        assert isinstance(client, PrefectClient)
        await lifecycle(client, unique)
        # CSRF turns itself off against a server without it, at the first write.
        assert client.httpx_client.enable_csrf_support is INTEROP_CSRF


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_lifecycle_sync(anyio_backend: str, api_url: str, unique: str) -> None:
    with get_client(sync_client=True) as client:
        await lifecycle(Blocking(client), unique)


@pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"])
async def test_twenty_concurrent_writes(anyio_backend: str, api_url: str, unique: str) -> None:
    async with get_client() as client:
        flow_id = await client.create_flow_from_name(f"concurrent-{unique}")
        ids: list[UUID] = []

        async def create(i: int) -> None:
            run = await client.create_flow_run(
                flow_id, tags=[f"concurrent-{unique}"], name=f"c-{i}"
            )
            ids.append(run.id)

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(create, i)
        assert len(set(ids)) == 20
        tagged = FlowRunFilter(tags=FlowRunFilterTags(all_=[f"concurrent-{unique}"]))
        assert await client.count_flow_runs(flow_run_filter=tagged) == 20
        if INTEROP_CSRF:
            assert client.httpx_client._csrf.fetches == 1


# --------------------------------------------------------------------------- hostile names

HOSTILE_NAMES = ["db#replica", "a?b=c", "x/y", "..", "%2F", "50%", " spaced ", "naïve", "日本"]
"""Names that address another object, another endpoint or nothing at all when a path is
built without percent-encoding (issue 9)."""

_BANNED = frozenset("/%&<>")


def hostile_names(unique: str) -> list[tuple[str, str | None]]:
    """`HOSTILE_NAMES` made unique for a long-lived server (the hostile part kept in
    place, ``..`` kept exact), each with the decoy a misrouted request would reach
    (``db#replica`` -> ``db``), or None. With `unique` empty, the names are exact."""
    p, s = (f"{unique}-", f"-{unique}") if unique else ("", "")
    return [
        (f"{p}db#replica", f"{p}db"),
        (f"{p}a?b=c", f"{p}a"),
        (f"{p}x/y", None),
        ("..", None),
        (f"%2F{s}", None),
        (f"50%{s}", None),
        (f" spaced{s} ", None),
        (f"naïve{s}", None),
        (f"日本{s}", None),
    ]


async def _gone(call: Awaitable[Any]) -> None:
    """The call answers 404: the name addresses nothing (and nothing else)."""
    with pytest.raises(ObjectNotFound):
        await call


async def _remove_leftovers(client: Any, name: str) -> None:
    """Exact names (``..``) may remain on a long-lived server from a failed run."""
    for delete in (client.delete_work_pool, client.delete_global_concurrency_limit_by_name):
        with contextlib.suppress(ObjectNotFound):
            await delete(name)


async def hostile_name_round_trips(client: Any, unique: str) -> None:
    """Every by-name method reads, changes and deletes exactly the object of that name.

    A name Prefect refuses (``/ % & < >``; variables: ``[a-z0-9_-]`` only) fails before
    any request, and reading or deleting it answers 404, never another object.
    """
    names = hostile_names(unique)
    decoys = sorted({decoy for _, decoy in names if decoy is not None})
    base = f"{unique}-hostile" if unique else "hostile"
    home_flow = await client.create_flow_from_name(f"{base}-flow")
    created_flows = [home_flow]
    for decoy in decoys:
        created_flows.append(await client.create_flow_from_name(decoy))
        await client.create_deployment(home_flow, decoy)
        await _remove_leftovers(client, decoy)
        await client.create_work_pool(WorkPoolCreate(name=decoy, type="process"))
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=decoy, limit=1)
        )
        await client.create_variable(VariableCreate(name=decoy, value="decoy"))
    pool_of_queues = f"{base}-pool"
    await _remove_leftovers(client, pool_of_queues)
    await client.create_work_pool(WorkPoolCreate(name=pool_of_queues, type="process"))
    for decoy in decoys:
        await client.create_work_queue(decoy, work_pool_name=pool_of_queues)

    for name, _ in names:
        await _remove_leftovers(client, name)
        # variables: no hostile name is a valid variable name
        with pytest.raises(ValidationError):
            VariableCreate(name=name, value=1)
        with pytest.raises(ValidationError):
            VariableUpdate(name=name, value=1)
        assert await client.read_variable_by_name(name) is None
        await _gone(client.delete_variable_by_name(name))

        if _BANNED.intersection(name):
            with pytest.raises(ValidationError):
                await client.create_flow_from_name(name)
            with pytest.raises(ValidationError):
                await client.create_deployment(home_flow, name)
            with pytest.raises(ValidationError):
                WorkPoolCreate(name=name, type="process")
            with pytest.raises(ValidationError):
                GlobalConcurrencyLimitCreate(name=name, limit=1)
            with pytest.raises(ValidationError):
                await client.create_work_queue(name, work_pool_name=pool_of_queues)
            await _gone(client.read_flow_by_name(name))
            if "/" in name:
                with pytest.raises(ValueError, match="deployment names are written"):
                    await client.read_deployment_by_name(f"{base}-flow/{name}")
            else:
                await _gone(client.read_deployment_by_name(f"{base}-flow/{name}"))
            await _gone(client.read_work_pool(name))
            await _gone(client.update_work_pool(name, WorkPoolUpdate(description="no")))
            await _gone(client.send_worker_heartbeat(name, "worker"))
            await _gone(client.get_scheduled_flow_runs_for_work_pool(name))
            await _gone(client.delete_work_pool(name))
            await _gone(client.read_work_queue_by_name(name, work_pool_name=pool_of_queues))
            await _gone(client.read_global_concurrency_limit_by_name(name))
            await _gone(client.delete_global_concurrency_limit_by_name(name))
            continue

        # flows and deployments (a hostile flow name and a hostile deployment name)
        flow_id = await client.create_flow_from_name(name)
        created_flows.append(flow_id)
        flow = await client.read_flow_by_name(name)
        assert (flow.id, flow.name) == (flow_id, name)
        deployment_id = await client.create_deployment(home_flow, name)
        deployment = await client.read_deployment_by_name(f"{base}-flow/{name}")
        assert (deployment.id, deployment.name) == (deployment_id, name)
        inner_id = await client.create_deployment(flow_id, "inner")
        assert (await client.read_deployment_by_name(f"{name}/inner")).id == inner_id

        # a work pool and a queue of that name
        pool = await client.create_work_pool(WorkPoolCreate(name=name, type="process"))
        assert (await client.read_work_pool(name)).id == pool.id
        await client.update_work_pool(name, WorkPoolUpdate(description="hostile"))
        assert (await client.read_work_pool(name)).description == "hostile"
        await client.send_worker_heartbeat(name, "worker", heartbeat_interval_seconds=30)
        assert await client.get_scheduled_flow_runs_for_work_pool(name) == []
        queue = await client.create_work_queue(name, work_pool_name=name)
        found = await client.read_work_queue_by_name(name, work_pool_name=name)
        assert (found.id, found.name) == (queue.id, name)
        assert name in [q.name for q in await client.read_work_queues(work_pool_name=name)]
        other = await client.create_work_queue(name, work_pool_name=pool_of_queues)
        found = await client.read_work_queue_by_name(name, work_pool_name=pool_of_queues)
        assert (found.id, found.name) == (other.id, name)
        await client.delete_work_pool(name)
        await _gone(client.read_work_pool(name))

        # a global concurrency limit of that name
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=1)
        )
        limit = await client.read_global_concurrency_limit_by_name(name)
        assert limit.name == name
        lease = await client.increment_concurrency_slots_with_lease([name], 1, lease_duration=60)
        assert [held.name for held in lease.limits] == [name]
        await client.release_concurrency_slots_with_lease(lease.lease_id)
        await client.delete_global_concurrency_limit_by_name(name)
        await _gone(client.read_global_concurrency_limit_by_name(name))

    # the decoys were never read, changed or deleted in a hostile name's place
    for decoy in decoys:
        assert (await client.read_flow_by_name(decoy)).name == decoy
        assert (await client.read_deployment_by_name(f"{base}-flow/{decoy}")).name == decoy
        pool = await client.read_work_pool(decoy)
        assert (pool.name, pool.description) == (decoy, None)
        queue = await client.read_work_queue_by_name(decoy, work_pool_name=pool_of_queues)
        assert queue.name == decoy
        assert (await client.read_global_concurrency_limit_by_name(decoy)).name == decoy
        variable = await client.read_variable_by_name(decoy)
        assert variable is not None
        assert variable.value == "decoy"

    for decoy in decoys:
        await client.delete_work_pool(decoy)
        await client.delete_global_concurrency_limit_by_name(decoy)
        await client.delete_variable_by_name(decoy)
    await client.delete_work_pool(pool_of_queues)
    for flow_id in created_flows:
        await client.delete_flow(flow_id)


@pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"])
async def test_hostile_names_async(anyio_backend: str, api_url: str, unique: str) -> None:
    async with get_client() as client:
        await hostile_name_round_trips(client, unique)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_hostile_names_sync(anyio_backend: str, api_url: str, unique: str) -> None:
    with get_client(sync_client=True) as client:
        await hostile_name_round_trips(Blocking(client), unique)
