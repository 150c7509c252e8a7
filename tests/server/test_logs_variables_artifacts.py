"""Logs, variables and artifacts."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from prefect_trio_client.schemas.objects import Artifact, Log, Variable
from tests.server.helpers import assert_keys_like, samples

pytestmark = pytest.mark.anyio
SAMPLES = samples()


def _log(message: str, second: int, **fields: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "level": 20,
        "message": message,
        "timestamp": f"2030-01-01T00:00:{second:02d}Z",
        **fields,
    }


async def test_logs(client: httpx.AsyncClient) -> None:
    run_a, run_b, task = (str(uuid.uuid4()) for _ in range(3))
    batch = [
        _log("connection timeout", 3, flow_run_id=run_a),
        _log("all good", 1, flow_run_id=run_a, task_run_id=task),
        _log("debug noise", 2, flow_run_id=run_b, level=10),
    ]
    created = await client.post("/logs/", json=batch)
    assert (created.status_code, created.json()) == (201, None)
    by_run = {"logs": {"flow_run_id": {"any_": [run_a]}}, "sort": "TIMESTAMP_DESC"}
    found = [Log.model_validate(x) for x in (await client.post("/logs/filter", json=by_run)).json()]
    assert [log.message for log in found] == ["connection timeout", "all good"]
    assert_keys_like(
        (await client.post("/logs/filter", json=by_run)).json(),
        SAMPLES["POST /logs/filter"]["response_body"],
    )
    oldest_first = (await client.post("/logs/filter", json={})).json()
    assert [x["message"] for x in oldest_first] == ["all good", "debug noise", "connection timeout"]
    info = {"logs": {"level": {"ge_": 20}}}
    assert len((await client.post("/logs/filter", json=info)).json()) == 2
    no_task = {"logs": {"task_run_id": {"is_null_": True}}}
    assert len((await client.post("/logs/filter", json=no_task)).json()) == 2
    search = {"logs": {"text": {"query": 'good "connection timeout" -noise'}}}
    assert len((await client.post("/logs/filter", json=search)).json()) == 2
    window = {"logs": {"timestamp": {"after_": "2030-01-01T00:00:02Z"}}}
    assert len((await client.post("/logs/filter", json=window)).json()) == 2
    bad = await client.post("/logs/", json=[{"name": "x"}])
    assert bad.status_code == 422
    assert bad.json()["exception_detail"][0]["loc"][:2] == ["body", 0]


async def test_variables(client: httpx.AsyncClient) -> None:
    body = SAMPLES["POST /variables/"]["request_body"]
    created = await client.post("/variables/", json=body)
    assert created.status_code == 201
    Variable.model_validate(created.json())
    assert_keys_like(created.json(), SAMPLES["POST /variables/"]["response_body"])
    duplicate = await client.post("/variables/", json={"name": body["name"], "value": 1})
    assert duplicate.status_code == 409
    assert duplicate.json() == {
        "detail": f"A variable with the name {body['name']!r} already exists."
    }
    read = await client.get(f"/variables/name/{body['name']}")
    assert read.json() == created.json()
    assert (await client.get(f"/variables/{created.json()['id']}")).json() == created.json()
    update = {"name": body["name"], "value": "new value", "tags": ["updated"]}
    assert (await client.patch(f"/variables/name/{body['name']}", json=update)).status_code == 204
    after = (await client.get(f"/variables/name/{body['name']}")).json()
    assert (after["value"], after["tags"]) == ("new value", ["updated"])
    await client.post("/variables/", json={"name": "another", "value": None})
    listed = await client.post("/variables/filter", json={"limit": 10})
    assert [v["name"] for v in listed.json()] == ["another", body["name"]]
    like = {"variables": {"name": {"like_": "anoth%"}}}
    assert (await client.post("/variables/count", json=like)).json() == 1
    assert (await client.delete(f"/variables/name/{body['name']}")).status_code == 204
    missing = await client.get(f"/variables/name/{body['name']}")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Variable not found."})
    assert (await client.delete("/variables/name/nope")).status_code == 404
    assert (await client.patch("/variables/name/nope", json={"value": 1})).status_code == 404


async def test_artifacts(client: httpx.AsyncClient) -> None:
    body = dict(SAMPLES["POST /artifacts/"]["request_body"])
    first = await client.post("/artifacts/", json=body)
    assert first.status_code == 201
    Artifact.model_validate(first.json())
    assert_keys_like(first.json(), SAMPLES["POST /artifacts/"]["response_body"])
    second = await client.post(
        "/artifacts/", json={**body, "data": "# second version", "task_run_id": None}
    )
    await client.post("/artifacts/", json={"type": "table", "data": [[1, 2]]})
    query = SAMPLES["POST /artifacts/filter"]["request_body"]
    found = (await client.post("/artifacts/filter", json=query)).json()
    assert [a["id"] for a in found] == [second.json()["id"], first.json()["id"]]
    keyless = {"artifacts": {"key": {"exists_": False}}}
    assert (await client.post("/artifacts/count", json=keyless)).json() == 1
    by_task = {"artifacts": {"task_run_id": {"any_": [body["task_run_id"]]}}}
    assert (await client.post("/artifacts/count", json=by_task)).json() == 1
    assert (await client.get(f"/artifacts/{first.json()['id']}")).json() == first.json()
    assert (await client.delete(f"/artifacts/{first.json()['id']}")).status_code == 204
    missing = await client.get(f"/artifacts/{first.json()['id']}")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Artifact not found."})
    bad_key = await client.post("/artifacts/", json={"key": "Bad Key"})
    assert bad_key.status_code == 422
