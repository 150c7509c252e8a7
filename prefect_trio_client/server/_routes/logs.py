"""Logs: shipped in batches, read back with filters."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import LogCreate
from prefect_trio_client.schemas.filters import LogFilter
from prefect_trio_client.schemas.sorting import LogSort
from prefect_trio_client.server._db import Tx
from prefect_trio_client.server._filters import LOG_SORTS
from prefect_trio_client.server._http import (
    Reply,
    api_of,
    json_body,
    ok,
    route,
    validate,
    validate_as,
)
from prefect_trio_client.server._ids import new_id
from prefect_trio_client.server._queries import PageBody, limit_of, logs_matching
from prefect_trio_client.server._tables import LOGS
from prefect_trio_client.server._time import iso

__all__ = ["ROUTES"]


class LogsBody(PageBody):
    """Body of ``/logs/filter``."""

    logs: LogFilter | None = None
    sort: LogSort | None = None


async def create(request: Request) -> Response:
    entries: list[LogCreate] = validate_as(list[LogCreate], await json_body(request))

    def work(tx: Tx) -> Reply:
        for entry in entries:
            tx.insert(
                LOGS,
                {
                    "id": str(new_id()),
                    "created": tx.now_iso,
                    "updated": tx.now_iso,
                    "name": entry.name,
                    "level": entry.level,
                    "message": entry.message,
                    "timestamp": iso(entry.timestamp),
                    "flow_run_id": None if entry.flow_run_id is None else str(entry.flow_run_id),
                    "task_run_id": None if entry.task_run_id is None else str(entry.task_run_id),
                },
            )
        return Reply(201, None)

    return await api_of(request).write(work)


async def filter_logs(request: Request) -> Response:
    api = api_of(request)
    body = validate(LogsBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)
    keys = LOG_SORTS[body.sort or LogSort.TIMESTAMP_ASC]
    return await api.read(
        lambda tx: ok(logs_matching(tx, body.logs).docs(tx, keys, body.offset or 0, limit))
    )


ROUTES = [
    route("/logs/", create, "POST"),
    route("/logs/filter", filter_logs, "POST"),
]
