"""Flow runs: creation, idempotency, updates, labels, filters, history, deletion."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from prefect_trio_client.schemas.objects import FlowRun, State
from tests.server.helpers import FakeClock, assert_keys_like, samples

pytestmark = pytest.mark.anyio
SAMPLES = samples()
Json = dict[str, Any]


async def _flow_id(client: httpx.AsyncClient, name: str = "etl") -> str:
    flow_id: str = (await client.post("/flows/", json={"name": name})).json()["id"]
    return flow_id


async def _run(client: httpx.AsyncClient, flow_id: str, **fields: Any) -> Json:
    response = await client.post("/flow_runs/", json={"flow_id": flow_id, **fields})
    assert response.status_code == 201, response.text
    run: Json = response.json()
    return run


async def _set(client: httpx.AsyncClient, run_id: str, type: str, **state: Any) -> Json:
    body = {"state": {"type": type, **state}}
    response = await client.post(f"/flow_runs/{run_id}/set_state", json=body)
    result: Json = response.json()
    return result


async def test_create_matches_prefect(client: httpx.AsyncClient, clock: FakeClock) -> None:
    flow_id = await _flow_id(client)
    request = dict(SAMPLES["POST /flow_runs/ (client.create_flow_run)"]["request_body"])
    request["flow_id"] = flow_id
    response = await client.post("/flow_runs/", json=request)
    assert response.status_code == 201
    run = FlowRun.model_validate(response.json())
    assert run.name == "capture-run-1"
    assert run.state is not None
    assert run.state.type.value == "PENDING"
    assert run.state_type is not None
    assert run.state_type.value == "PENDING"
    assert run.expected_start_time == clock.now
    assert run.labels == {"prefect.flow.id": flow_id}
    assert run.state.state_details.flow_run_id == run.id
    assert_keys_like(response.json(), SAMPLES["POST /flow_runs/"]["response_body"])


async def test_runs_get_a_name(client: httpx.AsyncClient) -> None:
    run = await _run(client, await _flow_id(client))
    assert run["name"].count("-") == 1


async def test_idempotent_replay_returns_the_run_with_200(client: httpx.AsyncClient) -> None:
    flow_id = await _flow_id(client)
    first = await _run(client, flow_id, idempotency_key="k", parameters={"x": 1})
    again = await client.post(
        "/flow_runs/", json={"flow_id": flow_id, "idempotency_key": "k", "parameters": {"x": 2}}
    )
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["parameters"] == {"x": 1}
    other_flow = await _flow_id(client, "other")
    assert (await _run(client, other_flow, idempotency_key="k"))["id"] != first["id"]
    assert (await client.post("/flow_runs/count", json={})).json() == 2


async def test_unknown_flow_is_an_integrity_conflict(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/flow_runs/", json={"flow_id": "00000000-0000-0000-0000-000000000001"}
    )
    assert response.status_code == 409
    assert "Data integrity conflict" in response.json()["detail"]


async def test_read_and_404(client: httpx.AsyncClient) -> None:
    run = await _run(client, await _flow_id(client))
    read = await client.get(f"/flow_runs/{run['id']}")
    assert read.json()["id"] == run["id"]
    assert_keys_like(read.json(), SAMPLES["GET /flow_runs/{id}"]["response_body"])
    missing = await client.get("/flow_runs/9722d8fd-f438-44c2-82d4-a9a9e630c4a3")
    sample = SAMPLES["GET /flow_runs/{id} -> 404"]
    assert (missing.status_code, missing.json()) == (404, sample["response_body"])


async def test_update_changes_only_given_fields(client: httpx.AsyncClient) -> None:
    run = await _run(client, await _flow_id(client), tags=["a"], parameters={"x": 1})
    body = SAMPLES["PATCH /flow_runs/{id}"]["request_body"]
    assert (await client.patch(f"/flow_runs/{run['id']}", json=body)).status_code == 204
    renamed = {"name": "renamed"}
    assert (await client.patch(f"/flow_runs/{run['id']}", json=renamed)).status_code == 204
    after = (await client.get(f"/flow_runs/{run['id']}")).json()
    assert (after["flow_version"], after["parameters"], after["tags"]) == (
        body["flow_version"],
        body["parameters"],
        body["tags"],
    )
    assert after["name"] == "renamed"
    policy = {"empirical_policy": {"retries": 3, "retry_delay": 5}}
    await client.patch(f"/flow_runs/{run['id']}", json=policy)
    after = (await client.get(f"/flow_runs/{run['id']}")).json()
    assert after["empirical_policy"]["retries"] == 3
    assert set(after["empirical_policy"]) >= {"pause_keys", "resuming", "retry_type"}


async def test_job_variables_only_for_scheduled_runs_of_deployments(
    client: httpx.AsyncClient,
) -> None:
    flow_id = await _flow_id(client)
    run = await _run(client, flow_id)
    update = {"job_variables": {"env": {"A": "1"}}}
    pending = await client.patch(f"/flow_runs/{run['id']}", json=update)
    sample = SAMPLES[
        "PATCH /flow_runs/{id} -> 400 (update_flow_run with job_variables on a PENDING run;"
        " only SCHEDULED runs accept job_variables updates)"
    ]
    assert (pending.status_code, pending.json()) == (400, sample["response_body"])
    scheduled = await _run(client, flow_id, state={"type": "SCHEDULED"})
    no_deployment = await client.patch(f"/flow_runs/{scheduled['id']}", json=update)
    assert no_deployment.status_code == 400
    deployment = (await client.post("/deployments/", json={"name": "d", "flow_id": flow_id})).json()
    from_deployment = (await client.post(f"/deployments/{deployment['id']}/create_flow_run")).json()
    ok = await client.patch(f"/flow_runs/{from_deployment['id']}", json=update)
    assert ok.status_code == 204
    read = await client.get(f"/flow_runs/{from_deployment['id']}")
    assert read.json()["job_variables"] == update["job_variables"]


async def test_labels_are_merged(client: httpx.AsyncClient) -> None:
    run = await _run(client, await _flow_id(client), labels={"keep": "me", "env": "old"})
    body = SAMPLES["PATCH /flow_runs/{id}/labels"]["request_body"]
    assert (await client.patch(f"/flow_runs/{run['id']}/labels", json=body)).status_code == 204
    labels = (await client.get(f"/flow_runs/{run['id']}")).json()["labels"]
    assert labels == {"prefect.flow.id": run["flow_id"], "keep": "me", **body}
    bad = await client.patch(f"/flow_runs/{run['id']}/labels", json={"x": [1]})
    assert bad.status_code == 422


async def test_filter_by_state_tags_and_flow(client: httpx.AsyncClient, clock: FakeClock) -> None:
    flow_id = await _flow_id(client)
    other = await _flow_id(client, "other")
    done = await _run(client, flow_id, tags=["t"], name="done")
    await _set(client, done["id"], "RUNNING")
    clock.advance(1)
    await _set(client, done["id"], "COMPLETED")
    running = await _run(client, flow_id, tags=["t"], name="running")
    await _set(client, running["id"], "RUNNING")
    await _run(client, flow_id, tags=["t"], name="pending")
    await _run(client, other, tags=["t"], name="elsewhere")
    body: Json = {
        "flows": {"id": {"any_": [flow_id]}},
        "flow_runs": {
            "tags": {"all_": ["t"]},
            "state": {"type": {"any_": ["RUNNING", "COMPLETED"]}},
        },
        "sort": "NAME_ASC",
    }
    response = await client.post("/flow_runs/filter", json=body)
    assert [r["name"] for r in response.json()] == ["done", "running"]
    assert (await client.post("/flow_runs/count", json=body)).json() == 2
    not_done = {"flow_runs": {"state": {"type": {"not_any_": ["COMPLETED"]}}}, "sort": "NAME_DESC"}
    names = [r["name"] for r in (await client.post("/flow_runs/filter", json=not_done)).json()]
    assert names == ["running", "pending", "elsewhere"]
    by_name = {"flow_runs": {"state": {"name": {"any_": ["Completed"]}}}}
    assert (await client.post("/flow_runs/count", json=by_name)).json() == 1
    started = {"flow_runs": {"start_time": {"is_null_": False}}, "sort": "START_TIME_DESC"}
    names = [r["name"] for r in (await client.post("/flow_runs/filter", json=started)).json()]
    assert names == ["running", "done"]


async def test_default_sort_is_newest_first(client: httpx.AsyncClient) -> None:
    flow_id = await _flow_id(client)
    ids = [(await _run(client, flow_id))["id"] for _ in range(5)]
    listed = [r["id"] for r in (await client.post("/flow_runs/filter", json={})).json()]
    assert listed == ids[::-1]


async def test_paging_limits(client: httpx.AsyncClient) -> None:
    flow_id = await _flow_id(client)
    for _ in range(5):
        await _run(client, flow_id)
    page = await client.post("/flow_runs/filter", json={"limit": 2, "offset": 4})
    assert len(page.json()) == 1
    too_many = await client.post("/flow_runs/filter", json={"limit": 201})
    assert too_many.status_code == 422
    assert too_many.json() == {"detail": "Invalid limit: must be less than or equal to 200."}
    negative = await client.post("/flow_runs/filter", json={"limit": -1})
    assert negative.json() == {"detail": "Invalid limit: must be greater than or equal to 0."}
    bad_offset = await client.post("/flow_runs/filter", json={"offset": -1})
    assert bad_offset.json()["exception_detail"][0]["loc"] == ["body", "offset"]
    nulls = await client.post(
        "/flow_runs/filter", json={"limit": None, "offset": None, "sort": None}
    )
    assert len(nulls.json()) == 5


async def test_filter_by_task_runs_and_parent(client: httpx.AsyncClient) -> None:
    flow_id = await _flow_id(client)
    parent = await _run(client, flow_id, name="parent")
    await _set(client, parent["id"], "RUNNING")
    task = {"flow_run_id": parent["id"], "task_key": "sub", "dynamic_key": "0"}
    task_run = (await client.post("/task_runs/", json=task)).json()
    child = await _run(client, flow_id, name="child", parent_task_run_id=task_run["id"])
    await _run(client, flow_id, name="alone")
    with_tasks: dict[str, Any] = {"task_runs": {}}
    names = [r["name"] for r in (await client.post("/flow_runs/filter", json=with_tasks)).json()]
    assert names == ["parent"]
    subflows = {"flow_runs": {"parent_flow_run_id": {"any_": [parent["id"]]}}}
    names = [r["name"] for r in (await client.post("/flow_runs/filter", json=subflows)).json()]
    assert names == ["child"]
    by_id = {"flow_runs": {"id": {"any_": [child["id"], parent["id"]]}}, "sort": "NAME_ASC"}
    names = [r["name"] for r in (await client.post("/flow_runs/filter", json=by_id)).json()]
    assert names == ["child", "parent"]


async def test_states_history_oldest_first(client: httpx.AsyncClient) -> None:
    run = await _run(client, await _flow_id(client))
    await _set(client, run["id"], "RUNNING")
    await _set(client, run["id"], "COMPLETED")
    response = await client.get("/flow_run_states/", params={"flow_run_id": run["id"]})
    history = [State.model_validate(s) for s in response.json()]
    assert [s.type.value for s in history] == ["PENDING", "RUNNING", "COMPLETED"]
    assert history == sorted(history, key=lambda s: s.timestamp)
    assert len({s.timestamp for s in history}) == 3  # strictly increasing on a still clock
    assert_keys_like(response.json(), SAMPLES["GET /flow_run_states/"]["response_body"])
    one = await client.get(f"/flow_run_states/{history[1].id}")
    assert one.json()["type"] == "RUNNING"
    assert (await client.get("/flow_run_states/")).status_code == 422
    bad = await client.get("/flow_run_states/", params={"flow_run_id": "nope"})
    assert bad.status_code == 422
    assert bad.json()["exception_detail"][0]["loc"] == ["query", "flow_run_id"]


async def test_delete(client: httpx.AsyncClient) -> None:
    run = await _run(client, await _flow_id(client))
    assert (await client.delete(f"/flow_runs/{run['id']}")).status_code == 204
    assert (await client.delete(f"/flow_runs/{run['id']}")).status_code == 404


async def test_huge_id_lists_are_fine(client: httpx.AsyncClient) -> None:
    run = await _run(client, await _flow_id(client))
    ids = [str(uuid.uuid4()) for _ in range(40_000)] + [run["id"]]
    body = {"flow_runs": {"id": {"any_": ids}}}
    response = await client.post("/flow_runs/filter", json=body)
    assert [r["id"] for r in response.json()] == [run["id"]]
