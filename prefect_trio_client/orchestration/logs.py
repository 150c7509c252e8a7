"""Log endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import decode_json, filter_body, parse_list
from prefect_trio_client.schemas.actions import LogCreate
from prefect_trio_client.schemas.filters import LogFilter
from prefect_trio_client.schemas.objects import Log
from prefect_trio_client.schemas.sorting import LogSort

__all__ = ["create_logs", "read_logs"]


def create_logs(logs: Iterable[LogCreate | dict[str, Any]]) -> Plan[None]:
    """Ship log entries in one request (dicts are validated as `LogCreate` first).

    The answer is read although it carries nothing (Prefect answers JSON ``null``): a
    success that is not JSON, such as a proxy's HTML page or an empty body, did not come
    from Prefect, so the lines were not stored, and the call raises
    `ResponseDecodeError` instead of returning as if they were.
    """
    entries = [
        (log if isinstance(log, LogCreate) else LogCreate.model_validate(log)).model_dump(
            mode="json"
        )
        for log in logs
    ]
    response = yield Request("POST", "/logs/", json=entries)
    decode_json(response)


def read_logs(
    log_filter: LogFilter | None = None,
    limit: int | None = None,
    offset: int | None = None,
    sort: LogSort = LogSort.TIMESTAMP_ASC,
) -> Plan[list[Log]]:
    """Logs matching the filter, oldest first by default."""
    request = filter_body({"logs": log_filter}, limit=limit, offset=offset, sort=sort)
    response = yield Request("POST", "/logs/filter", json=request, idempotent=True)
    return parse_list(Log, response)
