"""The embedded server's tag (v1) limits, global slots without a lease, and deployment
schedules and pausing: the shapes, codes and details a real Prefect 3.9.1 server gave
(``tests/data/captures/limits_deployments.json``), and the interop scenario run against
the embedded server with every client kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pydantic import TypeAdapter

from prefect_trio_client.orchestration import _ephemeral, get_client
from prefect_trio_client.schemas.objects import SCHEDULE_TYPES
from prefect_trio_client.settings import ClientSettings
from tests.interop.test_lifecycle import Blocking
from tests.interop.test_limits_deployments import limits_and_deployments
from tests.server.helpers import FakeClock, assert_keys_like

pytestmark = pytest.mark.anyio

CAPTURE = Path(__file__).parents[1] / "data" / "captures" / "limits_deployments.json"
EXCHANGES: dict[str, dict[str, Any]] = json.loads(CAPTURE.read_text(encoding="utf-8"))


def captured(label: str, method: str = "") -> dict[str, Any]:
    (found,) = [
        x
        for x in EXCHANGES.values()
        if x["client_method"] == label and x["method"].startswith(method)
    ]
    return found


def assert_answers_as_captured(response: httpx.Response, label: str, method: str = "") -> None:
    """Same status; same keys (or the same detail, for a refusal) as Prefect's answer."""
    sample = captured(label, method)
    assert response.status_code == sample["status_code"], response.text
    theirs = sample["response_body"]
    if response.status_code >= 400:
        assert response.json() == theirs
    elif theirs is None:
        assert response.content in (b"", b"null")
    else:
        assert_keys_like(response.json(), theirs)


# --------------------------------------------------------------------------- all methods


@pytest.fixture
def embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    """get_client() without a URL serves a fresh embedded app."""
    monkeypatch.setattr(_ephemeral, "_apps", {})
    database = _ephemeral.ephemeral_database(ClientSettings())
    _ephemeral._apps[str(database)] = _ephemeral.ephemeral_app(database)


@pytest.mark.usefixtures("embedded")
async def test_the_interop_scenario_on_the_embedded_server() -> None:
    async with get_client() as client:
        await limits_and_deployments(client, "embedded")


@pytest.mark.usefixtures("embedded")
async def test_the_interop_scenario_with_the_sync_client() -> None:
    with get_client(sync_client=True) as client:
        await limits_and_deployments(Blocking(client), "embedded-sync")


# --------------------------------------------------------------------------- tag limits


async def _tag(client: httpx.AsyncClient, tag: str = "etl", limit: int = 1) -> httpx.Response:
    return await client.post("/concurrency_limits/", json={"tag": tag, "concurrency_limit": limit})


async def _take(client: httpx.AsyncClient, run: Any, *tags: str) -> httpx.Response:
    body = {"names": list(tags or ["etl"]), "task_run_id": str(run)}
    return await client.post("/concurrency_limits/increment", json=body)


async def _holders(client: httpx.AsyncClient, tag: str = "etl") -> list[str]:
    holders: list[str] = (await client.get(f"/concurrency_limits/tag/{tag}")).json()["active_slots"]
    return holders


async def test_tag_limits_answer_as_prefect(client: httpx.AsyncClient) -> None:
    tag = captured("create_concurrency_limit")["request_body"]["tag"]  # details name it
    url = f"/concurrency_limits/tag/{tag}"
    assert_answers_as_captured(await _tag(client, tag), "create_concurrency_limit")
    again = await _tag(client, tag, limit=2)
    assert_answers_as_captured(again, "create_concurrency_limit again (an upsert)")
    read = await client.get(url)
    assert_answers_as_captured(read, "read_concurrency_limit_by_tag")
    assert read.json()["concurrency_limit"] == 2
    listed = await client.post("/concurrency_limits/filter", json={"limit": 10, "offset": 0})
    assert_answers_as_captured(listed, "read_concurrency_limits")
    run = uuid4()
    assert_answers_as_captured(await _take(client, run, tag), "increment_v1_concurrency_slots")
    assert (await _take(client, run, tag)).json()[0]["name"] == tag
    full = await _take(client, uuid4(), tag)
    assert_answers_as_captured(full, "increment_v1_concurrency_slots when full")
    assert full.headers["Retry-After"] == "10.0"
    body = {"names": [tag], "task_run_id": str(run), "occupancy_seconds": 1.5}
    freed = await client.post("/concurrency_limits/decrement", json=body)
    assert_answers_as_captured(freed, "decrement_v1_concurrency_slots")
    assert freed.json()[0]["name"] == f"tag:{tag}"
    assert await _holders(client, tag) == []  # both slots of the run are given back
    reset = await client.post(f"{url}/reset", json={"slot_override": None})
    assert_answers_as_captured(reset, "reset_concurrency_limit_by_tag")
    assert_answers_as_captured(await client.delete(url), "delete_concurrency_limit_by_tag")
    for response, label in [
        (await client.get(url), "read_concurrency_limit_by_tag"),
        (await client.delete(url), "delete_concurrency_limit_by_tag"),
        (await client.post(f"{url}/reset", json={}), "reset_concurrency_limit_by_tag"),
    ]:
        assert_answers_as_captured(response, f"{label} of an unknown tag")


async def test_a_tag_limit_is_a_global_limit_named_after_the_tag(
    client: httpx.AsyncClient,
) -> None:
    created = (await _tag(client, limit=3)).json()
    read = (await client.get("/v2/concurrency_limits/tag:etl")).json()
    assert (read["id"], read["limit"]) == (created["id"], 3)
    await client.post("/v2/concurrency_limits/", json={"name": "plain", "limit": 1})
    listed = await client.post("/concurrency_limits/filter", json={})
    assert [x["tag"] for x in listed.json()] == ["etl"]  # only the tag limits
    await _take(client, uuid4())
    assert (await client.get("/v2/concurrency_limits/tag:etl")).json()["active_slots"] == 1


async def test_a_run_takes_every_tag_at_once_or_none(client: httpx.AsyncClient) -> None:
    await _tag(client, "a", 2)
    await _tag(client, "b", 1)
    first, second = uuid4(), uuid4()
    taken = await _take(client, first, "a", "b", "unlimited")
    assert [x["name"] for x in taken.json()] == ["a", "b"]
    refused = await _take(client, second, "a", "b")
    assert refused.status_code == 423
    assert "the b tag" in refused.json()["detail"]
    assert await _holders(client, "a") == [str(first)]  # "a" was not taken either
    body = {"names": ["b"], "task_run_id": str(first)}
    await client.post("/concurrency_limits/decrement", json=body)
    assert await _holders(client, "a") == []  # one lease: both slots are given back
    assert (await _take(client, second, "a", "b")).status_code == 200


async def test_a_zero_tag_limit_would_deadlock(client: httpx.AsyncClient) -> None:
    await _tag(client, limit=0)
    refused = await _take(client, uuid4())
    assert refused.status_code == 423
    assert refused.json() == {
        "detail": 'The concurrency limit on tag "etl" is 0 and will deadlock if the task'
        " tries to run again."
    }


async def test_a_reset_frees_the_slots_and_gives_the_override_theirs(
    client: httpx.AsyncClient,
) -> None:
    await _tag(client, limit=1)
    holder, listed = uuid4(), [uuid4(), uuid4()]
    await _take(client, holder)
    overridden = {"slot_override": [str(run) for run in listed]}
    assert (await client.post("/concurrency_limits/tag/etl/reset", json=overridden)).json() is None
    # The override is trusted past the limit, as in Prefect.
    assert sorted(await _holders(client)) == sorted(str(run) for run in listed)
    await client.post("/concurrency_limits/tag/etl/reset")
    assert await _holders(client) == []
    # Unlike Prefect 3.9.1, whose reset revokes leases without giving their slots back,
    # the freed slots can be taken again.
    assert (await client.get("/v2/concurrency_limits/tag:etl")).json()["active_slots"] == 0
    assert (await _take(client, uuid4())).status_code == 200


async def test_v1_slots_do_not_expire(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await _tag(client)
    run = uuid4()
    await _take(client, run)
    clock.advance(60 * 60 * 24 * 365)
    assert await _holders(client) == [str(run)]


# --------------------------------------------------------------------------- global slots


async def _limit(client: httpx.AsyncClient, **fields: Any) -> None:
    body = {"name": "gcl", "limit": 2, **fields}
    assert (await client.post("/v2/concurrency_limits/", json=body)).status_code == 201


async def _slots(client: httpx.AsyncClient, path: str, **fields: Any) -> httpx.Response:
    body = {"names": ["gcl"], "slots": 1, **fields}
    return await client.post(f"/v2/concurrency_limits/{path}", json=body)


async def _active(client: httpx.AsyncClient) -> int:
    active: int = (await client.get("/v2/concurrency_limits/gcl")).json()["active_slots"]
    return active


async def test_slots_without_a_lease_answer_as_prefect(client: httpx.AsyncClient) -> None:
    await _limit(client)
    listed = await client.post("/v2/concurrency_limits/filter", json={"limit": 10, "offset": 0})
    assert_answers_as_captured(listed, "read_global_concurrency_limits")
    changed = await client.patch("/v2/concurrency_limits/gcl", json={"limit": 2})
    assert_answers_as_captured(changed, "update_global_concurrency_limit")
    taken = await _slots(client, "increment", slots=2, mode="concurrency")
    assert_answers_as_captured(taken, "increment_concurrency_slots")
    assert await _active(client) == 2
    locked = await _slots(client, "increment")
    assert_answers_as_captured(locked, "increment_concurrency_slots when full")
    assert float(locked.headers["Retry-After"]) > 0
    released = await _slots(client, "decrement", slots=2, occupancy_seconds=1.5)
    assert_answers_as_captured(released, "release_concurrency_slots")
    assert await _active(client) == 0
    nothing = await client.post(
        "/v2/concurrency_limits/decrement",
        json={"names": ["missing"], "slots": 1, "occupancy_seconds": 1.5},
    )
    assert_answers_as_captured(nothing, "release_concurrency_slots of unknown names")
    unknown = await client.patch("/v2/concurrency_limits/gcl-missing", json={"limit": 2})
    assert_answers_as_captured(unknown, "update_global_concurrency_limit of an unknown name")


async def test_slots_without_a_lease_are_checked_as_with_one(client: httpx.AsyncClient) -> None:
    await _limit(client)
    too_many = await _slots(client, "increment", slots=3)
    assert (too_many.status_code, too_many.json()) == (
        422,
        {"detail": "Slots requested is greater than the limit"},
    )
    not_a_rate = await _slots(client, "increment", mode="rate_limit")
    assert not_a_rate.status_code == 422
    assert "do not have a decay configured: 'gcl'" in not_a_rate.json()["detail"]
    assert (await _slots(client, "increment", slots=0)).status_code == 422
    assert (await _slots(client, "decrement", occupancy_seconds=0)).status_code == 422
    assert await _active(client) == 0
    assert (await _slots(client, "decrement")).status_code == 200
    assert await _active(client) == 0  # never below zero


async def test_an_inactive_limit_takes_no_slots(client: httpx.AsyncClient) -> None:
    await _limit(client, active=False)
    taken = await _slots(client, "increment", slots=2)
    assert [x["name"] for x in taken.json()] == ["gcl"]
    assert await _active(client) == 0


async def test_rate_limit_slots_decay(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await _limit(client, slot_decay_per_second=1.0)
    assert (await _slots(client, "increment", slots=2, mode="rate_limit")).status_code == 200
    assert (await _slots(client, "increment", mode="rate_limit")).status_code == 423
    clock.advance(1)
    assert (await _slots(client, "increment", mode="rate_limit")).status_code == 200


# --------------------------------------------------------------------------- schedules


async def _deployment(client: httpx.AsyncClient) -> str:
    flow = (await client.post("/flows/", json={"name": "f"})).json()
    body = {"name": "d", "flow_id": flow["id"]}
    deployment_id: str = (await client.post("/deployments/", json=body)).json()["id"]
    return deployment_id


def _schedule(item: dict[str, Any]) -> Any:
    """A schedule as a model: the same instant may be written with or without µs."""
    return TypeAdapter(SCHEDULE_TYPES).validate_python(item["schedule"])


async def test_schedules_answer_as_prefect(client: httpx.AsyncClient, clock: FakeClock) -> None:
    deployment = await _deployment(client)
    url = f"/deployments/{deployment}/schedules"
    sent = captured("create_deployment_schedules (tuples)")["request_body"]
    first = await client.post(url, json=sent)
    assert_answers_as_captured(first, "create_deployment_schedules (tuples)")
    assert _schedule(first.json()[0]) == _schedule(sent[0])
    clock.advance(1)
    second = await client.post(url, json=captured("create_deployment_schedules")["request_body"])
    assert_answers_as_captured(second, "create_deployment_schedules")
    taken = await client.post(
        url, json=captured("create_deployment_schedules with a taken slug")["request_body"]
    )
    assert_answers_as_captured(taken, "create_deployment_schedules with a taken slug")
    listed = await client.get(url)
    assert_answers_as_captured(listed, "read_deployment_schedules")
    assert [s["slug"] for s in listed.json()] == ["mornings", "hourly"]  # newest first

    schedule_id = first.json()[0]["id"]
    clock.advance(1)
    update = captured("update_deployment_schedule")["request_body"]
    changed = await client.patch(f"{url}/{schedule_id}", json=update)
    assert_answers_as_captured(changed, "update_deployment_schedule")
    clock.advance(1)
    label = "update_deployment_schedule active only"
    again = await client.patch(f"{url}/{schedule_id}", json=captured(label)["request_body"])
    assert_answers_as_captured(again, label)
    # What Prefect showed after both: the second cleared `parameters`, as it sent none.
    after = (await client.get(url)).json()
    theirs = captured("read_deployment_schedules after an update")["response_body"]
    assert [s["slug"] for s in after] == [s["slug"] for s in theirs]
    assert _schedule(after[0]) == _schedule(theirs[0])
    assert {k: after[0][k] for k in update if k != "schedule"} == {
        k: theirs[0][k] for k in update if k != "schedule"
    }
    renamed = await client.patch(f"{url}/{schedule_id}", json={"slug": "mornings"})
    assert (renamed.status_code, renamed.json()["detail"]) == (409, taken.json()["detail"])
    unknown = await client.patch(f"{url}/{uuid4()}", json={"active": True})
    assert_answers_as_captured(unknown, "update_deployment_schedule of an unknown schedule")

    deleted = await client.delete(f"{url}/{schedule_id}")
    assert_answers_as_captured(deleted, "delete_deployment_schedule")
    gone = await client.delete(f"{url}/{schedule_id}")
    assert_answers_as_captured(gone, "delete_deployment_schedule of an unknown schedule")
    read = (await client.get(f"/deployments/{deployment}")).json()
    assert [s["slug"] for s in read["schedules"]] == ["mornings"]
    missing = await client.get(f"/deployments/{uuid4()}/schedules")
    assert_answers_as_captured(missing, "read_deployment_schedules of an unknown deployment")
    assert (await client.post(f"/deployments/{uuid4()}/schedules", json=[])).status_code == 404
    assert (await client.post(url, json=[{"active": True}])).status_code == 422


async def test_pausing_answers_as_prefect(client: httpx.AsyncClient) -> None:
    deployment = await _deployment(client)
    paused = await client.patch(f"/deployments/{deployment}", json={"paused": True})
    assert_answers_as_captured(paused, "pause_deployment")
    read = (await client.get(f"/deployments/{deployment}")).json()
    assert set(read) >= set(captured("read_deployment after pause")["response_body"])
    assert read["paused"] is True
    unknown = await client.patch(f"/deployments/{uuid4()}", json={"paused": True})
    assert_answers_as_captured(unknown, "pause_deployment of an unknown deployment")


async def test_branches_and_slas_are_not_served_as_on_an_oss_server(
    client: httpx.AsyncClient,
) -> None:
    deployment = await _deployment(client)
    branch = captured("create_deployment_branch")
    answer = await client.post(f"/deployments/{deployment}/branch", json=branch["request_body"])
    assert_answers_as_captured(answer, "create_deployment_branch")
    slas = captured("apply_slas_for_deployment")
    applied = await client.post(
        f"/slas/apply-resource-slas/prefect.deployment.{deployment}", json=slas["request_body"]
    )
    assert_answers_as_captured(applied, "apply_slas_for_deployment")
