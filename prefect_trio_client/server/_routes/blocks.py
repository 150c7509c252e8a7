"""Blocks: block types (by slug), their schemas (by checksum) and block documents.

Prefect's rules, kept here: type names starting with "Prefect" are reserved; protected
(system) types cannot be deleted; a schema is identified by the checksum of its fields
(without ``secret_fields``) and its version, so registering it again returns the stored
one; a document's name is unique within its type; reads mask the values of the schema's
``secret_fields`` unless ``include_secrets`` is true, and an update that sends a masked
value back keeps the stored secret. Deleting a type deletes its schemas and documents.

Not served: nested block schemas (``block_schema_references``) and references between
documents (``{"$ref": ...}`` values), which Prefect stores in tables of their own.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import (
    BlockDocumentCreate,
    BlockDocumentUpdate,
    BlockSchemaCreate,
    BlockTypeCreate,
    BlockTypeUpdate,
)
from prefect_trio_client.schemas.filters import (
    BlockDocumentFilter,
    BlockSchemaFilter,
    BlockTypeFilter,
)
from prefect_trio_client.schemas.sorting import BlockDocumentSort
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import INTEGRITY_DETAIL, ApiError, conflict, not_found
from prefect_trio_client.server._filters import Predicate, compile_filter, page
from prefect_trio_client.server._http import (
    Reply,
    api_of,
    created,
    json_body,
    no_content,
    ok,
    path_id,
    route,
    validate,
    validate_as,
)
from prefect_trio_client.server._ids import new_id
from prefect_trio_client.server._queries import PageBody, limit_of
from prefect_trio_client.server._tables import BLOCK_DOCUMENTS, BLOCK_SCHEMAS, BLOCK_TYPES, Table

__all__ = ["ROUTES"]

TYPE_NOT_FOUND = "Block type not found"
SCHEMA_NOT_FOUND = "Block schema not found"
DOCUMENT_NOT_FOUND = "Block document not found"
MASK = "********"
"""Prefect's mask for a secret value (``prefect.utilities.names.obfuscate``)."""

_UPDATABLE_TYPE_FIELDS = ("logo_url", "documentation_url", "description", "code_example")


class BlockTypesBody(PageBody):
    block_types: BlockTypeFilter | None = None
    block_schemas: BlockSchemaFilter | None = None


class BlockSchemasBody(PageBody):
    block_schemas: BlockSchemaFilter | None = None


class BlockDocumentsBody(PageBody):
    block_documents: BlockDocumentFilter | None = Field(default_factory=BlockDocumentFilter)
    block_types: BlockTypeFilter | None = None
    block_schemas: BlockSchemaFilter | None = None
    include_secrets: bool = False
    sort: BlockDocumentSort | None = BlockDocumentSort.NAME_ASC


# --------------------------------------------------------------------------- presenting


def _existing(tx: Tx, table: Table, id: str, missing: str) -> Doc:
    """The stored document, or 404 with Prefect's detail."""
    doc = tx.get(table, id)
    if doc is None:
        raise not_found(missing)
    return doc


def _type(tx: Tx, type_id: str) -> Doc:
    return _existing(tx, BLOCK_TYPES, type_id, TYPE_NOT_FOUND)


def _schema_out(tx: Tx, schema: Doc) -> Doc:
    return {**schema, "block_type": tx.get(BLOCK_TYPES, schema["block_type_id"])}


def _flat(data: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Nested dicts as one dict keyed by paths (Prefect's ``dict_to_flatdict``)."""
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in data.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            flat.update(_flat(value, path))
        else:
            flat[path] = value
    return flat


def _nested(flat: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for path, value in flat.items():
        target = data
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    return data


def _secret_paths(schema: Doc | None) -> list[tuple[str, ...]]:
    fields = (schema or {}).get("fields") or {}
    return [tuple(str(name).split(".")) for name in fields.get("secret_fields", [])]


def _under(path: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether `path` is a secret field's path: equal, or under a ``*`` wildcard."""
    if "*" not in pattern:
        return path == pattern
    star = pattern.index("*")
    return path[:star] == pattern[:star]


def _masked(data: dict[str, Any], schema: Doc | None) -> dict[str, Any]:
    flat = _flat(data)
    secrets = _secret_paths(schema)
    for path, value in flat.items():
        exact = path in secrets and value is not None
        if exact or any("*" in pattern and _under(path, pattern) for pattern in secrets):
            flat[path] = MASK
    return _nested(flat)


def _document_out(tx: Tx, document: Doc, include_secrets: bool) -> Doc:
    schema = tx.get(BLOCK_SCHEMAS, document["block_schema_id"])
    data = document["data"] if include_secrets else _masked(document["data"], schema)
    return {
        **document,
        "data": data,
        "block_schema": None if schema is None else _schema_out(tx, schema),
        "block_type": tx.get(BLOCK_TYPES, document["block_type_id"]),
        "block_document_references": {},
    }


# --------------------------------------------------------------------------- block types


async def create_type(request: Request) -> Response:
    body = validate(BlockTypeCreate, await json_body(request))
    if body.name.lower().startswith("prefect"):
        raise ApiError(403, "Block type names beginning with 'Prefect' are reserved.")

    def work(tx: Tx) -> Reply:
        taken = tx.first(BLOCK_TYPES, name=body.name) or tx.first(BLOCK_TYPES, slug=body.slug)
        if taken is not None:
            raise conflict(f'Block type with name "{body.name}" already exists')
        block_type = {
            "id": str(new_id()),
            "created": tx.now_iso,
            "updated": tx.now_iso,
            "name": body.name,
            "slug": body.slug,
            **{name: getattr(body, name) for name in _UPDATABLE_TYPE_FIELDS},
            "is_protected": False,
        }
        tx.insert(BLOCK_TYPES, block_type)
        return created(block_type)

    return await api_of(request).write(work)


async def read_type(request: Request) -> Response:
    type_id = path_id(request)
    return await api_of(request).read(lambda tx: ok(_type(tx, type_id)))


def _type_by_slug(tx: Tx, slug: str) -> Doc:
    block_type = tx.first(BLOCK_TYPES, slug=slug)
    if block_type is None:
        raise not_found(TYPE_NOT_FOUND)
    return block_type


async def read_type_by_slug(request: Request) -> Response:
    slug = str(request.path_params["slug"])
    return await api_of(request).read(lambda tx: ok(_type_by_slug(tx, slug)))


async def filter_types(request: Request) -> Response:
    api = api_of(request)
    body = validate(BlockTypesBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)

    def work(tx: Tx) -> Reply:
        matches = compile_filter(body.block_types)
        found = [t for t in tx.find(BLOCK_TYPES) if matches(t)]
        if body.block_schemas is not None:
            having = _schema_matcher(body.block_schemas)
            with_schema = {s["block_type_id"] for s in tx.find(BLOCK_SCHEMAS) if having(s)}
            found = [t for t in found if t["id"] in with_schema]
        found.sort(key=lambda t: t["name"])
        return ok(page(found, body.offset or 0, limit))

    return await api.read(work)


async def update_type(request: Request) -> Response:
    type_id = path_id(request)
    body = validate(BlockTypeUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        block_type = _type(tx, type_id)
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        if any(block_type.get(name) != value for name, value in changes.items()):
            block_type.update(changes, updated=tx.now_iso)
            tx.update(BLOCK_TYPES, block_type)
        return no_content()

    return await api_of(request).write(work)


async def delete_type(request: Request) -> Response:
    type_id = path_id(request)

    def work(tx: Tx) -> Reply:
        if _type(tx, type_id).get("is_protected"):
            raise ApiError(403, "protected block types cannot be deleted.")
        tx.delete_where(BLOCK_DOCUMENTS, block_type_id=type_id)
        tx.delete_where(BLOCK_SCHEMAS, block_type_id=type_id)
        tx.delete(BLOCK_TYPES, type_id)
        return no_content()

    return await api_of(request).write(work)


# --------------------------------------------------------------------------- block schemas


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [ref for item in value.values() for ref in _references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def _plain_definitions(value: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    """The definitions `value` refers to, directly or not, that are not blocks."""
    kept: dict[str, Any] = {}
    for ref in _references(value):
        key = ref.replace("#/definitions/", "")
        definition = definitions.get(key)
        plain = isinstance(definition, dict) and definition.get("block_type_slug") is None
        if plain and key not in kept:
            kept[key] = definition
            kept.update(_plain_definitions(definition, definitions))
    return kept


def _without_secret_fields(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {k: _without_secret_fields(v) for k, v in value.items() if k != "secret_fields"}


def checksum(fields: dict[str, Any]) -> str:
    """A schema's checksum as Prefect computes it: SHA-256 of the fields' sorted JSON,
    without ``secret_fields`` and without definitions of nested blocks."""
    hashed = _without_secret_fields(fields)
    definitions = hashed.get("definitions")
    if definitions:
        plain = _plain_definitions(hashed, definitions)
        if plain:
            hashed["definitions"] = plain
        else:
            hashed.pop("definitions")
    text = json.dumps([[hashed], {}], sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _newest(tx: Tx, checksum_: str, version: str | None) -> Doc | None:
    schemas = [
        s
        for s in tx.find(BLOCK_SCHEMAS, checksum=checksum_)
        if version is None or s["version"] == version
    ]
    return schemas[-1] if schemas else None


async def create_schema(request: Request) -> Response:
    body = validate(BlockSchemaCreate, await json_body(request))

    def work(tx: Tx) -> Reply:
        type_id = str(body.block_type_id)
        if body.block_type_id is None or tx.get(BLOCK_TYPES, type_id) is None:
            raise not_found(f"Block type {body.block_type_id} not found.")
        checksum_ = checksum(body.fields)
        existing = _newest(tx, checksum_, body.version)
        if existing is not None:
            return created(_schema_out(tx, existing), is_new=False)
        schema = {
            "id": str(new_id()),
            "created": tx.now_iso,
            "updated": tx.now_iso,
            "checksum": checksum_,
            "fields": {**body.fields, "block_schema_references": {}},
            "block_type_id": type_id,
            "capabilities": list(body.capabilities),
            "version": body.version,
        }
        tx.insert(BLOCK_SCHEMAS, schema)
        return created(_schema_out(tx, schema))

    return await api_of(request).write(work)


def _schema_matcher(model: BlockSchemaFilter) -> Predicate:
    return compile_filter(model, fields={"block_capabilities": "capabilities"})


async def filter_schemas(request: Request) -> Response:
    api = api_of(request)
    body = validate(BlockSchemasBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)

    def work(tx: Tx) -> Reply:
        matches = _schema_matcher(body.block_schemas) if body.block_schemas else None
        found = [s for s in reversed(tx.find(BLOCK_SCHEMAS)) if matches is None or matches(s)]
        return ok([_schema_out(tx, s) for s in page(found, body.offset or 0, limit)])

    return await api.read(work)


async def read_schema(request: Request) -> Response:
    schema_id = path_id(request)

    def work(tx: Tx) -> Reply:
        return ok(_schema_out(tx, _existing(tx, BLOCK_SCHEMAS, schema_id, SCHEMA_NOT_FOUND)))

    return await api_of(request).read(work)


async def read_schema_by_checksum(request: Request) -> Response:
    checksum_ = str(request.path_params["checksum"])
    version = request.query_params.get("version")

    def work(tx: Tx) -> Reply:
        schema = _newest(tx, checksum_, version)
        if schema is None:
            raise not_found(SCHEMA_NOT_FOUND)
        return ok(_schema_out(tx, schema))

    return await api_of(request).read(work)


# --------------------------------------------------------------------------- block documents


def _include_secrets(request: Request) -> bool:
    raw = request.query_params.get("include_secrets", "false")
    flag: bool = validate_as(bool, raw, ("query", "include_secrets"))
    return flag


async def create_document(request: Request) -> Response:
    body = validate(BlockDocumentCreate, await json_body(request))

    def work(tx: Tx) -> Reply:
        type_id = str(body.block_type_id)
        if body.name is not None and tx.first(
            BLOCK_DOCUMENTS, block_type_id=type_id, name=body.name
        ):
            raise conflict("Block already exists")
        block_type = tx.get(BLOCK_TYPES, type_id)
        schema = tx.get(BLOCK_SCHEMAS, str(body.block_schema_id))
        if block_type is None or schema is None:
            raise ApiError(409, INTEGRITY_DETAIL)
        name = body.name
        if body.is_anonymous and not name:
            name = f"anonymous-{new_id()}"
        document = {
            "id": str(new_id()),
            "created": tx.now_iso,
            "updated": tx.now_iso,
            "name": name,
            "data": body.data,
            "block_schema_id": schema["id"],
            "block_type_id": type_id,
            "block_type_name": block_type["name"],
            "is_anonymous": body.is_anonymous,
        }
        tx.insert(BLOCK_DOCUMENTS, document)
        return created(_document_out(tx, document, include_secrets=False))

    return await api_of(request).write(work)


def _document(tx: Tx, document_id: str) -> Doc:
    return _existing(tx, BLOCK_DOCUMENTS, document_id, DOCUMENT_NOT_FOUND)


async def read_document(request: Request) -> Response:
    document_id = path_id(request)
    include_secrets = _include_secrets(request)
    return await api_of(request).read(
        lambda tx: ok(_document_out(tx, _document(tx, document_id), include_secrets))
    )


_DOCUMENT_SORTS = {
    BlockDocumentSort.NAME_ASC: lambda docs: sorted(docs, key=lambda d: d["name"] or ""),
    BlockDocumentSort.NAME_DESC: lambda docs: sorted(
        docs, key=lambda d: d["name"] or "", reverse=True
    ),
    BlockDocumentSort.BLOCK_TYPE_AND_NAME_ASC: lambda docs: sorted(
        docs, key=lambda d: (d["block_type_name"] or "", d["name"] or "")
    ),
}


def _documents(tx: Tx, body: BlockDocumentsBody) -> list[Doc]:
    matches = compile_filter(body.block_documents)
    found = [d for d in tx.find(BLOCK_DOCUMENTS) if matches(d)]
    if body.block_types is not None:
        of_type = compile_filter(body.block_types)
        type_ids = {t["id"] for t in tx.find(BLOCK_TYPES) if of_type(t)}
        found = [d for d in found if d["block_type_id"] in type_ids]
    if body.block_schemas is not None:
        having = _schema_matcher(body.block_schemas)
        schema_ids = {s["id"] for s in tx.find(BLOCK_SCHEMAS) if having(s)}
        found = [d for d in found if d["block_schema_id"] in schema_ids]
    return list(_DOCUMENT_SORTS[body.sort or BlockDocumentSort.NAME_ASC](found))


async def filter_documents(request: Request) -> Response:
    api = api_of(request)
    body = validate(BlockDocumentsBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)

    def work(tx: Tx) -> Reply:
        found = page(_documents(tx, body), body.offset or 0, limit)
        return ok([_document_out(tx, d, body.include_secrets) for d in found])

    return await api.read(work)


async def count_documents(request: Request) -> Response:
    body = validate(BlockDocumentsBody, await json_body(request, {}))
    return await api_of(request).read(lambda tx: ok(len(_documents(tx, body))))


async def read_documents_of_type(request: Request) -> Response:
    slug = str(request.path_params["slug"])
    include_secrets = _include_secrets(request)

    def work(tx: Tx) -> Reply:
        type_id = _type_by_slug(tx, slug)["id"]
        found = tx.find(BLOCK_DOCUMENTS, block_type_id=type_id)
        named = [d for d in found if not d["is_anonymous"]]
        ordered = _DOCUMENT_SORTS[BlockDocumentSort.NAME_ASC](named)
        return ok([_document_out(tx, d, include_secrets) for d in ordered])

    return await api_of(request).read(work)


async def read_document_by_name(request: Request) -> Response:
    slug = str(request.path_params["slug"])
    name = str(request.path_params["name"])
    include_secrets = _include_secrets(request)

    def work(tx: Tx) -> Reply:
        block_type = tx.first(BLOCK_TYPES, slug=slug)
        document = None
        if block_type is not None:
            document = tx.first(BLOCK_DOCUMENTS, block_type_id=block_type["id"], name=name)
        if document is None:
            raise not_found(DOCUMENT_NOT_FOUND)
        return ok(_document_out(tx, document, include_secrets))

    return await api_of(request).read(work)


def _kept_secrets(new: dict[str, Any], current: dict[str, Any], schema: Doc | None) -> Any:
    """`new` with every masked secret replaced by the stored value (Prefect's rule: a
    masked value sent back means "unchanged")."""
    flat_new, flat_current = _flat(new), _flat(current)
    for pattern in _secret_paths(schema):
        for path, value in flat_new.items():
            if value == MASK and _under(path, pattern) and path in flat_current:
                flat_new[path] = flat_current[path]
    return _nested(flat_new)


async def update_document(request: Request) -> Response:
    document_id = path_id(request)
    body = validate(BlockDocumentUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        document = _document(tx, document_id)
        proposed = body.block_schema_id
        if proposed is not None and str(proposed) != document["block_schema_id"]:
            schema = tx.get(BLOCK_SCHEMAS, str(proposed))
            if schema is None or schema["block_type_id"] != document["block_type_id"]:
                raise ApiError(
                    400, "Must migrate block document to a block schema of the same block type."
                )
            document["block_schema_id"] = schema["id"]
        if "data" in body.model_fields_set or not body.merge_existing_data:
            current = document["data"]
            schema = tx.get(BLOCK_SCHEMAS, document["block_schema_id"])
            data = _kept_secrets(body.data, current, schema)
            document["data"] = {**current, **data} if body.merge_existing_data else data
        document["updated"] = tx.now_iso
        tx.update(BLOCK_DOCUMENTS, document)
        return no_content()

    return await api_of(request).write(work)


async def delete_document(request: Request) -> Response:
    document_id = path_id(request)

    def work(tx: Tx) -> Reply:
        if not tx.delete(BLOCK_DOCUMENTS, document_id):
            raise not_found(DOCUMENT_NOT_FOUND)
        return no_content()

    return await api_of(request).write(work)


ROUTES = [
    route("/block_types/", create_type, "POST"),
    route("/block_types/filter", filter_types, "POST"),
    route("/block_types/slug/{slug}", read_type_by_slug, "GET"),
    route("/block_types/slug/{slug}/block_documents", read_documents_of_type, "GET"),
    route("/block_types/slug/{slug}/block_documents/name/{name}", read_document_by_name, "GET"),
    route("/block_types/{id:uuid}", read_type, "GET"),
    route("/block_types/{id:uuid}", update_type, "PATCH"),
    route("/block_types/{id:uuid}", delete_type, "DELETE"),
    route("/block_schemas/", create_schema, "POST"),
    route("/block_schemas/filter", filter_schemas, "POST"),
    route("/block_schemas/checksum/{checksum}", read_schema_by_checksum, "GET"),
    route("/block_schemas/{id:uuid}", read_schema, "GET"),
    route("/block_documents/", create_document, "POST"),
    route("/block_documents/filter", filter_documents, "POST"),
    route("/block_documents/count", count_documents, "POST"),
    route("/block_documents/{id:uuid}", read_document, "GET"),
    route("/block_documents/{id:uuid}", update_document, "PATCH"),
    route("/block_documents/{id:uuid}", delete_document, "DELETE"),
]
