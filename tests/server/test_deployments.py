"""Deployments: upsert, read by name, update, runs from deployments, scheduled runs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from prefect_trio_client.schemas.objects import Deployment, FlowRun
from tests.server.helpers import FakeClock, assert_keys_like, samples

pytestmark = pytest.mark.anyio
SAMPLES = samples()


async def _setup(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    flow_id: str = (await client.post("/flows/", json={"name": "capture-flow"})).json()["id"]
    pool = SAMPLES["POST /work_pools/"]["request_body"]
    assert (await client.post("/work_pools/", json=pool)).status_code == 201
    request = dict(SAMPLES["POST /deployments/ (client.create_deployment)"]["request_body"])
    request["flow_id"] = flow_id
    return flow_id, request


async def test_create_is_an_upsert(client: httpx.AsyncClient) -> None:
    flow_id, request = await _setup(client)
    first = await client.post("/deployments/", json=request)
    assert first.status_code == 201
    deployment = Deployment.model_validate(first.json())
    assert deployment.work_queue_name == "capture-queue"
    assert deployment.work_queue_id is not None
    assert deployment.labels == {"prefect.flow.id": flow_id}
    sample = SAMPLES["POST /deployments/ (client.create_deployment)"]["response_body"]
    assert_keys_like(first.json(), sample)
    again = await client.post(
        "/deployments/", json={"name": request["name"], "flow_id": flow_id, "version": "2"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["version"] == "2"
    assert again.json()["description"] == request["description"]  # unset fields are kept
    queue = await client.get("/work_pools/capture-pool/queues/capture-queue")
    assert queue.json()["id"] == str(deployment.work_queue_id)  # made on demand


async def test_unknown_pool_and_flow(client: httpx.AsyncClient) -> None:
    _, request = await _setup(client)
    missing_pool = await client.post("/deployments/", json={**request, "work_pool_name": "nope"})
    assert (missing_pool.status_code, missing_pool.json()) == (
        404,
        {"detail": 'Work pool "nope" not found.'},
    )
    missing_flow = await client.post(
        "/deployments/", json={"name": "d", "flow_id": str(uuid.uuid4())}
    )
    assert missing_flow.status_code == 409


async def test_read_by_id_and_name_update_delete(client: httpx.AsyncClient) -> None:
    _, request = await _setup(client)
    created = (await client.post("/deployments/", json=request)).json()
    by_name = await client.get("/deployments/name/capture-flow/capture-deployment")
    by_id = await client.get(f"/deployments/{created['id']}")
    assert by_name.json() == by_id.json()
    assert_keys_like(by_id.json(), SAMPLES["GET /deployments/{id}"]["response_body"])
    update = SAMPLES["PATCH /deployments/{id}"]["request_body"]
    assert (await client.patch(f"/deployments/{created['id']}", json=update)).status_code == 204
    after = (await client.get(f"/deployments/{created['id']}")).json()
    assert (after["description"], after["parameters"], after["tags"]) == (
        update["description"],
        update["parameters"],
        update["tags"],
    )
    schedules = {"schedules": [{"schedule": {"interval": 60}}], "concurrency_limit": 2}
    assert (await client.patch(f"/deployments/{created['id']}", json=schedules)).status_code == 204
    after = Deployment.model_validate((await client.get(f"/deployments/{created['id']}")).json())
    assert after.schedules[0].schedule.interval == timedelta(seconds=60)  # type: ignore[union-attr]
    assert after.global_concurrency_limit is not None
    assert after.global_concurrency_limit.limit == 2
    assert (await client.delete(f"/deployments/{created['id']}")).status_code == 204
    gone = await client.get("/deployments/name/capture-flow/capture-deployment")
    assert (gone.status_code, gone.json()) == (404, {"detail": "Deployment not found"})
    assert (await client.delete(f"/deployments/{created['id']}")).status_code == 404


async def test_filter(client: httpx.AsyncClient) -> None:
    flow_id, request = await _setup(client)
    await client.post("/deployments/", json=request)
    await client.post("/deployments/", json={"name": "other", "flow_id": flow_id, "paused": True})
    body = SAMPLES["POST /deployments/filter"]["request_body"]
    found = (await client.post("/deployments/filter", json=body)).json()
    assert [d["name"] for d in found] == ["capture-deployment"]
    paused = {"deployments": {"paused": {"eq_": True}}}
    assert [d["name"] for d in (await client.post("/deployments/filter", json=paused)).json()] == [
        "other"
    ]
    by_flow_name = {"deployments": {"flow_or_deployment_name": {"like_": "CAPTURE-FL"}}}
    assert (await client.post("/deployments/count", json=by_flow_name)).json() == 2
    by_pool = {"work_pools": {"name": {"any_": ["capture-pool"]}}}
    assert (await client.post("/deployments/count", json=by_pool)).json() == 1


async def test_runs_from_a_deployment(client: httpx.AsyncClient, clock: FakeClock) -> None:
    _, request = await _setup(client)
    deployment = (await client.post("/deployments/", json=request)).json()
    body = dict(SAMPLES["POST /deployments/{id}/create_flow_run"]["request_body"])
    body["state"] = {"type": "SCHEDULED"}
    first = await client.post(f"/deployments/{deployment['id']}/create_flow_run", json=body)
    assert first.status_code == 201
    run = FlowRun.model_validate(first.json())
    assert run.deployment_id is not None
    assert str(run.deployment_id) == deployment["id"]
    assert run.parameters == {"x": 2}
    assert run.work_queue_name == "capture-queue"
    assert run.work_pool_name == "capture-pool"
    assert run.state is not None
    assert run.state.is_scheduled()
    assert run.next_scheduled_start_time == clock.now
    assert run.labels["prefect.deployment.id"] == deployment["id"]
    assert set(run.tags) == {"bench-8ad3db026961", "capture-9730b9d1"}
    assert_keys_like(
        first.json(), SAMPLES["POST /deployments/{id}/create_flow_run"]["response_body"]
    )
    replay = await client.post(
        f"/deployments/{deployment['id']}/create_flow_run",
        json={**body, "parameters": {"x": 99}},
    )
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["parameters"] == {"x": 2}
    missing = await client.post(f"/deployments/{uuid.uuid4()}/create_flow_run", json={})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Deployment not found"})


async def test_scheduled_runs_for_deployments(client: httpx.AsyncClient, clock: FakeClock) -> None:
    _, request = await _setup(client)
    deployment = (await client.post("/deployments/", json=request)).json()
    later = (clock.now + timedelta(hours=2)).isoformat()
    soon = (await client.post(f"/deployments/{deployment['id']}/create_flow_run", json={})).json()
    await client.post(
        f"/deployments/{deployment['id']}/create_flow_run",
        json={"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": later}}},
    )
    assert deployment["status"] == "NOT_READY"
    before = (clock.now + timedelta(hours=1)).isoformat()
    body = {"deployment_ids": [deployment["id"]], "scheduled_before": before, "limit": 10}
    response = await client.post("/deployments/get_scheduled_flow_runs", json=body)
    assert [r["id"] for r in response.json()] == [soon["id"]]
    assert_keys_like(
        response.json(), SAMPLES["POST /deployments/get_scheduled_flow_runs"]["response_body"]
    )
    everything = {"deployment_ids": [deployment["id"]]}
    assert (
        len((await client.post("/deployments/get_scheduled_flow_runs", json=everything)).json())
        == 2
    )
    polled = await client.get(f"/deployments/{deployment['id']}")
    assert polled.json()["status"] == "READY"
