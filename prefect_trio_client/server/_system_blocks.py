"""Prefect's protected system block types, installed in every new embedded database.

A Prefect server installs these at startup (``webhook``, ``secret``, ``local-file-system``)
and refuses to delete them; the embedded server does the same (see ``_tables``' migration
that creates the block tables). The types and schemas are as Prefect 3.9.1 registers them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SYSTEM_BLOCKS"]

SYSTEM_BLOCKS: tuple[dict[str, Any], ...] = (
    {
        "block_schema": {
            "capabilities": ["write-path", "put-directory", "get-directory", "read-path"],
            "checksum": "sha256:0fc8b7f936f38f465715ef2df4a817ac9fe38b80bb01d5c6c9649a6da6ae6971",
            "fields": {
                "block_schema_references": {},
                "block_type_slug": "local-file-system",
                "description": "Store data as a file on a local file system.",
                "properties": {
                    "basepath": {
                        "anyOf": [{"type": "string"}, {"type": "null"}],
                        "default": None,
                        "description": "Default local path for this block to write to.",
                        "position": 0,
                        "title": "Basepath",
                    }
                },
                "secret_fields": [],
                "title": "LocalFileSystem",
                "type": "object",
            },
            "version": "3.9.1",
        },
        "block_type": {
            "code_example": "Load stored local file system config:\n"
            "```python\n"
            "from prefect.filesystems import LocalFileSystem\n"
            "\n"
            "local_file_system_block = "
            'LocalFileSystem.load("BLOCK_NAME")\n'
            "```",
            "description": "Store data as a file on a local file system.",
            "documentation_url": "https://www.prefect.io/docs/latest/develop/results#specifying-a-default-filesystem",
            "is_protected": True,
            "logo_url": "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/filesystem.png",
            "name": "Local File System",
            "slug": "local-file-system",
        },
    },
    {
        "block_schema": {
            "capabilities": [],
            "checksum": "sha256:c078ed9c1e813e224c0b353d7ad4564a11d51d3198d9ac0686478165a1911c78",
            "fields": {
                "block_schema_references": {},
                "block_type_slug": "secret",
                "description": "A block that represents a secret value. The "
                "value stored in this block will be obfuscated "
                "when this block is viewed or edited in the UI.",
                "properties": {
                    "value": {
                        "anyOf": [
                            {"format": "password", "type": "string", "writeOnly": True},
                            {"title": "string", "type": "string"},
                            {"$ref": "#/definitions/JsonValue", "title": "JSON"},
                        ],
                        "description": "A value that should be kept secret.",
                        "examples": [
                            "sk-1234567890",
                            {"password": "s3cr3t", "username": "johndoe"},
                        ],
                        "format": "password",
                        "position": 0,
                        "title": "Value",
                        "writeOnly": True,
                    }
                },
                "required": ["value"],
                "secret_fields": ["value", "value"],
                "title": "Secret",
                "type": "object",
            },
            "version": "3.9.1",
        },
        "block_type": {
            "code_example": "```python\n"
            "from prefect.blocks.system import Secret\n"
            "\n"
            'Secret(value="sk-1234567890").save("BLOCK_NAME", '
            "overwrite=True)\n"
            "\n"
            'secret_block = Secret.load("BLOCK_NAME")\n'
            "\n"
            "# Access the stored secret\n"
            "secret_block.get()\n"
            "```",
            "description": "A block that represents a secret value. The value stored in "
            "this block will be obfuscated when this block is viewed or "
            "edited in the UI.",
            "documentation_url": "https://www.prefect.io/docs/latest/develop/blocks",
            "is_protected": True,
            "logo_url": "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/secret.png",
            "name": "Secret",
            "slug": "secret",
        },
    },
    {
        "block_schema": {
            "capabilities": [],
            "checksum": "sha256:58bb03f0d84592252ad568ed9a8c899792ae5d0ad2dd4a2428e99674f9050cf1",
            "fields": {
                "block_schema_references": {},
                "block_type_slug": "webhook",
                "description": "Block that enables calling webhooks.",
                "properties": {
                    "allow_private_urls": {
                        "default": True,
                        "description": "Whether to "
                        "allow "
                        "notifications "
                        "to private "
                        "URLs. "
                        "Defaults "
                        "to True.",
                        "position": 3,
                        "title": "Allow Private Urls",
                        "type": "boolean",
                    },
                    "headers": {
                        "description": "A dictionary of headers to send with the webhook request.",
                        "position": 2,
                        "title": "Webhook Headers",
                        "type": "object",
                    },
                    "method": {
                        "default": "POST",
                        "description": "The webhook request method. Defaults to `POST`.",
                        "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"],
                        "position": 0,
                        "title": "Method",
                        "type": "string",
                    },
                    "url": {
                        "description": "The webhook URL.",
                        "examples": ["https://hooks.slack.com/XXX"],
                        "format": "password",
                        "position": 1,
                        "title": "Webhook URL",
                        "type": "string",
                        "writeOnly": True,
                    },
                    "verify": {
                        "default": True,
                        "description": "Whether or not to "
                        "enforce a secure "
                        "connection to the "
                        "webhook.",
                        "position": 4,
                        "title": "Verify",
                        "type": "boolean",
                    },
                },
                "required": ["url"],
                "secret_fields": ["url", "headers.*"],
                "title": "Webhook",
                "type": "object",
            },
            "version": "3.9.1",
        },
        "block_type": {
            "code_example": "```python\n"
            "from prefect.blocks.webhook import Webhook\n"
            "\n"
            'webhook_block = Webhook.load("BLOCK_NAME")\n'
            "```",
            "description": "Block that enables calling webhooks.",
            "documentation_url": "https://www.prefect.io/docs/latest/automate/events/webhook-triggers",
            "is_protected": True,
            "logo_url": "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/webhook.png",
            "name": "Webhook",
            "slug": "webhook",
        },
    },
)
