"""The queues-misc methods (issue 11) against a real Prefect server: trio, asyncio and the
sync client. Written once against the async interface (see ``test_lifecycle.Blocking``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from prefect_trio_client import states
from prefect_trio_client.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect_trio_client.orchestration import PrefectClient, get_client
from prefect_trio_client.schemas.actions import ArtifactCreate, ArtifactUpdate, WorkPoolCreate
from prefect_trio_client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactCollectionFilterKey,
    WorkerFilter,
    WorkerFilterStatus,
)
from prefect_trio_client.schemas.objects import ServerDefaultResultStorage, StateType
from tests.interop.test_lifecycle import Blocking


class Named:
    def __init__(self, name: str) -> None:
        self.name = name


async def queues_misc(client: Any, unique: str) -> None:
    pool = f"qm-pool-{unique}"
    await client.create_work_pool(WorkPoolCreate(name=pool, type="process", concurrency_limit=5))
    queue = await client.create_work_queue("qm-queue", work_pool_name=pool, concurrency_limit=3)
    await client.send_worker_heartbeat(pool, "qm-worker", 30)

    # work queues by id
    assert (await client.read_work_queue(queue.id)).name == "qm-queue"
    status = await client.read_work_queue_status(queue.id)
    assert (status.healthy, status.late_runs_count) == (False, 0)
    await client.update_work_queue(queue.id, description="updated", priority=7)
    assert (await client.read_work_queue(queue.id)).priority == 7
    assert [q.name for q in await client.match_work_queues(["qm-"], work_pool_name=pool)] == [
        "qm-queue"
    ]
    online = WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"]))
    workers = await client.read_workers_for_work_pool(pool, worker_filter=online)
    assert [w.name for w in workers] == ["qm-worker"]
    assert isinstance(await client.read_worker_metadata(), dict)

    # runs holding slots, runs due in a queue
    flow_id = await client.create_flow(Named(f"qm-flow-{unique}"))
    assert flow_id == await client.create_flow_from_name(f"qm-flow-{unique}")
    busy = await client.create_flow_run(
        flow_id, name="qm-busy", work_pool_name=pool, work_queue_name="qm-queue"
    )
    await client.set_flow_run_state(busy.id, states.Running(), force=True)
    queue_status = await client.read_work_queue_concurrency_status(queue.id, limit=5)
    assert [(r.name, r.state_type) for r in queue_status.flow_runs] == [
        ("qm-busy", StateType.RUNNING)
    ]
    pool_status = await client.read_work_pool_concurrency_status(pool, limit=5, flow_run_limit=2)
    assert (pool_status.active_slots, pool_status.count) == (1, 2)
    legacy = await client.create_work_queue(f"qm-legacy-{unique}")
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    due = await client.create_flow_run(
        flow_id,
        state=states.Scheduled(scheduled_time=past),
        work_pool_name="default-agent-pool",
        work_queue_name=legacy.name,
    )
    assert [r.id for r in await client.get_runs_in_work_queue(legacy.id)] == [due.id]
    await client.delete_work_queue_by_id(legacy.id)
    with pytest.raises(ObjectNotFound):
        await client.read_work_queue(legacy.id)

    # states, task run names, inputs
    assert busy.state is not None
    assert (await client.read_flow_run_state(busy.state.id)).type is StateType.PENDING
    task = await client.create_task_run(flow_run_id=busy.id, task_key="t", dynamic_key="0")
    assert (await client.set_task_run_name(task.id, "renamed")).status_code == 204
    assert (await client.read_task_run(task.id)).name == "renamed"
    await client.create_flow_run_input(busy.id, "qm-key", '{"a": 1}', sender="me")
    with pytest.raises(ObjectAlreadyExists):
        await client.create_flow_run_input(busy.id, "qm-key", "2")
    assert await client.read_flow_run_input(busy.id, "qm-key") == '{"a": 1}'
    (found,) = await client.filter_flow_run_input(busy.id, "qm", 5, set())
    assert (found.key, found.sender) == ("qm-key", "me")
    await client.delete_flow_run_input(busy.id, "qm-key")
    with pytest.raises(ObjectNotFound):
        await client.read_flow_run_input(busy.id, "qm-key")

    # latest artifacts
    key = f"qm-art-{unique}"
    first = await client.create_artifact(ArtifactCreate(key=key, type="markdown", data="1"))
    second = await client.create_artifact(ArtifactCreate(key=key, type="markdown", data="2"))
    keyed = ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key]))
    (latest,) = await client.read_latest_artifacts(artifact_filter=keyed)
    assert (latest.latest_id, latest.data) == (second.id, "2")
    await client.update_artifact(second.id, ArtifactUpdate(description="changed"))
    await client.delete_artifact(second.id)
    with pytest.raises(ObjectNotFound):
        await client.delete_artifact(second.id)
    await client.delete_artifact(first.id)

    # server settings: an unknown block cannot be the default result storage
    assert isinstance(await client.read_server_default_result_storage(), ServerDefaultResultStorage)
    with pytest.raises(ObjectNotFound):
        await client.update_server_default_result_storage(uuid4())
    await client.clear_server_default_result_storage()
    assert (
        await client.read_server_default_result_storage()
    ).default_result_storage_block_id is None

    # version checks
    await client.raise_for_api_version_mismatch()
    await client.raise_for_api_version_mismatch_once()

    await client.delete_flow_run(busy.id)
    await client.delete_work_pool(pool)


@pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"])
async def test_queues_misc_async(anyio_backend: str, api_url: str, unique: str) -> None:
    async with get_client() as client:
        assert isinstance(client, PrefectClient)
        await queues_misc(client, unique)
        assert client.client_version()


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_queues_misc_sync(anyio_backend: str, api_url: str, unique: str) -> None:
    with get_client(sync_client=True) as client:
        await queues_misc(Blocking(client), unique)
        assert client.client_version()


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_default_result_storage_names_a_storage_block(
    anyio_backend: str, api_url: str, unique: str
) -> None:
    """Setting it needs a block document that can store results: one is made by hand."""
    async with get_client() as client:
        http = client.httpx_client
        block_type = (await http.get("/block_types/slug/local-file-system")).json()
        schemas = await http.post(
            "/block_schemas/filter",
            json={"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
        )
        document = await http.post(
            "/block_documents/",
            json={
                "name": f"qm-storage-{unique}",
                "block_type_id": block_type["id"],
                "block_schema_id": schemas.json()[0]["id"],
                "data": {"basepath": "/tmp/qm"},
            },
        )
        block_id = UUID(document.json()["id"])
        try:
            storage = await client.update_server_default_result_storage(block_id)
            assert storage.default_result_storage_block_id == block_id
            read = await client.read_server_default_result_storage()
            assert read.default_result_storage_block_id == block_id
        finally:
            await client.clear_server_default_result_storage()
            await http.delete(f"/block_documents/{block_id}")
