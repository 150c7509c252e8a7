"""Health, greeting, versions and the CSRF token: the routes every client calls first."""

from __future__ import annotations

import secrets
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import ServerDefaultResultStorageUpdate
from prefect_trio_client.server._db import Tx
from prefect_trio_client.server._errors import ApiError, invalid_request, not_found
from prefect_trio_client.server._http import (
    Reply,
    api_of,
    json_body,
    no_content,
    ok,
    route,
    validate,
)
from prefect_trio_client.server._ids import new_id
from prefect_trio_client.server._tables import BLOCK_DOCUMENTS, CSRF_TOKENS, SERVER_SETTINGS
from prefect_trio_client.server._time import iso

__all__ = ["API_VERSION", "PREFECT_VERSION", "ROUTES"]

PREFECT_VERSION = "3.9.1"
"""The Prefect release whose API this server mirrors (``GET /admin/version``)."""

API_VERSION = "0.8.4"
"""Prefect's API version (``GET /version``), also what Prefect clients send."""


async def health(request: Request) -> Response:
    return ok(True).encode()


async def hello(request: Request) -> Response:
    return ok("\N{WAVING HAND SIGN}").encode()


async def admin_version(request: Request) -> Response:
    return ok(PREFECT_VERSION).encode()


async def version(request: Request) -> Response:
    return ok(API_VERSION).encode()


async def csrf_token(request: Request) -> Response:
    """A token for ``?client=`` (422 when CSRF protection is off, as Prefect answers)."""
    api = api_of(request)
    if not api.config.csrf_protection:
        raise ApiError(422, "CSRF protection is disabled.")
    client = request.query_params.get("client")
    if client is None:
        missing = {"type": "missing", "loc": ["query", "client"], "msg": "Field required"}
        raise invalid_request([{**missing, "input": None}], None)
    lifetime = api.config.csrf_token_lifetime
    return await api.write(lambda tx: _issue_token(tx, client, lifetime))


def _issue_token(tx: Tx, client: str, lifetime: timedelta) -> Reply:
    for stale in tx.find(CSRF_TOKENS):
        if stale["expiration"] <= tx.now_iso:
            tx.delete(CSRF_TOKENS, stale["id"])
    existing = tx.first(CSRF_TOKENS, client=client)
    token = {
        "id": existing["id"] if existing else str(new_id()),
        "created": existing["created"] if existing else tx.now_iso,
        "updated": tx.now_iso,
        "token": secrets.token_hex(32),
        "client": client,
        "expiration": iso(tx.now + lifetime),
    }
    if existing is None:
        tx.insert(CSRF_TOKENS, token)
    else:
        tx.update(CSRF_TOKENS, token)
    return ok(token)


# --------------------------------------------------------------------------- result storage
# The server's default result storage names a block document, which must exist (404 with
# Prefect's text otherwise); deleting the document does not clear the setting, as in Prefect.

_STORAGE = "default_result_storage"


def _storage_reply(block_id: str | None) -> Reply:
    return ok({"default_result_storage_block_id": block_id})


async def read_storage(request: Request) -> Response:
    def work(tx: Tx) -> Reply:
        setting = tx.get(SERVER_SETTINGS, _STORAGE)
        return _storage_reply(None if setting is None else setting["block_id"])

    return await api_of(request).read(work)


async def update_storage(request: Request) -> Response:
    body = validate(ServerDefaultResultStorageUpdate, await json_body(request))
    block_id = str(body.default_result_storage_block_id)

    def work(tx: Tx) -> Reply:
        if tx.get(BLOCK_DOCUMENTS, block_id) is None:
            raise not_found(f"Block document {block_id} not found.")
        setting = {"id": _STORAGE, "block_id": block_id}
        if tx.get(SERVER_SETTINGS, _STORAGE) is None:
            tx.insert(SERVER_SETTINGS, setting)
        else:
            tx.update(SERVER_SETTINGS, setting)
        return _storage_reply(block_id)

    return await api_of(request).write(work)


async def clear_storage(request: Request) -> Response:
    def work(tx: Tx) -> Reply:
        tx.delete(SERVER_SETTINGS, _STORAGE)
        return no_content()

    return await api_of(request).write(work)


ROUTES = [
    route("/health", health, "GET"),
    route("/hello", hello, "GET"),
    route("/admin/version", admin_version, "GET"),
    route("/version", version, "GET"),
    route("/csrf-token", csrf_token, "GET"),
    # issue 11: queues-misc
    route("/admin/storage", read_storage, "GET"),
    route("/admin/storage", update_storage, "PUT"),
    route("/admin/storage", clear_storage, "DELETE"),
]
