"""Log endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._read_back import send_or_read_back
from prefect_trio_client.orchestration._wire import decode_json, filter_body, parse_list
from prefect_trio_client.schemas.actions import LogCreate
from prefect_trio_client.schemas.filters import (
    LogFilter,
    LogFilterFlowRunId,
    LogFilterTaskRunId,
    LogFilterTimestamp,
)
from prefect_trio_client.schemas.objects import Log
from prefect_trio_client.schemas.sorting import LogSort

__all__ = ["create_logs", "read_logs"]

#: Lines read back to find one line of a batch (lines of one run at one instant).
_PROBE_LIMIT = 200


def create_logs(logs: Iterable[LogCreate | dict[str, Any]]) -> Plan[None]:
    """Ship log entries in one request (dicts are validated as `LogCreate` first).

    Logs are not deduped by the server, so a batch whose outcome is unknown (its answer
    was lost, or was a 500, 502 or 504) is sent again only when its first line with a
    run id is not stored (read back by run and timestamp); a batch without run ids
    raises instead.

    The answer is read although it carries nothing (Prefect answers JSON ``null``): a
    success that is not JSON, such as a proxy's HTML page or an empty body, did not come
    from Prefect, so the lines were not stored, and the call raises
    `ResponseDecodeError` instead of returning as if they were.
    """
    models = [log if isinstance(log, LogCreate) else LogCreate.model_validate(log) for log in logs]
    request = Request("POST", "/logs/", json=[log.model_dump(mode="json") for log in models])
    probe = next((log for log in models if log.flow_run_id or log.task_run_id), None)
    if probe is None:  # nothing to find them by: an unknown outcome reaches the caller
        response = yield request
    else:
        response = yield from send_or_read_back(request, lambda: _stored(probe))
        if response is None:  # the batch was stored (one insert: all of it or none)
            return
    decode_json(response)


def _stored(probe: LogCreate) -> Plan[bool]:
    """Whether the server holds the line `probe` (a line of a batch whose outcome is
    unknown), found by its run and timestamp."""
    at = LogFilterTimestamp(after_=probe.timestamp, before_=probe.timestamp)
    if probe.flow_run_id is not None:
        by_run = LogFilter(timestamp=at, flow_run_id=LogFilterFlowRunId(any_=[probe.flow_run_id]))
    else:
        assert probe.task_run_id is not None  # a probe has one of the two
        by_run = LogFilter(timestamp=at, task_run_id=LogFilterTaskRunId(any_=[probe.task_run_id]))
    found = yield from read_logs(by_run, limit=_PROBE_LIMIT)
    # The server strips NUL characters from what it stores.
    wanted = (probe.name.replace("\x00", ""), probe.level, probe.message.replace("\x00", ""))
    return any(
        (log.name, log.level, log.message) == wanted
        and log.task_run_id == probe.task_run_id
        and log.flow_run_id == probe.flow_run_id
        for log in found
    )


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
