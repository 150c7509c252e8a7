"""One walk through every block method, run against the embedded server
(``tests/server/test_blocks.py``) and a real Prefect server (``tests/interop/test_blocks.py``).

`client` is anything with the async interface of `PrefectClient` (the sync client runs it
through an adapter whose methods block).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from pydantic import SecretStr

from prefect_trio_client.exceptions import (
    ObjectAlreadyExists,
    ObjectNotFound,
    PrefectHTTPStatusError,
    ProtectedBlockError,
)
from prefect_trio_client.schemas.actions import (
    BlockDocumentCreate,
    BlockDocumentUpdate,
    BlockSchemaCreate,
    BlockTypeCreate,
    BlockTypeUpdate,
)

MASK = "********"


def credentials_fields(slug: str) -> dict[str, Any]:
    """A block schema as Prefect's ``Block._to_block_schema()`` writes one."""
    return {
        "title": "Credentials",
        "type": "object",
        "properties": {
            "username": {"title": "Username", "type": "string"},
            "password": {
                "title": "Password",
                "type": "string",
                "format": "password",
                "writeOnly": True,
            },
            "extra": {"title": "Extra", "type": "object"},
        },
        "required": ["username", "password"],
        "block_type_slug": slug,
        "secret_fields": ["password", "extra.token"],
        "block_schema_references": {},
    }


async def block_lifecycle(client: Any, unique: str) -> None:
    slug = f"creds-{unique}"

    # block types
    block_type = await client.create_block_type(
        BlockTypeCreate(name=f"Creds {unique}", slug=slug, description="first")
    )
    assert (block_type.slug, block_type.is_protected) == (slug, False)
    with pytest.raises(ObjectAlreadyExists):
        await client.create_block_type(BlockTypeCreate(name=f"Creds {unique}", slug=slug))
    with pytest.raises(PrefectHTTPStatusError) as reserved:
        await client.create_block_type(
            BlockTypeCreate(name=f"Prefect thing {unique}", slug=f"p-{unique}")
        )
    assert reserved.value.status_code == 403
    await client.update_block_type(block_type.id, BlockTypeUpdate(code_example="use it"))
    read = await client.read_block_type_by_slug(slug)
    assert (read.id, read.description, read.code_example) == (block_type.id, "first", "use it")
    with pytest.raises(ObjectNotFound):
        await client.read_block_type_by_slug(f"missing-{unique}")
    with pytest.raises(ObjectNotFound):
        await client.update_block_type(uuid4(), BlockTypeUpdate(description="x"))
    types = await client.read_block_types()
    names = [t.name for t in types]
    assert names == sorted(names)
    assert slug in {t.slug for t in types}

    # block schemas: a repeat with the same fields and version returns the same schema
    assert await client.get_most_recent_block_schema_for_block_type(block_type.id) is None
    create = BlockSchemaCreate(
        fields=credentials_fields(slug),
        block_type_id=block_type.id,
        capabilities=["credentials"],
        version="1.0.0",
    )
    schema = await client.create_block_schema(create)
    assert schema.checksum.startswith("sha256:")
    assert schema.block_type is not None
    assert schema.block_type.slug == slug
    assert (await client.create_block_schema(create)).id == schema.id
    newer = await client.create_block_schema(create.model_copy(update={"version": "2.0.0"}))
    assert newer.id != schema.id
    assert newer.checksum == schema.checksum
    assert (await client.read_block_schema_by_checksum(schema.checksum)).id == newer.id
    by_version = await client.read_block_schema_by_checksum(schema.checksum, version="1.0.0")
    assert by_version.id == schema.id
    with pytest.raises(ObjectNotFound):
        await client.read_block_schema_by_checksum(f"sha256:{unique}")
    most_recent = await client.get_most_recent_block_schema_for_block_type(block_type.id)
    assert most_recent is not None
    assert most_recent.id == newer.id
    assert {schema.id, newer.id} <= {s.id for s in await client.read_block_schemas()}
    with pytest.raises(ObjectNotFound):
        await client.create_block_schema(create.model_copy(update={"block_type_id": uuid4()}))

    # block documents: secrets masked unless asked for
    document = await client.create_block_document(
        BlockDocumentCreate(
            name=f"doc-{unique}",
            data={"username": "marvin", "password": SecretStr("hunter22"), "extra": {"token": "t"}},
            block_schema_id=schema.id,
            block_type_id=block_type.id,
        )
    )
    assert document.data == {"username": "marvin", "password": MASK, "extra": {"token": MASK}}
    assert document.block_type_name == f"Creds {unique}"
    assert document.block_schema is not None
    assert document.block_schema.id == schema.id
    with pytest.raises(ObjectAlreadyExists):
        await client.create_block_document(
            BlockDocumentCreate(
                name=f"doc-{unique}", block_schema_id=schema.id, block_type_id=block_type.id
            )
        )
    full = await client.read_block_document(document.id)
    assert full.data == {"username": "marvin", "password": "hunter22", "extra": {"token": "t"}}
    hidden = await client.read_block_document(document.id, include_secrets=False)
    assert hidden.data["password"] == MASK
    by_name = await client.read_block_document_by_name(f"doc-{unique}", slug)
    assert (by_name.id, by_name.data["password"]) == (document.id, "hunter22")
    hidden = await client.read_block_document_by_name(f"doc-{unique}", slug, include_secrets=False)
    assert hidden.data["password"] == MASK
    with pytest.raises(ObjectNotFound):
        await client.read_block_document_by_name(f"nope-{unique}", slug)
    with pytest.raises(ObjectNotFound):
        await client.read_block_document(uuid4())

    second = await client.create_block_document(
        BlockDocumentCreate(
            name=f"a-doc-{unique}",
            data={"username": "zaphod", "password": "x"},
            block_schema_id=schema.id,
            block_type_id=block_type.id,
        )
    )
    anonymous = await client.create_block_document(
        BlockDocumentCreate(
            data={"username": "anon", "password": "y"},
            block_schema_id=schema.id,
            block_type_id=block_type.id,
            is_anonymous=True,
        )
    )
    assert anonymous.is_anonymous
    assert anonymous.name is not None
    of_type = await client.read_block_documents_by_type(slug)
    assert [d.name for d in of_type] == [f"a-doc-{unique}", f"doc-{unique}"]
    assert of_type[1].data["password"] == "hunter22"
    paged = await client.read_block_documents_by_type(
        slug, offset=1, limit=1, include_secrets=False
    )
    # Prefect's server ignores offset and limit on this route (it takes none).
    assert [(d.name, d.data["password"]) for d in paged] == [
        (f"a-doc-{unique}", MASK),
        (f"doc-{unique}", MASK),
    ]
    with pytest.raises(ObjectNotFound):
        await client.read_block_documents_by_type(f"missing-{unique}")
    everything = await client.read_block_documents(include_secrets=False)
    ours = [d for d in everything if d.block_type_id == block_type.id]
    assert [d.name for d in ours] == [f"a-doc-{unique}", f"doc-{unique}"]
    assert all(d.data["password"] == MASK for d in ours)
    assert len(await client.read_block_documents(limit=1)) == 1

    # updates: merged by default; a masked secret sent back keeps its value
    await client.update_block_document(
        document.id, BlockDocumentUpdate(data={"username": "arthur", "password": MASK})
    )
    updated = await client.read_block_document(document.id)
    assert updated.data == {"username": "arthur", "password": "hunter22", "extra": {"token": "t"}}
    await client.update_block_document(
        document.id,
        BlockDocumentUpdate(
            data={"username": "ford", "password": "towel"}, merge_existing_data=False
        ),
    )
    assert (await client.read_block_document(document.id)).data == {
        "username": "ford",
        "password": "towel",
    }
    await client.update_block_document(
        document.id, BlockDocumentUpdate(block_schema_id=newer.id, data={"username": "trillian"})
    )
    migrated = await client.read_block_document(document.id)
    assert (migrated.block_schema_id, migrated.data["username"]) == (newer.id, "trillian")
    with pytest.raises(ObjectNotFound):
        await client.update_block_document(uuid4(), BlockDocumentUpdate(data={}))

    # deletes; system block types are protected
    await client.delete_block_document(second.id)
    with pytest.raises(ObjectNotFound):
        await client.delete_block_document(second.id)
    secret = await client.read_block_type_by_slug("secret")
    assert secret.is_protected
    with pytest.raises(ProtectedBlockError):
        await client.delete_block_type(secret.id)
    assert (await client.read_block_type_by_slug("secret")).id == secret.id
    await client.delete_block_type(block_type.id)
    with pytest.raises(ObjectNotFound):
        await client.delete_block_type(block_type.id)
    with pytest.raises(ObjectNotFound):
        await client.read_block_document(document.id)  # gone with its type
