"""Task runs: one per (flow run, task key, dynamic key), labels, filters, history."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from prefect_trio_client.schemas.objects import TaskRun
from tests.server.helpers import assert_keys_like, samples

pytestmark = pytest.mark.anyio
SAMPLES = samples()


async def _flow_run(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    flow = (await client.post("/flows/", json={"name": "etl"})).json()
    run: dict[str, Any] = (
        await client.post("/flow_runs/", json={"flow_id": flow["id"], **fields})
    ).json()
    await client.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}})
    return run


async def test_create_matches_prefect_and_is_idempotent(client: httpx.AsyncClient) -> None:
    run = await _flow_run(client, labels={"env": "test"})
    request = dict(SAMPLES["POST /task_runs/"]["request_body"])
    request["flow_run_id"] = run["id"]
    first = await client.post("/task_runs/", json=request)
    again = await client.post("/task_runs/", json=request)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    task = TaskRun.model_validate(first.json())
    assert task.labels == {
        "prefect.flow.id": run["flow_id"],
        "env": "test",
        "prefect.flow-run.id": run["id"],
    }
    assert task.state is not None
    assert task.state.state_details.task_run_id == task.id
    assert_keys_like(first.json(), SAMPLES["POST /task_runs/"]["response_body"])
    other_key = {**request, "dynamic_key": "1"}
    assert (await client.post("/task_runs/", json=other_key)).status_code == 201


async def test_client_chosen_id(client: httpx.AsyncClient) -> None:
    task_id = str(uuid.uuid4())
    body = {"id": task_id, "flow_run_id": None, "task_key": "k", "dynamic_key": "0"}
    assert (await client.post("/task_runs/", json=body)).json()["id"] == task_id
    assert (await client.post("/task_runs/", json=body)).status_code == 200


async def test_read_update_delete(client: httpx.AsyncClient) -> None:
    run = await _flow_run(client)
    body = {"flow_run_id": run["id"], "task_key": "k", "dynamic_key": "0"}
    task = (await client.post("/task_runs/", json=body)).json()
    read = await client.get(f"/task_runs/{task['id']}")
    assert_keys_like(read.json(), SAMPLES["GET /task_runs/{id}"]["response_body"])
    renamed = await client.patch(f"/task_runs/{task['id']}", json={"name": "renamed"})
    assert renamed.status_code == 204
    assert (await client.get(f"/task_runs/{task['id']}")).json()["name"] == "renamed"
    assert (await client.delete(f"/task_runs/{task['id']}")).status_code == 204
    gone = await client.get(f"/task_runs/{task['id']}")
    assert (gone.status_code, gone.json()) == (404, {"detail": "Task not found"})


async def test_filters_and_history(client: httpx.AsyncClient) -> None:
    run = await _flow_run(client, tags=["flow-tag"])
    ids = []
    for i in range(3):
        body = {"flow_run_id": run["id"], "task_key": "k", "dynamic_key": str(i), "tags": [f"t{i}"]}
        ids.append((await client.post("/task_runs/", json=body)).json()["id"])
    await client.post(f"/task_runs/{ids[0]}/set_state", json={"state": {"type": "RUNNING"}})
    await client.post(f"/task_runs/{ids[0]}/set_state", json={"state": {"type": "COMPLETED"}})
    await client.post(
        "/task_runs/", json={"flow_run_id": None, "task_key": "alone", "dynamic_key": "0"}
    )
    in_run = {
        "task_runs": {"flow_run_id": {"any_": [run["id"]]}},
        "sort": "EXPECTED_START_TIME_DESC",
    }
    assert len((await client.post("/task_runs/filter", json=in_run)).json()) == 3
    completed = {"task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
    assert [t["id"] for t in (await client.post("/task_runs/filter", json=completed)).json()] == [
        ids[0]
    ]
    outside = {"task_runs": {"flow_run_id": {"is_null_": True}}}
    assert (await client.post("/task_runs/count", json=outside)).json() == 1
    inside: dict[str, Any] = {"task_runs": {"flow_run_id": {}}}
    assert (await client.post("/task_runs/count", json=inside)).json() == 3
    by_flow_run = {"flow_runs": {"tags": {"all_": ["flow-tag"]}}}
    assert (await client.post("/task_runs/count", json=by_flow_run)).json() == 3
    assert (await client.post("/task_runs/count", json={})).json() == 4
    history = await client.get("/task_run_states/", params={"task_run_id": ids[0]})
    assert [s["type"] for s in history.json()] == ["PENDING", "RUNNING", "COMPLETED"]
    assert_keys_like(history.json(), SAMPLES["GET /task_run_states/"]["response_body"])
    state_id = history.json()[1]["id"]
    assert (await client.get(f"/task_run_states/{state_id}")).json()["type"] == "RUNNING"
    assert (await client.get(f"/task_run_states/{uuid.uuid4()}")).status_code == 404


async def test_unknown_flow_run_is_an_integrity_conflict(client: httpx.AsyncClient) -> None:
    body = {"flow_run_id": str(uuid.uuid4()), "task_key": "k", "dynamic_key": "0"}
    assert (await client.post("/task_runs/", json=body)).status_code == 409
