"""Record Prefect's client for the queues-misc group: work queues by id and their status,
workers, flow run inputs and states, task run names, latest artifacts, the server's
default result storage.

Run against a Prefect 3.9.1 server you started (see ``recorder.py``)::

    PREFECT_API_URL=http://127.0.0.1:4331/api PYTHONPATH=. \
        /work/main/.nox/interop/bin/python tests/captures/capture_queues_misc.py \
        http://127.0.0.1:4331/api

(Set ``PREFECT_API_URL`` too: Prefect's event emitter, which ``update_artifact`` calls,
otherwise starts an ephemeral Prefect server of its own.)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio

from tests.captures.recorder import recording

OUT = Path(__file__).parents[1] / "data" / "captures" / "queues_misc.json"


async def main(api_url: str) -> None:
    from prefect.client.schemas.actions import ArtifactCreate, ArtifactUpdate, WorkPoolCreate
    from prefect.client.schemas.filters import (
        ArtifactCollectionFilter,
        ArtifactCollectionFilterKey,
        WorkerFilter,
        WorkerFilterStatus,
    )
    from prefect.client.schemas.sorting import ArtifactCollectionSort
    from prefect.filesystems import LocalFileSystem
    from prefect.states import Running, Scheduled

    class Named:
        name = "qm-flow"

    async with recording(api_url) as (client, record):
        record.method = "_setup"
        suffix = str(anyio.current_time()).replace(".", "")[-6:]
        pool_name = f"qm-pool-{suffix}"
        await client.create_work_pool(
            WorkPoolCreate(name=pool_name, type="process", concurrency_limit=5)
        )
        queue = await client.create_work_queue(
            name="qm-queue", work_pool_name=pool_name, concurrency_limit=3
        )
        await client.send_worker_heartbeat(pool_name, "qm-worker", 30)
        legacy = await client.create_work_queue(name=f"qm-legacy-{suffix}")

        record.method = "create_flow"
        await client.create_flow(Named())
        flow = _flow()

        record.method = "_setup"
        busy = await client.create_flow_run(
            flow, name="qm-busy", work_pool_name=pool_name, work_queue_name="qm-queue"
        )
        await client.set_flow_run_state(busy.id, Running(), force=True)
        await client.create_flow_run(
            flow,
            name="qm-due",
            state=Scheduled(),
            work_pool_name="default-agent-pool",
            work_queue_name=legacy.name,
        )

        record.method = "read_work_queue"
        await client.read_work_queue(queue.id)
        record.method = "read_work_queue_status"
        await client.read_work_queue_status(queue.id)
        record.method = "read_work_queue_concurrency_status"
        await client.read_work_queue_concurrency_status(queue.id, page=1, limit=5)
        record.method = "read_work_pool_concurrency_status"
        await client.read_work_pool_concurrency_status(pool_name, page=1, limit=5, flow_run_limit=2)
        record.method = "update_work_queue"
        await client.update_work_queue(queue.id, description="updated", priority=7)
        record.method = "get_runs_in_work_queue"
        await client.get_runs_in_work_queue(legacy.id, limit=5)
        record.method = "match_work_queues"
        await client.match_work_queues(["qm-"], work_pool_name=pool_name)
        record.method = "read_workers_for_work_pool"
        await client.read_workers_for_work_pool(
            pool_name,
            worker_filter=WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"])),
            offset=0,
            limit=5,
        )
        record.method = "read_worker_metadata"
        await client.read_worker_metadata()

        record.method = "read_flow_run_state"
        await client.read_flow_run_state(busy.state.id)

        record.method = "_setup"
        task_run = await client.create_task_run(task=_task(), flow_run_id=busy.id, dynamic_key="0")
        record.method = "set_task_run_name"
        await client.set_task_run_name(task_run.id, "qm-renamed")

        record.method = "create_flow_run_input"
        await client.create_flow_run_input(busy.id, "qm-key", '{"a": 1}', sender="qm-sender")
        record.method = "read_flow_run_input"
        await client.read_flow_run_input(busy.id, "qm-key")
        record.method = "filter_flow_run_input"
        await client.filter_flow_run_input(busy.id, "qm", 5, {"qm-other"})
        record.method = "delete_flow_run_input"
        await client.delete_flow_run_input(busy.id, "qm-key")

        record.method = "_setup"
        artifact = await client.create_artifact(
            ArtifactCreate(key=f"qm-art-{suffix}", type="markdown", data="# one")
        )
        record.method = "read_latest_artifacts"
        await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[f"qm-art-{suffix}"])
            ),
            sort=ArtifactCollectionSort.KEY_ASC,
            limit=5,
        )
        record.method = "update_artifact"
        await client.update_artifact(artifact.id, ArtifactUpdate(description="changed"))
        record.method = "delete_artifact"
        await client.delete_artifact(artifact.id)

        record.method = "read_server_default_result_storage"
        await client.read_server_default_result_storage()
        record.method = "_setup"
        storage_id = await LocalFileSystem(basepath=tempfile.mkdtemp()).save(
            f"qm-storage-{suffix}", client=client
        )
        record.method = "update_server_default_result_storage"
        await client.update_server_default_result_storage(storage_id)
        record.method = "clear_server_default_result_storage"
        await client.clear_server_default_result_storage()

        record.method = "raise_for_api_version_mismatch"
        await client.raise_for_api_version_mismatch()

        record.method = "delete_work_queue_by_id"
        await client.delete_work_queue_by_id(legacy.id)

    exchanges: dict[str, Any] = {
        key: value
        for key, value in record.exchanges.items()
        if not value["client_method"].startswith("_")
    }
    record.exchanges = exchanges
    record.save(OUT)


def _flow() -> Any:
    from prefect import flow

    @flow(name="qm-flow")  # type: ignore[untyped-decorator]
    def qm_flow() -> None:
        pass

    return qm_flow


def _task() -> Any:
    from prefect import task

    @task(name="qm-task")  # type: ignore[untyped-decorator]
    def qm_task() -> None:
        pass

    return qm_task


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
