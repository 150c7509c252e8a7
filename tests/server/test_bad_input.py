"""Bad input never gets a 500: every route, malformed and mistyped bodies, odd paths.

Each answer is a 4xx in Prefect's shape (``detail``, or ``exception_message`` with
``exception_detail`` for validation), or a success when the input happens to be valid.
A hypothesis sweep throws arbitrary JSON at every route that takes a body.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route, WebSocketRoute

from prefect_trio_client.server import create_app

pytestmark = pytest.mark.anyio


def _routes() -> list[tuple[str, str]]:
    app = create_app(":memory:")
    mount = app.routes[0]
    assert isinstance(mount, Mount)
    found = []
    for route in mount.routes:
        if isinstance(route, WebSocketRoute):
            continue  # the event websockets: tests/events
        assert isinstance(route, Route)
        assert route.methods is not None
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, route.path))
    return found


ROUTES = _routes()
WITH_BODY = [(m, p) for m, p in ROUTES if m in ("POST", "PATCH")]


def _url(path: str, *, token: str = "x") -> str:
    """A concrete URL: unknown ids and names, so lookups miss."""
    url = path
    for name in ("id", "schedule_id"):
        url = url.replace(f"{{{name}:uuid}}", str(uuid.uuid4()))
    for name in (
        "name",
        "flow_name",
        "deployment_name",
        "work_pool_name",
        "id_or_name",
        "lease_id",
        "slug",
        "checksum",
        "tag",
        "key",  # issue 11: queues-misc
        "view",
    ):
        url = url.replace(f"{{{name}}}", token)
    url = url.replace("{resource_id:str}", token)  # automations
    assert "{" not in url, url
    return url


def assert_prefect_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.url, response.text)
    if response.status_code < 400:
        return
    body = response.json()
    assert isinstance(body, dict)
    if "exception_detail" in body:
        assert body["exception_message"] == "Invalid request received."
        assert all(e["loc"][0] in ("body", "query", "path") for e in body["exception_detail"])
        assert "request_body" in body
    elif set(body) == {"exception_message"}:
        assert body["exception_message"]  # Prefect's ObjectNotFoundError (automations)
    else:
        assert "detail" in body, body


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A server holding one of most things, so routes get past their first lookup."""
    flow = (await client.post("/flows/", json={"name": "x"})).json()
    await client.post("/flow_runs/", json={"flow_id": flow["id"]})
    await client.post("/work_pools/", json={"name": "x"})
    await client.post("/variables/", json={"name": "x", "value": 1})
    await client.post("/v2/concurrency_limits/", json={"name": "x", "limit": 1})
    await client.post("/deployments/", json={"name": "x", "flow_id": flow["id"]})
    return client


BAD_BODIES: list[bytes] = [
    b'{"name": "capture-bad", ',
    b'{"name": "x", "value": NaN, "limit": Infinity}',
    b'{"name": "x", "value": 1e999}',
    b"\xff\xfe not utf-8",
    b"[1, 2]",
    b"3",
    b'"text"',
    b"null",
    b"",
    b"{}",
    b'{"unexpected": true}',
    json.dumps(
        {
            "name": 1,
            "flow_id": "nope",
            "state": 3,
            "limit": "x",
            "offset": -1,
            "tags": "x",
            "sort": "SIDEWAYS",
            "slots": 0,
            "names": [],
            "lease_id": "no",
            "flows": [],
            "flow_runs": {"id": {"any_": ["nope"]}},
            "deployment_ids": "x",
        }
    ).encode(),
]


@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
async def test_bad_bodies_get_4xx(seeded: httpx.AsyncClient, method: str, path: str) -> None:
    for body in BAD_BODIES:
        for token in ("x", "unknown"):
            response = await seeded.request(
                method,
                _url(path, token=token),
                content=body,
                headers={"content-type": "application/json"},
            )
            assert_prefect_error(response)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_unknown_ids_and_names_get_4xx(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, _url(path, token="unknown"))
    assert_prefect_error(response)


async def test_malformed_json_matches_prefect(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/flows/", content=b'{"name": "capture-bad", ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {
        "exception_message": "Invalid request received.",
        "exception_detail": [
            {
                "type": "json_invalid",
                "loc": ["body", 24],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": "Expecting property name enclosed in double quotes"},
            }
        ],
        "request_body": '{"name": "capture-bad", ',
    }


async def test_invalid_fields_match_prefect(client: httpx.AsyncClient) -> None:
    body = {"name": "Not A Valid Name!", "value": {"ok": True}, "tags": "x"}
    response = await client.post("/variables/", json=body)
    assert response.status_code == 422
    detail = response.json()["exception_detail"]
    assert [(e["type"], e["loc"]) for e in detail] == [
        ("value_error", ["body", "name"]),
        ("list_type", ["body", "tags"]),
    ]
    assert detail[0]["ctx"] == {"error": {}}
    assert response.json()["request_body"] == body
    missing = await client.post("/flow_runs/", json={"name": "bad"})
    assert missing.json()["exception_detail"] == [
        {
            "type": "missing",
            "loc": ["body", "flow_id"],
            "msg": "Field required",
            "input": {"name": "bad"},
        }
    ]


async def test_invalid_uuids_in_paths_are_404(client: httpx.AsyncClient) -> None:
    for path in ("/flows/not-a-uuid", "/flow_runs/123", "/task_runs/x/set_state"):
        response = await client.request("GET" if "set_state" not in path else "POST", path)
        assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["name", "flow_id", "state", "limit", "offset", "sort", "tags", "slots", "names", "value",
     "flows", "flow_runs", "task_runs", "logs", "deployments", "work_pools", "force", "labels",
     "type", "key", "parameters", "deployment_ids", "lease_id", "lease_duration", "task_key"]
)  # fmt: skip
bodies = json_values | st.dictionaries(field_names, json_values, max_size=5)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(route=st.sampled_from(WITH_BODY), body=bodies)
async def test_arbitrary_json_never_gets_a_500(
    seeded: httpx.AsyncClient, route: tuple[str, str], body: Any
) -> None:
    method, path = route
    response = await seeded.request(method, _url(path), json=body)
    assert_prefect_error(response)


async def test_null_updates_leave_objects_readable(seeded: httpx.AsyncClient) -> None:
    """Update models type many fields optional; null must never break later reads."""
    from prefect_trio_client.schemas import actions, objects

    client = seeded
    flow = (await client.post("/flows/filter", json={})).json()[0]
    run = (await client.post("/flow_runs/filter", json={})).json()[0]
    deployment = (await client.post("/deployments/filter", json={})).json()[0]
    await client.post("/work_pools/x/queues", json={"name": "q"})
    cases: list[tuple[str, type[Any], str, type[Any]]] = [
        (f"/flows/{flow['id']}", actions.FlowUpdate, f"/flows/{flow['id']}", objects.Flow),
        (
            f"/flow_runs/{run['id']}",
            actions.FlowRunUpdate,
            f"/flow_runs/{run['id']}",
            objects.FlowRun,
        ),
        (
            f"/deployments/{deployment['id']}",
            actions.DeploymentUpdate,
            f"/deployments/{deployment['id']}",
            objects.Deployment,
        ),
        ("/variables/name/x", actions.VariableUpdate, "/variables/name/x", objects.Variable),
        ("/work_pools/x", actions.WorkPoolUpdate, "/work_pools/x", objects.WorkPool),
        (
            "/work_pools/x/queues/q",
            actions.WorkQueueUpdate,
            "/work_pools/x/queues/q",
            objects.WorkQueue,
        ),
        (
            "/v2/concurrency_limits/x",
            actions.GlobalConcurrencyLimitUpdate,
            "/v2/concurrency_limits/x",
            objects.GlobalConcurrencyLimit,
        ),
    ]
    for path, update, read_path, model in cases:
        nulls = dict.fromkeys(update.model_fields)
        nulls.pop("name", None)  # a null name is refused or renames; covered elsewhere
        response = await client.patch(path, json=nulls)
        assert_prefect_error(response)
        read = await client.get(read_path)
        assert read.status_code == 200, (path, read.text)
        model.model_validate(read.json())
    created = await client.post(f"/deployments/{deployment['id']}/create_flow_run", json={})
    assert created.status_code == 201
    for listing in (
        "/flows/filter",
        "/flow_runs/filter",
        "/deployments/filter",
        "/work_pools/filter",
    ):
        assert (await client.post(listing, json={})).status_code == 200
    assert (await client.post("/work_pools/x/queues/filter", json={})).status_code == 200
    assert (await client.post("/work_pools/x/get_scheduled_flow_runs", json={})).status_code == 200
