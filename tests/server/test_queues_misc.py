"""The queues-misc routes (issue 11) of the embedded server, through our own client: work
queues by id, queue and pool concurrency status, workers, worker metadata, flow run states
and inputs, task run names, latest artifacts, the default result storage. Shapes are
compared with Prefect 3.9.1's answers (``tests/data/captures/queues_misc.json``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from prefect_trio_client import states
from prefect_trio_client.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.schemas.actions import (
    ArtifactCreate,
    ArtifactUpdate,
    BlockDocumentCreate,
    WorkPoolCreate,
)
from prefect_trio_client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactCollectionFilterKey,
    WorkerFilter,
    WorkerFilterStatus,
)
from prefect_trio_client.schemas.objects import StateType
from prefect_trio_client.schemas.sorting import ArtifactCollectionSort
from tests.server.helpers import assert_keys_like
from tests.server.test_names_in_paths import embedded

pytestmark = pytest.mark.anyio

CAPTURES: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "captures" / "queues_misc.json").read_text()
)


def prefect_answer(method: str) -> Any:
    (found,) = [s for s in CAPTURES.values() if s["client_method"] == method]
    return found["response_body"]


@pytest.fixture
async def prefect() -> AsyncIterator[PrefectClient]:
    async with embedded() as client:
        yield client


async def raw(prefect: PrefectClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await prefect.httpx_client.request(method, path, **kwargs)
    return response.json() if response.content else None


async def test_work_queues_by_id_and_their_status(prefect: PrefectClient) -> None:
    await prefect.create_work_pool(WorkPoolCreate(name="pool", type="process", concurrency_limit=5))
    queue = await prefect.create_work_queue("qm-queue", work_pool_name="pool", concurrency_limit=3)
    assert (await prefect.read_work_queue(queue.id)).name == "qm-queue"
    assert_keys_like(
        await raw(prefect, "GET", f"/work_queues/{queue.id}"), prefect_answer("read_work_queue")
    )

    status = await prefect.read_work_queue_status(queue.id)
    assert (status.healthy, status.late_runs_count, status.last_polled) == (False, 0, None)
    assert_keys_like(
        await raw(prefect, "GET", f"/work_queues/{queue.id}/status"),
        prefect_answer("read_work_queue_status"),
    )

    await prefect.update_work_queue(queue.id, description="updated", priority=7)
    updated = await prefect.read_work_queue(queue.id)
    assert (updated.description, updated.priority) == ("updated", 7)
    with pytest.raises(ObjectNotFound, match="not found"):
        await prefect.update_work_queue(uuid4(), priority=2)

    matched = await prefect.match_work_queues(["qm-", "nope"], work_pool_name="pool")
    assert [q.name for q in matched] == ["qm-queue"]

    await prefect.delete_work_queue_by_id(queue.id)
    with pytest.raises(ObjectNotFound):
        await prefect.read_work_queue(queue.id)
    with pytest.raises(ObjectNotFound):
        await prefect.delete_work_queue_by_id(queue.id)


async def test_concurrency_status_and_queue_runs(prefect: PrefectClient) -> None:
    await prefect.create_work_pool(WorkPoolCreate(name="pool", type="process", concurrency_limit=5))
    queue = await prefect.create_work_queue("busy", work_pool_name="pool", concurrency_limit=3)
    flow_id = await prefect.create_flow_from_name("qm")
    running = await prefect.create_flow_run(
        flow_id, name="running", work_pool_name="pool", work_queue_name="busy"
    )
    await prefect.set_flow_run_state(running.id, states.Running(), force=True)
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    due = await prefect.create_flow_run(
        flow_id,
        name="due",
        state=states.Scheduled(scheduled_time=past),
        work_pool_name="pool",
        work_queue_name="busy",
    )
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    await prefect.create_flow_run(
        flow_id,
        state=states.Scheduled(scheduled_time=later),
        work_pool_name="pool",
        work_queue_name="busy",
    )

    status = await prefect.read_work_queue_concurrency_status(queue.id, limit=5)
    assert (status.active_slots, status.concurrency_limit, status.count, status.pages) == (
        1,
        3,
        1,
        1,
    )
    assert [(r.name, r.state_type) for r in status.flow_runs] == [("running", StateType.RUNNING)]
    assert_keys_like(
        await raw(prefect, "POST", f"/work_queues/{queue.id}/concurrency_status", json={}),
        prefect_answer("read_work_queue_concurrency_status"),
    )
    second_page = await prefect.read_work_queue_concurrency_status(queue.id, page=2, limit=1)
    assert (second_page.flow_runs, second_page.page) == ([], 2)

    pool = await prefect.read_work_pool_concurrency_status("pool", limit=5, flow_run_limit=0)
    assert (pool.active_slots, pool.count, [q.queue_name for q in pool.queues]) == (
        1,
        2,
        ["default", "busy"],
    )
    assert [(q.flow_run_count, q.flow_runs) for q in pool.queues] == [(0, []), (1, [])]
    assert_keys_like(
        await raw(prefect, "POST", "/work_pools/pool/concurrency_status", json={}),
        prefect_answer("read_work_pool_concurrency_status"),
    )
    with pytest.raises(ObjectNotFound, match="'nope' not found"):
        await prefect.read_work_pool_concurrency_status("nope")

    runs = await prefect.get_runs_in_work_queue(queue.id, limit=5)
    assert [r.id for r in runs] == [due.id]  # the later run is not due yet
    assert (await prefect.read_work_queue(queue.id)).last_polled is not None
    earlier = past - timedelta(seconds=1)
    assert await prefect.get_runs_in_work_queue(queue.id, scheduled_before=earlier) == []


async def test_workers_and_worker_metadata(prefect: PrefectClient) -> None:
    await prefect.create_work_pool(WorkPoolCreate(name="pool", type="process"))
    await prefect.send_worker_heartbeat("pool", "qm-worker", 30)
    online = WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"]))
    offline = WorkerFilter(status=WorkerFilterStatus(any_=["OFFLINE"]))
    workers = await prefect.read_workers_for_work_pool("pool", worker_filter=online, limit=5)
    assert [w.name for w in workers] == ["qm-worker"]
    assert await prefect.read_workers_for_work_pool("pool", worker_filter=offline) == []
    assert_keys_like(
        await raw(prefect, "POST", "/work_pools/pool/workers/filter", json={}),
        prefect_answer("read_workers_for_work_pool"),
    )
    assert await prefect.read_worker_metadata() == {}
    with pytest.raises(ObjectNotFound, match="View nope not found in registry"):
        await prefect.httpx_client.get("/collections/views/nope")


async def test_flows_states_task_names_and_inputs(prefect: PrefectClient) -> None:
    class Named:
        name = "qm-flow"

    flow_id = await prefect.create_flow(Named())
    assert flow_id == await prefect.create_flow_from_name("qm-flow")
    run = await prefect.create_flow_run(flow_id)
    assert run.state is not None
    state = await prefect.read_flow_run_state(run.state.id)
    assert (state.id, state.type) == (run.state.id, StateType.PENDING)
    with pytest.raises(ObjectNotFound):
        await prefect.read_flow_run_state(uuid4())

    task = await prefect.create_task_run(flow_run_id=run.id, task_key="t", dynamic_key="0")
    response = await prefect.set_task_run_name(task.id, "renamed")
    assert response.status_code == 204
    assert (await prefect.read_task_run(task.id)).name == "renamed"

    await prefect.create_flow_run_input(run.id, "qm-key", '{"a": 1}', sender="me")
    await prefect.create_flow_run_input(run.id, "qm-other", '"x"')
    with pytest.raises(ObjectAlreadyExists):
        await prefect.create_flow_run_input(run.id, "qm-key", "2")
    with pytest.raises(ObjectNotFound):
        await prefect.create_flow_run_input(uuid4(), "qm-key", "2")
    assert await prefect.read_flow_run_input(run.id, "qm-key") == '{"a": 1}'
    found = await prefect.filter_flow_run_input(run.id, "qm", 5, {"qm-other"})
    assert [(i.key, i.sender, i.value) for i in found] == [("qm-key", "me", '{"a": 1}')]
    assert_keys_like(
        await raw(
            prefect, "POST", f"/flow_runs/{run.id}/input/filter", json={"prefix": "qm", "limit": 5}
        ),
        prefect_answer("filter_flow_run_input"),
    )
    assert len(await prefect.filter_flow_run_input(run.id, "qm", 1, set())) == 1
    await prefect.delete_flow_run_input(run.id, "qm-key")
    with pytest.raises(ObjectNotFound, match="Flow run input not found"):
        await prefect.read_flow_run_input(run.id, "qm-key")
    with pytest.raises(ObjectNotFound):
        await prefect.delete_flow_run_input(run.id, "qm-key")

    await prefect.delete_flow_run(run.id)  # its inputs go with it
    with pytest.raises(ObjectNotFound, match="Flow run input not found"):
        await prefect.read_flow_run_input(run.id, "qm-other")


async def test_latest_artifacts_update_and_delete(prefect: PrefectClient) -> None:
    first = await prefect.create_artifact(ArtifactCreate(key="qm-art", type="markdown", data="1"))
    second = await prefect.create_artifact(ArtifactCreate(key="qm-art", type="markdown", data="2"))
    await prefect.create_artifact(ArtifactCreate(key="other", data="x"))
    await prefect.create_artifact(ArtifactCreate(data="no key"))
    keyed = ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=["qm-art"]))
    (latest,) = await prefect.read_latest_artifacts(artifact_filter=keyed)
    assert (latest.key, latest.latest_id, latest.data, latest.id) == (
        "qm-art",
        second.id,
        "2",
        first.id,
    )
    everything = await prefect.read_latest_artifacts(sort=ArtifactCollectionSort.KEY_ASC)
    assert [c.key for c in everything] == ["other", "qm-art"]
    assert_keys_like(
        await raw(prefect, "POST", "/artifacts/latest/filter", json={}),
        prefect_answer("read_latest_artifacts"),
    )

    await prefect.update_artifact(second.id, ArtifactUpdate(description="changed"))
    (latest,) = await prefect.read_latest_artifacts(artifact_filter=keyed)
    assert (latest.description, latest.data) == ("changed", "2")
    with pytest.raises(ObjectNotFound):
        await prefect.update_artifact(uuid4(), ArtifactUpdate(description="x"))

    await prefect.delete_artifact(second.id)
    (latest,) = await prefect.read_latest_artifacts(artifact_filter=keyed)
    assert latest.latest_id == first.id
    with pytest.raises(ObjectNotFound):
        await prefect.delete_artifact(second.id)


async def test_the_default_result_storage_names_an_existing_block(
    prefect: PrefectClient,
) -> None:
    storage = await prefect.read_server_default_result_storage()
    assert storage.default_result_storage_block_id is None
    block_id = UUID(int=7)
    with pytest.raises(ObjectNotFound, match=f"Block document {block_id} not found"):
        await prefect.update_server_default_result_storage(block_id)
    block_type = await prefect.read_block_type_by_slug("local-file-system")
    schema = await prefect.get_most_recent_block_schema_for_block_type(block_type.id)
    assert schema is not None
    document = await prefect.create_block_document(
        BlockDocumentCreate(
            name="results",
            data={"basepath": "/tmp/results"},
            block_schema_id=schema.id,
            block_type_id=block_type.id,
        )
    )
    await prefect.update_server_default_result_storage(document.id)
    storage = await prefect.read_server_default_result_storage()
    assert storage.default_result_storage_block_id == document.id
    await prefect.clear_server_default_result_storage()
    storage = await prefect.read_server_default_result_storage()
    assert storage.default_result_storage_block_id is None
    await prefect.raise_for_api_version_mismatch()
    await prefect.raise_for_api_version_mismatch_once()
