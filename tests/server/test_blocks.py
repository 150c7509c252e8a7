"""Blocks on the embedded server: every block method through our clients (asyncio, trio,
sync), Prefect's answers (status codes, details, JSON keys) against the capture, and the
rules a client relies on (protected types, checksums, masking, cascades)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from prefect_trio_client.orchestration import SyncPrefectClient
from prefect_trio_client.server import create_app
from prefect_trio_client.server._routes.blocks import checksum
from tests.blocks_scenario import block_lifecycle, credentials_fields
from tests.interop.test_lifecycle import Blocking
from tests.server.helpers import assert_keys_like
from tests.server.test_names_in_paths import SETTINGS, embedded

pytestmark = pytest.mark.anyio
CAPTURE: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "captures" / "blocks.json").read_text()
)


async def test_block_lifecycle() -> None:
    async with embedded() as client:
        await block_lifecycle(client, "embedded")


def test_block_lifecycle_with_the_sync_client() -> None:
    with SyncPrefectClient(create_app(":memory:"), settings=SETTINGS) as client:
        anyio.run(block_lifecycle, Blocking(client), "sync")


def test_checksums_are_prefects() -> None:
    for key in ("POST /block_schemas/ (create_block_schema)",):
        exchange = CAPTURE[key]
        assert checksum(exchange["request_body"]["fields"]) == exchange["response_body"]["checksum"]
    nested: dict[str, Any] = {
        "properties": {"inner": {"$ref": "#/definitions/Inner"}, "b": {"$ref": "#/definitions/B"}},
        "definitions": {
            "Inner": {"type": "object", "properties": {"x": {"$ref": "#/definitions/X"}}},
            "X": {"type": "string"},
            "B": {"block_type_slug": "other"},
            "Unused": {"type": "integer"},
        },
    }
    without_blocks = {
        "properties": nested["properties"],
        "definitions": {
            "Inner": nested["definitions"]["Inner"],
            "X": nested["definitions"]["X"],
        },
    }
    assert checksum(nested) == checksum(without_blocks)
    assert checksum({"a": 1, "secret_fields": ["a"]}) == checksum({"a": 1})
    assert checksum({"a": 1}) != checksum({"a": 2})


async def _json(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_answers_have_prefects_shapes(client: httpx.AsyncClient) -> None:
    """Status codes, error details and JSON keys as the real server answered the capture."""

    def sample(key: str) -> Any:
        return CAPTURE[key]

    created = sample("POST /block_types/ (create_block_type)")
    block_type = await _json(await client.post("/block_types/", json=created["request_body"]), 201)
    assert_keys_like(block_type, created["response_body"])
    again = await client.post("/block_types/", json=created["request_body"])
    assert (again.status_code, again.json()) == (
        409,
        sample("POST /block_types/ (create_block_type conflict)")["response_body"],
    )
    missing = await client.get("/block_types/slug/no-such-type")
    assert (missing.status_code, missing.json()) == (
        404,
        sample("GET /block_types/slug/no-such-type (read_block_type_by_slug missing)")[
            "response_body"
        ],
    )

    schema_sample = sample("POST /block_schemas/ (create_block_schema)")
    body = {**schema_sample["request_body"], "block_type_id": block_type["id"]}
    schema = await _json(await client.post("/block_schemas/", json=body), 201)
    assert_keys_like(schema, schema_sample["response_body"])
    assert schema["checksum"] == schema_sample["response_body"]["checksum"]
    assert schema["fields"] == schema_sample["response_body"]["fields"]
    assert (await _json(await client.post("/block_schemas/", json=body), 200))["id"] == schema["id"]

    doc_sample = sample("POST /block_documents/ (create_block_document)")
    doc_body = {
        **doc_sample["request_body"],
        "block_type_id": block_type["id"],
        "block_schema_id": schema["id"],
    }
    document = await _json(await client.post("/block_documents/", json=doc_body), 201)
    assert_keys_like(document, doc_sample["response_body"])
    assert document["data"] == doc_sample["response_body"]["data"]
    conflict = await client.post("/block_documents/", json=doc_body)
    assert (conflict.status_code, conflict.json()) == (
        409,
        sample("POST /block_documents/ (create_block_document conflict)")["response_body"],
    )
    url = f"/block_documents/{document['id']}"
    hidden = await _json(await client.get(url, params={"include_secrets": "false"}), 200)
    assert (
        hidden["data"]
        == sample("GET /block_documents/{id} (read_block_document secrets hidden)")[
            "response_body"
        ]["data"]
    )
    shown = await _json(await client.get(url, params={"include_secrets": "true"}), 200)
    assert (
        shown["data"]
        == sample("GET /block_documents/{id} (read_block_document)")["response_body"]["data"]
    )
    assert_keys_like(
        shown, sample("GET /block_documents/{id} (read_block_document)")["response_body"]
    )
    listed = await _json(
        await client.post(
            "/block_documents/filter",
            json=sample("POST /block_documents/filter (read_block_documents)")["request_body"],
        ),
        200,
    )
    assert [d["id"] for d in listed] == [document["id"]]
    assert (await _json(await client.post("/block_documents/count", json={}), 200)) == 1

    assert (await client.delete(url)).status_code == 204
    gone = await client.delete(url)
    assert (gone.status_code, gone.json()) == (
        404,
        sample("DELETE /block_documents/{id} (delete_block_document missing)")["response_body"],
    )
    secret = await _json(await client.get("/block_types/slug/secret"), 200)
    assert secret["is_protected"] is True
    refused = await client.delete(f"/block_types/{secret['id']}")
    assert (refused.status_code, refused.json()) == (
        403,
        sample("DELETE /block_types/{id} (delete_block_type protected)")["response_body"],
    )
    type_url = f"/block_types/{block_type['id']}"
    assert (await client.delete(type_url)).status_code == 204
    gone = await client.delete(type_url)
    assert (gone.status_code, gone.json()) == (
        404,
        sample("DELETE /block_types/{id} (delete_block_type missing)")["response_body"],
    )
    missing_schema = await client.get("/block_schemas/checksum/sha256:missing")
    assert (missing_schema.status_code, missing_schema.json()) == (
        404,
        {"detail": "Block schema not found"},
    )


async def test_system_block_types_are_installed(client: httpx.AsyncClient) -> None:
    types = await _json(await client.post("/block_types/filter", json={}), 200)
    protected = {t["slug"] for t in types if t["is_protected"]}
    assert protected == {"local-file-system", "secret", "webhook"}
    schemas = await _json(await client.post("/block_schemas/filter", json={}), 200)
    assert {s["block_type"]["slug"] for s in schemas} == protected
    secret_schema = next(s for s in schemas if s["block_type"]["slug"] == "secret")
    assert secret_schema["fields"]["secret_fields"] == ["value", "value"]


async def test_filters_and_wildcard_secrets(client: httpx.AsyncClient) -> None:
    block_type = await _json(
        await client.post("/block_types/", json={"name": "Wild", "slug": "wild"}), 201
    )
    fields = {**credentials_fields("wild"), "secret_fields": ["password", "headers.*"]}
    schema = await _json(
        await client.post(
            "/block_schemas/",
            json={"fields": fields, "block_type_id": block_type["id"], "capabilities": ["x"]},
        ),
        201,
    )
    data = {"username": "u", "password": "p", "headers": {"a": "1", "b": "2"}}
    base = {"block_type_id": block_type["id"], "block_schema_id": schema["id"], "data": data}
    for name in ("b-doc", "a-doc"):
        await _json(await client.post("/block_documents/", json={**base, "name": name}), 201)
    masked = await _json(
        await client.post("/block_documents/filter", json={"sort": "NAME_DESC"}), 200
    )
    assert [d["name"] for d in masked] == ["b-doc", "a-doc"]
    assert masked[0]["data"] == {
        "username": "u",
        "password": "********",
        "headers": {"a": "********", "b": "********"},
    }
    by_capability = {"block_schemas": {"block_capabilities": {"all_": ["x"]}}}
    found = await _json(await client.post("/block_types/filter", json=by_capability), 200)
    assert [t["slug"] for t in found] == ["wild"]
    by_name = {"block_types": {"name": {"like_": "WIL"}}}
    assert [
        t["slug"] for t in await _json(await client.post("/block_types/filter", json=by_name), 200)
    ] == ["wild"]
    named = {"block_documents": {"name": {"any_": ["a-doc"]}}}
    listed = await _json(await client.post("/block_documents/filter", json=named), 200)
    assert [d["name"] for d in listed] == ["a-doc"]
    reserved = await client.post("/block_types/", json={"name": "PrefectX", "slug": "px"})
    assert (reserved.status_code, reserved.json()) == (
        403,
        {"detail": "Block type names beginning with 'Prefect' are reserved."},
    )
    unknown_type = await client.post(
        "/block_schemas/",
        json={"fields": {}, "block_type_id": "00000000-0000-0000-0000-000000000001"},
    )
    assert (unknown_type.status_code, unknown_type.json()) == (
        404,
        {"detail": "Block type 00000000-0000-0000-0000-000000000001 not found."},
    )
