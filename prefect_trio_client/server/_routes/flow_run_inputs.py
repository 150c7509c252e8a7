"""Flow run inputs: keyed JSON texts sent to a run (what ``pause_flow_run(wait_for_input=)``
and ``send_input`` exchange), one per key of a run."""

from __future__ import annotations

import re
import sqlite3

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import ApiError, not_found
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
)
from prefect_trio_client.server._ids import new_id
from prefect_trio_client.server._runs import FLOW_RUN_NOT_FOUND
from prefect_trio_client.server._tables import FLOW_RUN_INPUTS, FLOW_RUNS

__all__ = ["ROUTES"]

INPUT_NOT_FOUND = "Flow run input not found"
_KEY = re.compile(r"[a-z0-9-]*")


class InputBody(BaseModel):
    """Body of ``POST /flow_runs/{id}/input``."""

    model_config = ConfigDict(extra="ignore")

    key: str
    value: str
    sender: str | None = None


class InputFilterBody(BaseModel):
    """Body of ``POST /flow_runs/{id}/input/filter`` (Prefect's defaults)."""

    model_config = ConfigDict(extra="ignore")

    prefix: str
    limit: int = Field(1, ge=0)
    exclude_keys: list[str] = Field(default_factory=list)


async def create(request: Request) -> Response:
    run_id = path_id(request)
    body = validate(InputBody, await json_body(request))
    if not _KEY.fullmatch(body.key):
        raise ApiError(422, "key must only contain lowercase letters, numbers, and dashes.")

    def work(tx: Tx) -> Reply:
        if tx.get(FLOW_RUNS, run_id) is None:
            raise not_found(FLOW_RUN_NOT_FOUND)
        document: Doc = {
            "id": str(new_id()),
            "created": tx.now_iso,
            "updated": tx.now_iso,
            "flow_run_id": run_id,
            "key": body.key,
            "value": body.value,
            "sender": body.sender,
        }
        try:
            tx.insert(FLOW_RUN_INPUTS, document)
        except sqlite3.IntegrityError:
            raise ApiError(409, "A flow run input with this key already exists.") from None
        return created(None)

    return await api_of(request).write(work)


def _input(tx: Tx, run_id: str, key: str) -> Doc:
    found = tx.first(FLOW_RUN_INPUTS, flow_run_id=run_id, key=key)
    if found is None:
        raise not_found(INPUT_NOT_FOUND)
    return found


async def read(request: Request) -> Response:
    """The value as stored, as plain text (Prefect does not wrap it in JSON)."""
    run_id = path_id(request)
    key = request.path_params["key"]
    found = await api_of(request).database.read(lambda tx: _input(tx, run_id, key))
    return PlainTextResponse(found["value"])


async def filter_inputs(request: Request) -> Response:
    run_id = path_id(request)
    body = validate(InputFilterBody, await json_body(request))
    excluded = set(body.exclude_keys)

    def work(tx: Tx) -> Reply:
        inputs = [
            doc
            for doc in tx.find(FLOW_RUN_INPUTS, flow_run_id=run_id)
            if doc["key"].startswith(body.prefix) and doc["key"] not in excluded
        ]
        return ok(inputs[: body.limit])

    return await api_of(request).read(work)


async def delete(request: Request) -> Response:
    run_id = path_id(request)
    key = request.path_params["key"]

    def work(tx: Tx) -> Reply:
        tx.delete(FLOW_RUN_INPUTS, _input(tx, run_id, key)["id"])
        return no_content()

    return await api_of(request).write(work)


ROUTES = [
    route("/flow_runs/{id:uuid}/input", create, "POST"),
    route("/flow_runs/{id:uuid}/input/filter", filter_inputs, "POST"),
    route("/flow_runs/{id:uuid}/input/{key}", read, "GET"),
    route("/flow_runs/{id:uuid}/input/{key}", delete, "DELETE"),
]
