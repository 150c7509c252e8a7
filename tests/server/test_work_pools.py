"""Work pools, queues (pool-scoped and legacy), workers, and the runs workers poll."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from prefect_trio_client.schemas.objects import WorkerFlowRunResponse, WorkPool, WorkQueue
from tests.server.helpers import FakeClock, assert_keys_like, samples

pytestmark = pytest.mark.anyio
SAMPLES = samples()


async def _pool(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {**SAMPLES["POST /work_pools/"]["request_body"], **fields}
    response = await client.post("/work_pools/", json=body)
    assert response.status_code == 201, response.text
    pool: dict[str, Any] = response.json()
    return pool


async def test_create_read_update_delete(client: httpx.AsyncClient) -> None:
    pool = await _pool(client)
    WorkPool.model_validate(pool)
    assert_keys_like(pool, SAMPLES["POST /work_pools/"]["response_body"])
    assert pool["default_queue_id"] is not None
    read = await client.get("/work_pools/capture-pool")
    assert_keys_like(read.json(), SAMPLES["GET /work_pools/{name}"]["response_body"])
    update = SAMPLES["PATCH /work_pools/{name}"]["request_body"]
    assert (await client.patch("/work_pools/capture-pool", json=update)).status_code == 204
    after = (await client.get("/work_pools/capture-pool")).json()
    assert (after["description"], after["concurrency_limit"]) == (
        update["description"],
        update["concurrency_limit"],
    )
    assert after["base_job_template"] == pool["base_job_template"]  # not given, kept
    duplicate = await client.post("/work_pools/", json={"name": "capture-pool"})
    assert duplicate.status_code == 409
    assert (await client.delete("/work_pools/capture-pool")).status_code == 204
    gone = await client.get("/work_pools/capture-pool")
    assert (gone.status_code, gone.json()) == (
        404,
        {"detail": 'Work pool "capture-pool" not found.'},
    )


async def test_reserved_names(client: httpx.AsyncClient) -> None:
    response = await client.post("/work_pools/", json={"name": "Prefect-internal"})
    assert response.status_code == 403


async def test_filter_and_count(client: httpx.AsyncClient) -> None:
    await _pool(client)
    await _pool(client, name="capture-pool-2", type="docker")
    body = SAMPLES["POST /work_pools/filter"]["request_body"]
    found = (await client.post("/work_pools/filter", json=body)).json()
    assert [p["name"] for p in found] == ["capture-pool", "capture-pool-2"]
    docker = {"work_pools": {"type": {"any_": ["docker"]}}}
    assert (await client.post("/work_pools/count", json=docker)).json() == 1


async def test_queues_in_a_pool(client: httpx.AsyncClient) -> None:
    await _pool(client)
    body = SAMPLES["POST /work_pools/{work_pool_name}/queues"]["request_body"]
    created = await client.post("/work_pools/capture-pool/queues", json=body)
    assert created.status_code == 201
    WorkQueue.model_validate(created.json())
    assert_keys_like(
        created.json(), SAMPLES["POST /work_pools/{work_pool_name}/queues"]["response_body"]
    )
    again = await client.post("/work_pools/capture-pool/queues", json=body)
    assert again.status_code == 409
    read = await client.get("/work_pools/capture-pool/queues/capture-queue")
    assert read.json()["id"] == created.json()["id"]
    listed = await client.post("/work_pools/capture-pool/queues/filter", json={"limit": 10})
    assert [q["name"] for q in listed.json()] == ["default", "capture-queue"]  # by priority
    paused = await client.patch(
        "/work_pools/capture-pool/queues/capture-queue", json={"is_paused": True}
    )
    assert paused.status_code == 204
    read = await client.get("/work_pools/capture-pool/queues/capture-queue")
    assert read.json()["status"] == "PAUSED"
    missing = await client.get("/work_pools/capture-pool/queues/nope")
    assert missing.json() == {"detail": "Work pool queue 'capture-pool/nope' not found."}
    default = await client.delete("/work_pools/capture-pool/queues/default")
    assert default.status_code == 400
    assert (await client.delete("/work_pools/capture-pool/queues/capture-queue")).status_code == 204


async def test_legacy_queues_live_in_the_default_agent_pool(client: httpx.AsyncClient) -> None:
    body = SAMPLES["POST /work_queues/"]["request_body"]
    created = await client.post("/work_queues/", json=body)
    assert created.status_code == 201
    queue = created.json()
    assert (queue["work_pool_name"], queue["priority"], queue["description"]) == (
        "default-agent-pool",
        2,
        "",
    )
    assert_keys_like(queue, SAMPLES["POST /work_queues/"]["response_body"])
    by_name = await client.get("/work_queues/name/capture-legacy-queue")
    by_id = await client.get(f"/work_queues/{queue['id']}")
    assert by_name.json()["id"] == by_id.json()["id"] == queue["id"]
    missing = await client.get("/work_queues/name/nope")
    assert (missing.status_code, missing.json()) == (404, {"detail": "work queue not found"})
    listed = await client.post("/work_queues/filter", json={"limit": 10, "offset": None})
    assert [q["name"] for q in listed.json()] == ["capture-legacy-queue", "default"]


async def test_heartbeats_make_a_pool_ready(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await _pool(client)
    assert (await client.get("/work_pools/capture-pool")).json()["status"] == "NOT_READY"
    body = SAMPLES["POST /work_pools/{work_pool_name}/workers/heartbeat"]["request_body"]
    beat = await client.post("/work_pools/capture-pool/workers/heartbeat", json=body)
    assert beat.status_code == 204
    assert (await client.get("/work_pools/capture-pool")).json()["status"] == "READY"
    with_id = await client.post(
        "/work_pools/capture-pool/workers/heartbeat", json={**body, "return_id": True}
    )
    assert with_id.status_code == 200
    workers = (await client.post("/work_pools/capture-pool/workers/filter", json={})).json()
    assert [w["id"] for w in workers] == [with_id.json()]
    assert workers[0]["status"] == "ONLINE"
    clock.advance(91)  # three missed 30 s heartbeats
    assert (await client.get("/work_pools/capture-pool")).json()["status"] == "NOT_READY"
    unknown = await client.post("/work_pools/nope/workers/heartbeat", json=body)
    assert unknown.status_code == 404


async def test_workers_get_due_runs(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await _pool(client)
    await client.post("/work_pools/capture-pool/queues", json={"name": "slow", "priority": 5})
    flow = (await client.post("/flows/", json={"name": "f"})).json()

    async def scheduled(queue: str, minutes: float) -> str:
        when = (clock.now + timedelta(minutes=minutes)).isoformat()
        body = {
            "flow_id": flow["id"],
            "work_pool_name": "capture-pool",
            "work_queue_name": queue,
            "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": when}},
        }
        run_id: str = (await client.post("/flow_runs/", json=body)).json()["id"]
        return run_id

    slow_run = await scheduled("slow", -2)
    fast_run = await scheduled("default", -1)
    future_run = await scheduled("default", 30)
    before = (clock.now + timedelta(minutes=5)).isoformat()
    response = await client.post(
        "/work_pools/capture-pool/get_scheduled_flow_runs", json={"scheduled_before": before}
    )
    due = [WorkerFlowRunResponse.model_validate(item) for item in response.json()]
    assert [str(item.flow_run.id) for item in due] == [fast_run, slow_run]  # queue priority
    assert_keys_like(
        response.json(), SAMPLES["POST /work_pools/{name}/get_scheduled_flow_runs"]["response_body"]
    )
    only_fast = await client.post(
        "/work_pools/capture-pool/get_scheduled_flow_runs", json={"work_queue_names": ["default"]}
    )
    assert {item["flow_run"]["id"] for item in only_fast.json()} == {fast_run, future_run}
    queue = await client.get("/work_pools/capture-pool/queues/default")
    assert queue.json()["status"] == "READY"  # polled
    await client.patch("/work_pools/capture-pool", json={"concurrency_limit": 1})
    await client.post(f"/flow_runs/{slow_run}/set_state", json={"state": {"type": "PENDING"}})
    limited = await client.post(
        "/work_pools/capture-pool/get_scheduled_flow_runs", json={"scheduled_before": before}
    )
    assert limited.json() == []  # the pool's one slot is taken by the pending run
    await client.patch("/work_pools/capture-pool", json={"is_paused": True})
    paused = await client.post("/work_pools/capture-pool/get_scheduled_flow_runs", json={})
    assert paused.json() == []
    assert (await client.get("/work_pools/capture-pool")).json()["status"] == "PAUSED"
