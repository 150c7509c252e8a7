"""Block endpoints: block types, their schemas, and block documents (saved blocks).

A block document's secret values (the fields its schema lists in ``secret_fields``) are
masked by the server on every read unless ``include_secrets`` is true; these methods ask
for them by default, as Prefect's client does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from pydantic_core import to_jsonable_python

from prefect_trio_client.exceptions import PrefectHTTPStatusError, ProtectedBlockError
from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import body, parse, parse_list, url_path
from prefect_trio_client.schemas.actions import (
    BlockDocumentCreate,
    BlockDocumentUpdate,
    BlockSchemaCreate,
    BlockTypeCreate,
    BlockTypeUpdate,
)
from prefect_trio_client.schemas.objects import BlockDocument, BlockSchema, BlockType

__all__ = [
    "create_block_document",
    "create_block_schema",
    "create_block_type",
    "delete_block_document",
    "delete_block_type",
    "get_most_recent_block_schema_for_block_type",
    "read_block_document",
    "read_block_document_by_name",
    "read_block_documents",
    "read_block_documents_by_type",
    "read_block_schema_by_checksum",
    "read_block_schemas",
    "read_block_type_by_slug",
    "read_block_types",
    "update_block_document",
    "update_block_type",
]

_MASK = "********"
"""What a secret value is sent as when `include_secrets` is false (Prefect's mask)."""

_PROTECTED_DELETE = "protected block types cannot be deleted."


# --------------------------------------------------------------------------- block types


def create_block_type(block_type: BlockTypeCreate) -> Plan[BlockType]:
    """Raises `ObjectAlreadyExists` for a taken name or slug; names that start with
    "Prefect" are reserved (the server answers 403)."""
    response = yield Request("POST", "/block_types/", json=body(block_type))
    return parse(BlockType, response)


def read_block_type_by_slug(slug: str) -> Plan[BlockType]:
    """Raises `ObjectNotFound` for an unknown slug."""
    response = yield Request("GET", url_path("block_types", "slug", slug))
    return parse(BlockType, response)


def read_block_types() -> Plan[list[BlockType]]:
    """Every block type, by name."""
    response = yield Request("POST", "/block_types/filter", json={}, idempotent=True)
    return parse_list(BlockType, response)


def update_block_type(block_type_id: UUID, block_type: BlockTypeUpdate) -> Plan[None]:
    """Change the fields set on `block_type`. Raises `ObjectNotFound` for an unknown id."""
    yield Request("PATCH", url_path("block_types", block_type_id), json=body(block_type))


def delete_block_type(block_type_id: UUID) -> Plan[None]:
    """Delete a block type with its schemas and documents.

    Raises:
        ObjectNotFound: No such block type.
        ProtectedBlockError: A system block type (``secret``, ``webhook``, ...).
    """
    try:
        yield Request("DELETE", url_path("block_types", block_type_id))
    except PrefectHTTPStatusError as exc:
        if exc.status_code == 403 and exc.detail == _PROTECTED_DELETE:
            raise ProtectedBlockError("Protected block types cannot be deleted.") from exc
        raise


# --------------------------------------------------------------------------- block schemas


def create_block_schema(block_schema: BlockSchemaCreate) -> Plan[BlockSchema]:
    """Register a schema; the one already stored is returned for the same fields and
    version (so a re-send is safe). Raises `ObjectNotFound` for an unknown block type."""
    response = yield Request("POST", "/block_schemas/", json=body(block_schema), idempotent=True)
    return parse(BlockSchema, response)


def read_block_schemas() -> Plan[list[BlockSchema]]:
    """Every block schema, newest first."""
    response = yield Request("POST", "/block_schemas/filter", json={}, idempotent=True)
    return parse_list(BlockSchema, response)


def read_block_schema_by_checksum(checksum: str, version: str | None = None) -> Plan[BlockSchema]:
    """The newest schema with this checksum (and version, when given).

    Raises `ObjectNotFound` when there is none.
    """
    params = {"version": version} if version else None
    response = yield Request("GET", url_path("block_schemas", "checksum", checksum), params=params)
    return parse(BlockSchema, response)


def get_most_recent_block_schema_for_block_type(
    block_type_id: UUID,
) -> Plan[BlockSchema | None]:
    """The block type's newest schema, or None when it has none."""
    request = {"block_schemas": {"block_type_id": {"any_": [str(block_type_id)]}}, "limit": 1}
    response = yield Request("POST", "/block_schemas/filter", json=request, idempotent=True)
    return next(iter(parse_list(BlockSchema, response)), None)


# --------------------------------------------------------------------------- block documents


def _revealed(value: Any, include_secrets: bool) -> Any:
    """`value` with pydantic secrets (``SecretStr``, ``SecretBytes``) made sendable: their
    value with `include_secrets`, else Prefect's mask."""
    reveal = getattr(value, "get_secret_value", None)
    if callable(reveal):
        if not include_secrets:
            return _MASK
        secret = reveal()
        return secret.decode() if isinstance(secret, bytes) else secret
    if isinstance(value, Mapping):
        return {key: _revealed(item, include_secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_revealed(item, include_secrets) for item in value]
    return value


def _body_data(data: Mapping[str, Any], include_secrets: bool) -> Any:
    """Block data as JSON: secrets revealed (or masked), models and ids dumped."""
    return to_jsonable_python(_revealed(data, include_secrets))


def _document_body(
    block_document: BlockDocument | BlockDocumentCreate, include_secrets: bool
) -> dict[str, Any]:
    if isinstance(block_document, BlockDocument):
        given = block_document.model_fields_set & {"name", "data", "is_anonymous"}
        block_document = BlockDocumentCreate(
            block_schema_id=block_document.block_schema_id,
            block_type_id=block_document.block_type_id,
            **{name: getattr(block_document, name) for name in given},
        )
    request: dict[str, Any] = body(block_document)
    if "data" in request:
        request["data"] = _body_data(block_document.data, include_secrets)
    return request


def create_block_document(
    block_document: BlockDocument | BlockDocumentCreate,
    include_secrets: bool = True,
) -> Plan[BlockDocument]:
    """Save a block document; `include_secrets` false sends pydantic secret values masked.

    Raises `ObjectAlreadyExists` when its block type has a document of that name.
    """
    request = _document_body(block_document, include_secrets)
    response = yield Request("POST", "/block_documents/", json=request)
    return parse(BlockDocument, response)


def read_block_document(
    block_document_id: UUID, include_secrets: bool = True
) -> Plan[BlockDocument]:
    """Raises `ObjectNotFound` for an unknown id."""
    response = yield Request(
        "GET",
        url_path("block_documents", block_document_id),
        params={"include_secrets": include_secrets},
    )
    return parse(BlockDocument, response)


def read_block_document_by_name(
    name: str, block_type_slug: str, include_secrets: bool = True
) -> Plan[BlockDocument]:
    """The document `name` of the block type `block_type_slug`.

    Raises `ObjectNotFound` when there is none.
    """
    response = yield Request(
        "GET",
        url_path("block_types", "slug", block_type_slug, "block_documents", "name", name),
        params={"include_secrets": include_secrets},
    )
    return parse(BlockDocument, response)


def read_block_documents(
    block_schema_type: str | None = None,
    offset: int | None = None,
    limit: int | None = None,
    include_secrets: bool = True,
) -> Plan[list[BlockDocument]]:
    """Named block documents of every type, by name, paged.

    `block_schema_type` is sent as Prefect's client sends it; Prefect's server ignores it.
    """
    request = {
        "block_schema_type": block_schema_type,
        "offset": offset,
        "limit": limit,
        "include_secrets": include_secrets,
    }
    response = yield Request("POST", "/block_documents/filter", json=request, idempotent=True)
    return parse_list(BlockDocument, response)


def read_block_documents_by_type(
    block_type_slug: str,
    offset: int | None = None,
    limit: int | None = None,
    include_secrets: bool = True,
) -> Plan[list[BlockDocument]]:
    """Named block documents of one block type. Raises `ObjectNotFound` for an unknown slug."""
    params = {"offset": offset, "limit": limit, "include_secrets": include_secrets}
    response = yield Request(
        "GET", url_path("block_types", "slug", block_type_slug, "block_documents"), params=params
    )
    return parse_list(BlockDocument, response)


def update_block_document(
    block_document_id: UUID, block_document: BlockDocumentUpdate
) -> Plan[None]:
    """Merge `data` into the document's (or replace it, with ``merge_existing_data=False``);
    a masked secret sent back keeps the stored value. Raises `ObjectNotFound`."""
    request = body(block_document)
    if "data" in request:
        request["data"] = _body_data(block_document.data, include_secrets=True)
    yield Request("PATCH", url_path("block_documents", block_document_id), json=request)


def delete_block_document(block_document_id: UUID) -> Plan[None]:
    """Raises `ObjectNotFound` for an unknown id."""
    yield Request("DELETE", url_path("block_documents", block_document_id))
