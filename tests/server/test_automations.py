"""Automations on the embedded server: the routes as Prefect's server answers them, and
every client method end to end (the interop scenario, run here against the embedded app)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from prefect_trio_client.schemas.automations import Automation
from prefect_trio_client.testing import embedded_api
from tests.captures.loaded import load_captures
from tests.interop.test_automations import automations_lifecycle
from tests.interop.test_lifecycle import Blocking
from tests.server.helpers import FakeClock, assert_keys_like

pytestmark = pytest.mark.anyio

CAPTURES = load_captures("automations")


def captured(key: str) -> dict[str, Any]:
    exchange: dict[str, Any] = CAPTURES[key]
    return exchange


CREATE = captured("POST /automations/ (create_automation)")
COMPOUND = captured("POST /automations/ (create_automation compound)")
SEQUENCE = captured("POST /automations/ (create_automation sequence)")
OWNER = CREATE["request_body"]["owner_resource"]
NOT_FOUND = {"exception_message": "Automation not found"}


async def _create(client: httpx.AsyncClient, body: dict[str, Any], **changes: Any) -> str:
    response = await client.post("/automations/", json={**body, **changes})
    assert response.status_code == 201, response.text
    automation_id: str = response.json()["id"]
    return automation_id


async def test_every_client_method_async() -> None:
    async with embedded_api() as api, api.client() as client:
        await automations_lifecycle(client, "embedded")


async def test_every_client_method_sync() -> None:
    with embedded_api() as api, api.sync_client() as client:
        await automations_lifecycle(Blocking(client), "sync-embedded")


@pytest.mark.parametrize(
    "exchange", [CREATE, COMPOUND, SEQUENCE], ids=["event", "compound", "sequence"]
)
async def test_create_answers_as_prefect(
    client: httpx.AsyncClient, exchange: dict[str, Any]
) -> None:
    response = await client.post("/automations/", json=exchange["request_body"])
    assert response.status_code == exchange["status_code"] == 201
    ours, theirs = response.json(), exchange["response_body"]
    assert_keys_like(ours, theirs)
    assert set(ours) == set(theirs)  # no owner_resource, nothing else of ours
    volatile = {"id", "created", "updated", "trigger", "actions_on_trigger"}
    assert {k: v for k, v in ours.items() if k not in volatile} == {
        k: v for k, v in theirs.items() if k not in volatile
    }
    Automation.model_validate(ours)


async def test_trigger_ids_are_fresh_on_every_create_and_replace(
    client: httpx.AsyncClient,
) -> None:
    body = COMPOUND["request_body"]
    given = {**body, "trigger": {**body["trigger"], "id": str(uuid.uuid4())}}
    automation_id = await _create(client, given)
    first = (await client.get(f"/automations/{automation_id}")).json()["trigger"]
    ids = [first["id"], *(t["id"] for t in first["triggers"])]
    assert given["trigger"]["id"] not in ids
    assert len(set(ids)) == 3
    without_owner = {k: v for k, v in body.items() if k != "owner_resource"}
    assert (
        await client.put(f"/automations/{automation_id}", json=without_owner)
    ).status_code == 204
    again = (await client.get(f"/automations/{automation_id}")).json()["trigger"]
    assert again["id"] not in ids


async def test_missing_automations_answer_404(client: httpx.AsyncClient) -> None:
    missing = f"/automations/{uuid.uuid4()}"
    body = {k: v for k, v in SEQUENCE["request_body"].items() if k != "owner_resource"}
    for response in [
        await client.get(missing),
        await client.delete(missing),
        await client.patch(missing, json={"enabled": False}),
        await client.put(missing, json=body),
    ]:
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert captured("GET /automations/{id} (read_automation missing)")["response_body"] == NOT_FOUND


async def test_a_replace_keeps_what_it_does_not_give(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    automation_id = await _create(client, CREATE["request_body"])
    clock.advance(5)
    minimal = {"name": "renamed", "trigger": {"type": "event"}, "actions": [{"type": "do-nothing"}]}
    assert (await client.put(f"/automations/{automation_id}", json=minimal)).status_code == 204
    after = (await client.get(f"/automations/{automation_id}")).json()
    assert (after["name"], after["actions"]) == ("renamed", [{"type": "do-nothing"}])
    assert after["description"] == CREATE["request_body"]["description"]
    assert after["tags"] == CREATE["request_body"]["tags"]
    assert after["trigger"]["expect"] == []  # the trigger given replaces the old one
    assert after["updated"] > after["created"]


async def test_a_replace_refuses_an_owner_and_an_id(client: httpx.AsyncClient) -> None:
    automation_id = await _create(client, SEQUENCE["request_body"])
    without_owner = {k: v for k, v in SEQUENCE["request_body"].items() if k != "owner_resource"}
    for extra in ({"owner_resource": OWNER}, {"id": automation_id}):
        body = {**without_owner, **extra}
        response = await client.put(f"/automations/{automation_id}", json=body)
        assert response.status_code == 422
        [error] = response.json()["exception_detail"]
        assert (error["type"], error["loc"]) == ("extra_forbidden", ["body", next(iter(extra))])


async def test_pause_and_resume(client: httpx.AsyncClient) -> None:
    automation_id = await _create(client, CREATE["request_body"])
    path = f"/automations/{automation_id}"
    assert (await client.patch(path, json={"enabled": False})).status_code == 204
    assert (await client.get(path)).json()["enabled"] is False
    assert (await client.patch(path, json={})).status_code == 204  # enabled defaults to true
    assert (await client.get(path)).json()["enabled"] is True
    refused = await client.patch(path, json={"enabled": False, "name": "x"})
    assert refused.status_code == 422
    assert (await client.patch(path)).status_code == 422  # a body is required


async def test_what_the_open_source_server_refuses(client: httpx.AsyncClient) -> None:
    metric = captured("POST /automations/ (create_automation metric)")
    response = await client.post("/automations/", json=metric["request_body"])
    assert response.status_code == metric["status_code"] == 422
    assert response.json()["exception_detail"][0]["loc"][:2] == ["body", "trigger"]
    base = CREATE["request_body"]
    for actions in ([{"type": "declare-incident"}], [{"type": "zap", "x": 1}]):
        refused = await client.post("/automations/", json={**base, "actions": actions})
        assert refused.status_code == 422
        assert refused.json()["exception_detail"][0]["loc"] == ["body", "actions", 0, "type"]
    nested = {
        **COMPOUND["request_body"],
        "trigger": {
            **COMPOUND["request_body"]["trigger"],
            "triggers": [metric["request_body"]["trigger"]],
            "require": 1,
        },
    }
    refused = await client.post("/automations/", json=nested)
    assert refused.json()["exception_detail"][0]["loc"] == [
        "body",
        "trigger",
        "triggers",
        0,
        "type",
    ]
    typo = await client.post("/automations/", json={**base, "enable": False})
    assert typo.status_code == 422
    bad_trigger = await client.post(
        "/automations/", json={**base, "trigger": {"type": "event", "threshold": "x"}}
    )
    assert bad_trigger.status_code == 422
    assert (await client.post("/automations/filter", json={})).json() == []


async def test_filter_sort_page_and_count(client: httpx.AsyncClient, clock: FakeClock) -> None:
    ids = {}
    for name, tags in (("b", ["x"]), ("a", ["x", "y"]), ("c", [])):
        ids[name] = await _create(client, SEQUENCE["request_body"], name=name, tags=tags)
        clock.advance(1)

    async def names(body: dict[str, Any]) -> list[str]:
        response = await client.post("/automations/filter", json=body)
        assert response.status_code == 200
        return [a["name"] for a in response.json()]

    assert await names({}) == ["a", "b", "c"]  # NAME_ASC by default
    assert await names(
        captured("POST /automations/filter (read_automations all)")["request_body"]
    ) == [
        "a",
        "b",
        "c",
    ]
    assert await names({"sort": "NAME_DESC", "limit": 2, "offset": 0}) == ["c", "b"]
    assert await names({"sort": "CREATED_DESC"}) == ["c", "a", "b"]
    assert await names({"sort": "NAME_ASC", "offset": 1, "limit": 1}) == ["b"]
    assert await names({"automations": {"tags": {"any_": ["x"]}}}) == ["a", "b"]
    assert await names({"automations": {"tags": {"all_": ["x", "y"]}}}) == ["a"]
    assert await names({"automations": {"tags": {"is_null_": True}}}) == ["c"]
    assert await names({"automations": {"name": {"any_": ["c", "b"]}}}) == ["b", "c"]
    assert await names({"automations": {"id": {"any_": [ids["a"]]}}}) == ["a"]
    first_created = (await client.get(f"/automations/{ids['b']}")).json()["created"]
    assert await names({"automations": {"created": {"before_": first_created}}}) == ["b"]
    await client.patch(f"/automations/{ids['b']}", json={"enabled": False})
    assert (await names({"sort": "UPDATED_DESC"}))[0] == "b"
    count = await client.post("/automations/count", json={"automations": {"tags": {"any_": ["x"]}}})
    assert count.json() == 2
    assert (await client.post("/automations/filter", json={"sort": "NOPE"})).status_code == 422


async def test_related_and_owned_resources(client: httpx.AsyncClient) -> None:
    body = CREATE["request_body"]
    deployment = f"prefect.deployment.{body['actions'][0]['deployment_id']}"
    assert deployment == OWNER  # owner and selected deployment: one relation, owned
    owned_id = await _create(client, body)
    selecting_id = await _create(client, body, owner_resource=None)
    other_id = await _create(client, SEQUENCE["request_body"], owner_resource="prefect.flow.x")

    related = await client.get(f"/automations/related-to/{OWNER}")
    assert related.status_code == 200
    assert [a["id"] for a in related.json()] == [owned_id, selecting_id]
    assert_keys_like(
        related.json(),
        captured(f"GET /automations/related-to/{OWNER} (read_resource_related_automations)")[
            "response_body"
        ],
    )
    assert (await client.get("/automations/related-to/prefect.deployment.none")).json() == []

    gone = await client.delete(f"/automations/owned-by/{OWNER}")
    assert (gone.status_code, gone.json()) == (202, None)
    assert (await client.get(f"/automations/{owned_id}")).status_code == 404
    assert (await client.get(f"/automations/{selecting_id}")).status_code == 200  # not owned
    assert (await client.get(f"/automations/{other_id}")).status_code == 200
    again = await client.delete(f"/automations/owned-by/{OWNER}")
    assert again.status_code == 202

    # a replace drops the deployments its new actions no longer select
    selecting = {k: v for k, v in body.items() if k != "owner_resource"}
    await client.put(f"/automations/{selecting_id}", json={**selecting, "actions": []})
    assert (await client.get(f"/automations/related-to/{OWNER}")).json() == []
    assert (await client.delete(f"/automations/{selecting_id}")).status_code == 204
    assert (await client.delete(f"/automations/{selecting_id}")).status_code == 404
