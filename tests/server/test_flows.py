"""Flows: one per name, read, filtered, sorted, paged, counted, updated, deleted."""

from __future__ import annotations

import httpx
import pytest

from prefect_trio_client.schemas.objects import Flow
from tests.server.helpers import assert_keys_like, samples

pytestmark = pytest.mark.anyio
SAMPLES = samples()


async def _flow(client: httpx.AsyncClient, name: str, **fields: object) -> dict[str, object]:
    response = await client.post("/flows/", json={"name": name, **fields})
    assert response.status_code in (200, 201)
    body: dict[str, object] = response.json()
    return body


async def test_create_is_idempotent_by_name(client: httpx.AsyncClient) -> None:
    first = await client.post("/flows/", json={"name": "etl", "tags": ["a"]})
    again = await client.post("/flows/", json={"name": "etl", "tags": ["b"]})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()  # the existing flow, unchanged
    Flow.model_validate(first.json())
    assert_keys_like(first.json(), SAMPLES["POST /flows/"]["response_body"])


async def test_read_by_id_and_name(client: httpx.AsyncClient) -> None:
    flow = await _flow(client, "etl")
    by_id = await client.get(f"/flows/{flow['id']}")
    by_name = await client.get("/flows/name/etl")
    assert by_id.json() == by_name.json() == flow
    assert_keys_like(by_id.json(), SAMPLES["GET /flows/{id}"]["response_body"])


async def test_unknown_flow_is_404(client: httpx.AsyncClient) -> None:
    sample = SAMPLES["GET /flows/{id} -> 404 (read_flow of an unknown id)"]
    unknown = await client.get("/flows/77d4682b-4aed-4480-8e82-be6c4bb957bd")
    assert (unknown.status_code, unknown.json()) == (404, sample["response_body"])
    assert (await client.get("/flows/name/nope")).status_code == 404
    assert (await client.delete("/flows/77d4682b-4aed-4480-8e82-be6c4bb957bd")).status_code == 404


async def test_filter_sort_page_and_count(client: httpx.AsyncClient) -> None:
    for name, tags in [("b-flow", ["x"]), ("a-flow", ["x", "y"]), ("c-other", [])]:
        await _flow(client, name, tags=tags)
    body = {"flows": {"name": {"like_": "FLOW"}}, "sort": "NAME_ASC"}
    names = [f["name"] for f in (await client.post("/flows/filter", json=body)).json()]
    assert names == ["a-flow", "b-flow"]
    desc = await client.post("/flows/filter", json={"sort": "NAME_DESC", "limit": 2, "offset": 1})
    assert [f["name"] for f in desc.json()] == ["b-flow", "a-flow"]
    tagged = {"flows": {"tags": {"all_": ["x", "y"]}}}
    assert [f["name"] for f in (await client.post("/flows/filter", json=tagged)).json()] == [
        "a-flow"
    ]
    untagged = {"flows": {"tags": {"is_null_": True}}}
    assert (await client.post("/flows/count", json=untagged)).json() == 1
    either = {"flows": {"operator": "or_", "name": {"any_": ["c-other"]}, "tags": {"all_": ["y"]}}}
    assert (await client.post("/flows/count", json=either)).json() == 2
    assert (await client.post("/flows/count")).json() == 3


async def test_filter_by_runs_and_deployments(client: httpx.AsyncClient) -> None:
    with_run = await _flow(client, "with-run")
    await _flow(client, "without")
    await client.post("/flow_runs/", json={"flow_id": with_run["id"], "tags": ["t"]})
    body = {"flow_runs": {"tags": {"all_": ["t"]}}}
    assert [f["name"] for f in (await client.post("/flows/filter", json=body)).json()] == [
        "with-run"
    ]
    await client.post("/deployments/", json={"name": "d", "flow_id": with_run["id"]})
    no_deployment = {"flows": {"deployment": {"is_null_": True}}}
    assert [f["name"] for f in (await client.post("/flows/filter", json=no_deployment)).json()] == [
        "without"
    ]
    by_deployment = {"deployments": {"name": {"any_": ["d"]}}}
    assert (await client.post("/flows/count", json=by_deployment)).json() == 1


async def test_update_tags(client: httpx.AsyncClient) -> None:
    flow = await _flow(client, "etl")
    assert (await client.patch(f"/flows/{flow['id']}", json={"tags": ["new"]})).status_code == 204
    assert (await client.get(f"/flows/{flow['id']}")).json()["tags"] == ["new"]


async def test_delete_cascades_to_runs_and_deployments(client: httpx.AsyncClient) -> None:
    flow = await _flow(client, "etl")
    run = (await client.post("/flow_runs/", json={"flow_id": flow["id"]})).json()
    task = {"flow_run_id": run["id"], "task_key": "k", "dynamic_key": "0"}
    task_run = (await client.post("/task_runs/", json=task)).json()
    deployment = (
        await client.post("/deployments/", json={"name": "d", "flow_id": flow["id"]})
    ).json()
    assert (await client.delete(f"/flows/{flow['id']}")).status_code == 204
    assert (await client.get(f"/flows/{flow['id']}")).status_code == 404
    assert (await client.get(f"/flow_runs/{run['id']}")).status_code == 404
    assert (await client.get(f"/task_runs/{task_run['id']}")).status_code == 404
    assert (await client.get(f"/deployments/{deployment['id']}")).status_code == 404
    states = await client.get("/flow_run_states/", params={"flow_run_id": run["id"]})
    assert states.json() == []
