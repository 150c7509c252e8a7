"""Capture Prefect's block endpoints: types, schemas and documents (issue 11, group blocks).

Run from the repository root with Prefect's interpreter, against a server you started::

    PYTHONPATH=$PWD .nox/interop/bin/python tests/captures/capture_blocks.py \
        http://127.0.0.1:4301/api

It writes ``tests/data/captures/blocks.json``.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import anyio

from tests.captures.recorder import recording

OUT = Path(__file__).resolve().parent.parent / "data" / "captures" / "blocks.json"

# A block schema as Prefect's Block._to_block_schema() writes it: one secret field.
FIELDS = {
    "title": "CaptureCredentials",
    "description": "Credentials for the capture.",
    "type": "object",
    "properties": {
        "username": {"title": "Username", "type": "string"},
        "password": {
            "title": "Password",
            "type": "string",
            "format": "password",
            "writeOnly": True,
        },
    },
    "required": ["username", "password"],
    "block_type_slug": "capture-credentials",
    "secret_fields": ["password"],
    "block_schema_references": {},
}


async def main(api_url: str) -> None:
    from prefect.client.schemas.actions import (
        BlockDocumentCreate,
        BlockDocumentUpdate,
        BlockSchemaCreate,
        BlockTypeCreate,
        BlockTypeUpdate,
    )
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound, ProtectedBlockError

    async with recording(api_url) as (client, record):
        record.method = "create_block_type"
        block_type = await client.create_block_type(
            BlockTypeCreate(
                name="Capture Credentials",
                slug="capture-credentials",
                description="Credentials used by the capture script.",
                documentation_url="https://example.com/docs",
            )
        )
        record.method = "create_block_type conflict"
        with contextlib.suppress(ObjectAlreadyExists):
            await client.create_block_type(
                BlockTypeCreate(name="Capture Credentials", slug="capture-credentials")
            )

        record.method = "read_block_type_by_slug"
        await client.read_block_type_by_slug("capture-credentials")
        record.method = "read_block_type_by_slug missing"
        with contextlib.suppress(ObjectNotFound):
            await client.read_block_type_by_slug("no-such-type")

        record.method = "update_block_type"
        await client.update_block_type(
            block_type.id,
            BlockTypeUpdate(
                description="Updated by the capture script.",
                code_example="CaptureCredentials.load('mine')",
            ),
        )

        record.method = "read_block_types"
        await client.read_block_types()

        record.method = "create_block_schema"
        schema = await client.create_block_schema(
            BlockSchemaCreate(
                fields=FIELDS,
                block_type_id=block_type.id,
                capabilities=["credentials"],
                version="1.0.0",
            )
        )
        record.method = "create_block_schema again"
        await client.create_block_schema(
            BlockSchemaCreate(
                fields=FIELDS,
                block_type_id=block_type.id,
                capabilities=["credentials"],
                version="1.0.0",
            )
        )

        record.method = "read_block_schemas"
        await client.read_block_schemas()
        record.method = "read_block_schema_by_checksum"
        await client.read_block_schema_by_checksum(schema.checksum)
        record.method = "read_block_schema_by_checksum version"
        await client.read_block_schema_by_checksum(schema.checksum, version="1.0.0")
        record.method = "read_block_schema_by_checksum missing"
        with contextlib.suppress(ObjectNotFound):
            await client.read_block_schema_by_checksum("sha256:missing")
        record.method = "get_most_recent_block_schema_for_block_type"
        await client.get_most_recent_block_schema_for_block_type(block_type.id)

        record.method = "create_block_document"
        document = await client.create_block_document(
            BlockDocumentCreate(
                name="capture-doc",
                data={"username": "marvin", "password": "hunter22"},
                block_schema_id=schema.id,
                block_type_id=block_type.id,
            )
        )
        record.method = "create_block_document conflict"
        with contextlib.suppress(ObjectAlreadyExists):
            await client.create_block_document(
                BlockDocumentCreate(
                    name="capture-doc",
                    data={"username": "marvin", "password": "hunter22"},
                    block_schema_id=schema.id,
                    block_type_id=block_type.id,
                )
            )

        record.method = "read_block_document"
        await client.read_block_document(document.id)
        record.method = "read_block_document secrets hidden"
        await client.read_block_document(document.id, include_secrets=False)
        record.method = "read_block_document_by_name"
        await client.read_block_document_by_name("capture-doc", "capture-credentials")
        record.method = "read_block_document_by_name secrets hidden"
        await client.read_block_document_by_name(
            "capture-doc", "capture-credentials", include_secrets=False
        )
        record.method = "read_block_documents"
        await client.read_block_documents()
        record.method = "read_block_documents paged"
        await client.read_block_documents(
            block_schema_type="capture-credentials", offset=0, limit=5, include_secrets=False
        )
        record.method = "read_block_documents_by_type"
        await client.read_block_documents_by_type("capture-credentials")
        record.method = "read_block_documents_by_type paged"
        await client.read_block_documents_by_type(
            "capture-credentials", offset=0, limit=5, include_secrets=False
        )

        record.method = "update_block_document"
        await client.update_block_document(
            document.id, BlockDocumentUpdate(data={"username": "arthur"})
        )
        record.method = "update_block_document replace"
        await client.update_block_document(
            document.id,
            BlockDocumentUpdate(
                data={"username": "ford", "password": "towel42"}, merge_existing_data=False
            ),
        )

        record.method = "delete_block_document"
        await client.delete_block_document(document.id)
        record.method = "delete_block_document missing"
        with contextlib.suppress(ObjectNotFound):
            await client.delete_block_document(document.id)

        record.method = "delete_block_type protected"
        secret = await client.read_block_type_by_slug("secret")
        with contextlib.suppress(ProtectedBlockError):
            await client.delete_block_type(secret.id)
        record.method = "delete_block_type"
        await client.delete_block_type(block_type.id)
        record.method = "delete_block_type missing"
        with contextlib.suppress(ObjectNotFound):
            await client.delete_block_type(block_type.id)

    shorten(record.exchanges)
    record.save(OUT)


def shorten(exchanges: dict[str, Any]) -> None:
    """Drop the CSRF probe, and keep long lists (the server's many registered block types
    and schemas) as the shared samples keep them: their length and first item."""
    for key in [k for k in exchanges if k.startswith("GET /csrf-token")]:
        del exchanges[key]
    for exchange in exchanges.values():
        body = exchange["response_body"]
        if isinstance(body, list) and len(body) > 3:
            exchange["response_body"] = {"__list_len__": len(body), "__first_item__": body[0]}


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
