"""Every block method against Prefect 3.9.1's captured exchanges (``tests/data/captures/
blocks.json``, recorded by ``tests/captures/capture_blocks.py``), on asyncio, trio and sync.

A mock transport answers with the captured response; the test asserts that our request
has the captured method, path, query and JSON body (exactly), and that the answer parses
into the documented result, or raises the documented error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from pydantic import SecretStr

from prefect_trio_client.exceptions import (
    ObjectAlreadyExists,
    ObjectNotFound,
    ProtectedBlockError,
)
from prefect_trio_client.schemas.actions import (
    BlockDocumentCreate,
    BlockDocumentUpdate,
    BlockSchemaCreate,
    BlockTypeCreate,
    BlockTypeUpdate,
)
from prefect_trio_client.schemas.objects import BlockDocument, BlockSchema, BlockType
from tests.orchestration.harness import ClientKind, call, make_client

CAPTURE_PATH = Path(__file__).parents[1] / "data" / "captures" / "blocks.json"
CAPTURE: dict[str, Any] = json.loads(CAPTURE_PATH.read_text(encoding="utf-8"))


def exchange(method: str) -> dict[str, Any]:
    """The one captured exchange of a client call (named as the capture script names it)."""
    (found,) = [x for x in CAPTURE.values() if x["client_method"] == method]
    return dict(found)


def body_of(method: str) -> Any:
    return exchange(method)["request_body"]


def last_segment(method: str, index: int = -1) -> str:
    return httpx.URL(exchange(method)["url"]).path.rstrip("/").split("/")[index]


def response_for(sample: dict[str, Any]) -> httpx.Response:
    body = sample["response_body"]
    if isinstance(body, dict) and "__list_len__" in body:
        body = [body["__first_item__"]]
    if body is None:
        return httpx.Response(sample["status_code"])
    return httpx.Response(sample["status_code"], json=body)


@dataclass
class Case:
    method: str
    capture: str
    args: Callable[[], tuple[Any, ...]]
    kwargs: dict[str, Any] = field(default_factory=dict)
    check: Callable[[Any], bool] = lambda result: True
    raises: type[Exception] | None = None


def list_of(kind: type[Any]) -> Callable[[Any], bool]:
    return lambda r: isinstance(r, list) and bool(r) and all(isinstance(x, kind) for x in r)


def document_create() -> BlockDocumentCreate:
    return BlockDocumentCreate.model_validate(body_of("create_block_document"))


CASES = [
    Case(
        "create_block_type",
        "create_block_type",
        lambda: (BlockTypeCreate.model_validate(body_of("create_block_type")),),
        check=lambda r: isinstance(r, BlockType) and r.slug == "capture-credentials",
    ),
    Case(
        "create_block_type",
        "create_block_type conflict",
        lambda: (BlockTypeCreate.model_validate(body_of("create_block_type conflict")),),
        raises=ObjectAlreadyExists,
    ),
    Case(
        "read_block_type_by_slug",
        "read_block_type_by_slug",
        lambda: ("capture-credentials",),
        check=lambda r: isinstance(r, BlockType) and not r.is_protected,
    ),
    Case(
        "read_block_type_by_slug",
        "read_block_type_by_slug missing",
        lambda: ("no-such-type",),
        raises=ObjectNotFound,
    ),
    Case(
        "update_block_type",
        "update_block_type",
        lambda: (
            UUID(last_segment("update_block_type")),
            BlockTypeUpdate.model_validate(body_of("update_block_type")),
        ),
        check=lambda r: r is None,
    ),
    Case("read_block_types", "read_block_types", tuple, check=list_of(BlockType)),
    Case(
        "create_block_schema",
        "create_block_schema",
        lambda: (BlockSchemaCreate.model_validate(body_of("create_block_schema")),),
        check=lambda r: isinstance(r, BlockSchema) and r.version == "1.0.0",
    ),
    Case(
        "create_block_schema",
        "create_block_schema again",
        lambda: (BlockSchemaCreate.model_validate(body_of("create_block_schema again")),),
        check=lambda r: isinstance(r, BlockSchema),
    ),
    Case("read_block_schemas", "read_block_schemas", tuple, check=list_of(BlockSchema)),
    Case(
        "read_block_schema_by_checksum",
        "read_block_schema_by_checksum",
        lambda: (last_segment("read_block_schema_by_checksum"),),
        check=lambda r: isinstance(r, BlockSchema),
    ),
    Case(
        "read_block_schema_by_checksum",
        "read_block_schema_by_checksum version",
        lambda: (last_segment("read_block_schema_by_checksum version"),),
        kwargs={"version": "1.0.0"},
        check=lambda r: isinstance(r, BlockSchema) and r.version == "1.0.0",
    ),
    Case(
        "read_block_schema_by_checksum",
        "read_block_schema_by_checksum missing",
        lambda: ("sha256:missing",),
        raises=ObjectNotFound,
    ),
    Case(
        "get_most_recent_block_schema_for_block_type",
        "get_most_recent_block_schema_for_block_type",
        lambda: (
            UUID(
                body_of("get_most_recent_block_schema_for_block_type")["block_schemas"][
                    "block_type_id"
                ]["any_"][0]
            ),
        ),
        check=lambda r: isinstance(r, BlockSchema),
    ),
    Case(
        "create_block_document",
        "create_block_document",
        lambda: (document_create(),),
        check=lambda r: isinstance(r, BlockDocument) and r.data["password"] == "********",
    ),
    Case(
        "create_block_document",
        "create_block_document conflict",
        lambda: (BlockDocumentCreate.model_validate(body_of("create_block_document conflict")),),
        raises=ObjectAlreadyExists,
    ),
    Case(
        "read_block_document",
        "read_block_document",
        lambda: (UUID(last_segment("read_block_document")),),
        check=lambda r: isinstance(r, BlockDocument) and r.data["password"] == "hunter22",
    ),
    Case(
        "read_block_document",
        "read_block_document secrets hidden",
        lambda: (UUID(last_segment("read_block_document secrets hidden")),),
        kwargs={"include_secrets": False},
        check=lambda r: isinstance(r, BlockDocument) and r.data["password"] == "********",
    ),
    Case(
        "read_block_document_by_name",
        "read_block_document_by_name",
        lambda: ("capture-doc", "capture-credentials"),
        check=lambda r: isinstance(r, BlockDocument) and r.name == "capture-doc",
    ),
    Case(
        "read_block_document_by_name",
        "read_block_document_by_name secrets hidden",
        lambda: ("capture-doc", "capture-credentials"),
        kwargs={"include_secrets": False},
        check=lambda r: isinstance(r, BlockDocument) and r.data["password"] == "********",
    ),
    Case("read_block_documents", "read_block_documents", tuple, check=list_of(BlockDocument)),
    Case(
        "read_block_documents",
        "read_block_documents paged",
        tuple,
        kwargs={
            "block_schema_type": "capture-credentials",
            "offset": 0,
            "limit": 5,
            "include_secrets": False,
        },
        check=list_of(BlockDocument),
    ),
    Case(
        "read_block_documents_by_type",
        "read_block_documents_by_type",
        lambda: ("capture-credentials",),
        check=list_of(BlockDocument),
    ),
    Case(
        "read_block_documents_by_type",
        "read_block_documents_by_type paged",
        lambda: ("capture-credentials",),
        kwargs={"offset": 0, "limit": 5, "include_secrets": False},
        check=list_of(BlockDocument),
    ),
    Case(
        "update_block_document",
        "update_block_document",
        lambda: (
            UUID(last_segment("update_block_document")),
            BlockDocumentUpdate(data={"username": "arthur"}),
        ),
        check=lambda r: r is None,
    ),
    Case(
        "update_block_document",
        "update_block_document replace",
        lambda: (
            UUID(last_segment("update_block_document replace")),
            BlockDocumentUpdate(
                data={"username": "ford", "password": SecretStr("towel42")},
                merge_existing_data=False,
            ),
        ),
        check=lambda r: r is None,
    ),
    Case(
        "delete_block_document",
        "delete_block_document",
        lambda: (UUID(last_segment("delete_block_document")),),
        check=lambda r: r is None,
    ),
    Case(
        "delete_block_document",
        "delete_block_document missing",
        lambda: (UUID(last_segment("delete_block_document missing")),),
        raises=ObjectNotFound,
    ),
    Case(
        "delete_block_type",
        "delete_block_type",
        lambda: (UUID(last_segment("delete_block_type")),),
        check=lambda r: r is None,
    ),
    Case(
        "delete_block_type",
        "delete_block_type missing",
        lambda: (UUID(last_segment("delete_block_type missing")),),
        raises=ObjectNotFound,
    ),
]
# The protected type's DELETE shares its capture name with the slug read before it.
PROTECTED = next(
    x
    for x in CAPTURE.values()
    if x["client_method"] == "delete_block_type protected" and x["method"] == "DELETE"
)


def assert_sent(request: httpx.Request, sample: dict[str, Any]) -> None:
    captured = httpx.URL(sample["url"])
    assert request.method == sample["method"]
    assert request.url.path == captured.path
    assert dict(request.url.params) == dict(captured.params)
    if sample["request_body"] is None:
        assert request.content == b""
    else:
        assert json.loads(request.content) == sample["request_body"]


@pytest.mark.anyio
@pytest.mark.parametrize("case", CASES, ids=[case.capture for case in CASES])
async def test_method_matches_the_captured_exchange(kind: ClientKind, case: Case) -> None:
    sample = exchange(case.capture)
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return response_for(sample)

    async with make_client(kind, answer) as client:
        if case.raises is not None:
            with pytest.raises(case.raises):
                await call(client, case.method, *case.args(), **case.kwargs)
        else:
            result = await call(client, case.method, *case.args(), **case.kwargs)
            assert case.check(result), f"{case.method} returned {result!r}"
    assert len(sent) == 1
    assert_sent(sent[0], sample)


@pytest.mark.anyio
async def test_deleting_a_protected_block_type_raises_protected_block_error(
    kind: ClientKind,
) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return response_for(PROTECTED)

    block_type_id = UUID(httpx.URL(PROTECTED["url"]).path.rsplit("/", 1)[-1])
    async with make_client(kind, answer) as client:
        with pytest.raises(ProtectedBlockError) as info:
            await call(client, "delete_block_type", block_type_id)
    assert info.value.__cause__ is not None
    assert_sent(sent[0], PROTECTED)


@pytest.mark.anyio
async def test_another_403_stays_an_http_error(kind: ClientKind) -> None:
    from prefect_trio_client.exceptions import PrefectHTTPStatusError

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"detail": "Forbidden by policy"})

    async with make_client(kind, answer) as client:
        with pytest.raises(PrefectHTTPStatusError) as info:
            await call(client, "delete_block_type", UUID(int=1))
    assert not isinstance(info.value, ProtectedBlockError)
    assert info.value.status_code == 403


@pytest.mark.anyio
async def test_secrets_are_sent_revealed_or_masked(kind: ClientKind) -> None:
    bodies: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return response_for(exchange("create_block_document"))

    create = document_create().model_copy(
        update={"data": {"username": "marvin", "password": SecretStr("hunter22")}}
    )
    async with make_client(kind, answer) as client:
        await call(client, "create_block_document", create)
        await call(client, "create_block_document", create, include_secrets=False)
        read = BlockDocument.model_validate(exchange("create_block_document")["response_body"])
        await call(client, "create_block_document", read)
    assert bodies[0] == body_of("create_block_document")
    assert bodies[1]["data"] == {"username": "marvin", "password": "********"}
    assert bodies[2] == {
        "name": "capture-doc",
        "data": {"username": "marvin", "password": "********"},
        "block_schema_id": str(read.block_schema_id),
        "block_type_id": str(read.block_type_id),
        "is_anonymous": False,
    }


def test_every_block_method_has_a_case() -> None:
    methods = json.loads(
        (Path(__file__).parents[1] / "data" / "prefect-client-methods.json").read_text()
    )
    block_methods = {m for m in methods["async"] if "block" in m}
    assert block_methods == {case.method for case in CASES}
