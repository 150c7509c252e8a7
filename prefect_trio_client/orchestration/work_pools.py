"""Work pool, work queue and worker endpoints."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from prefect_trio_client.exceptions import ObjectAlreadyExists
from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import (
    body,
    filter_body,
    parse,
    parse_as,
    parse_list,
    url_path,
    wire_datetime,
)
from prefect_trio_client.schemas.actions import (
    WorkPoolCreate,
    WorkPoolUpdate,
    WorkQueueCreate,
    WorkQueueUpdate,
)
from prefect_trio_client.schemas.filters import (
    WorkerFilter,
    WorkPoolFilter,
    WorkQueueFilter,
    WorkQueueFilterName,
)
from prefect_trio_client.schemas.objects import (
    FlowRun,
    Worker,
    WorkerFlowRunResponse,
    WorkPool,
    WorkQueue,
    WorkQueueStatusDetail,
)
from prefect_trio_client.schemas.responses import (
    WorkPoolConcurrencyStatus,
    WorkQueueConcurrencyStatus,
)

__all__ = [
    "create_work_pool",
    "create_work_queue",
    "delete_work_pool",
    "delete_work_queue_by_id",
    "get_runs_in_work_queue",
    "get_scheduled_flow_runs_for_work_pool",
    "match_work_queues",
    "read_work_pool",
    "read_work_pool_concurrency_status",
    "read_work_pools",
    "read_work_queue",
    "read_work_queue_by_name",
    "read_work_queue_concurrency_status",
    "read_work_queue_status",
    "read_work_queues",
    "read_worker_metadata",
    "read_workers_for_work_pool",
    "send_worker_heartbeat",
    "update_work_pool",
    "update_work_queue",
]

#: How many queues `match_work_queues` asks for per request (as Prefect pages).
MATCH_PAGE_SIZE = 100


def create_work_pool(work_pool: WorkPoolCreate, overwrite: bool = False) -> Plan[WorkPool]:
    """Create a work pool; with `overwrite`, update an existing one of that name instead.

    Raises:
        ObjectAlreadyExists: The pool exists and `overwrite` is false.
    """
    try:
        response = yield Request("POST", "/work_pools/", json=body(work_pool))
    except ObjectAlreadyExists:
        if not overwrite:
            raise
        update = WorkPoolUpdate(
            description=work_pool.description,
            is_paused=work_pool.is_paused,
            base_job_template=work_pool.base_job_template,
            concurrency_limit=work_pool.concurrency_limit,
            storage_configuration=work_pool.storage_configuration,
        )
        yield Request("PATCH", url_path("work_pools", work_pool.name), json=body(update))
        response = yield Request("GET", url_path("work_pools", work_pool.name))
    return parse(WorkPool, response)


def read_work_pool(work_pool_name: str) -> Plan[WorkPool]:
    """Raises `ObjectNotFound` for an unknown name."""
    response = yield Request("GET", url_path("work_pools", work_pool_name))
    return parse(WorkPool, response)


def update_work_pool(work_pool_name: str, work_pool: WorkPoolUpdate) -> Plan[None]:
    """Change the fields set on `work_pool`."""
    yield Request("PATCH", url_path("work_pools", work_pool_name), json=body(work_pool))


def read_work_pools(
    limit: int | None = None,
    offset: int = 0,
    work_pool_filter: WorkPoolFilter | None = None,
) -> Plan[list[WorkPool]]:
    """Work pools matching the filter, paged."""
    request = filter_body({"work_pools": work_pool_filter}, limit=limit, offset=offset)
    response = yield Request("POST", "/work_pools/filter", json=request, idempotent=True)
    return parse_list(WorkPool, response)


def delete_work_pool(work_pool_name: str) -> Plan[None]:
    """Raises `ObjectNotFound` for an unknown name."""
    yield Request("DELETE", url_path("work_pools", work_pool_name))


def send_worker_heartbeat(
    work_pool_name: str,
    worker_name: str,
    heartbeat_interval_seconds: float | None = None,
    get_worker_id: bool = False,
    worker_metadata: dict[str, Any] | None = None,
) -> Plan[UUID | None]:
    """Tell the pool this worker is alive; with `get_worker_id`, return its id.

    Safe to re-send: the server upserts the worker by pool and name.
    """
    request: dict[str, Any] = {
        "name": worker_name,
        "heartbeat_interval_seconds": heartbeat_interval_seconds,
    }
    if worker_metadata:
        request["metadata"] = worker_metadata
    if get_worker_id:
        request["return_id"] = True
    response = yield Request(
        "POST",
        url_path("work_pools", work_pool_name, "workers", "heartbeat"),
        json=request,
        idempotent=True,
    )
    if get_worker_id and response.status_code == 200:
        worker_id: UUID = parse_as(UUID, response, "a worker id")
        return worker_id
    return None


def get_scheduled_flow_runs_for_work_pool(
    work_pool_name: str,
    work_queue_names: list[str] | None = None,
    scheduled_before: datetime | None = None,
) -> Plan[list[WorkerFlowRunResponse]]:
    """Runs due in the pool (optionally only these queues, due before a time).

    A read (it only records that the queues were polled), so safe to re-send.
    """
    request: dict[str, Any] = {}
    if work_queue_names is not None:
        request["work_queue_names"] = list(work_queue_names)
    if scheduled_before is not None:
        request["scheduled_before"] = wire_datetime(scheduled_before, "scheduled_before")
    response = yield Request(
        "POST",
        url_path("work_pools", work_pool_name, "get_scheduled_flow_runs"),
        json=request,
        idempotent=True,
    )
    return parse_list(WorkerFlowRunResponse, response)


def create_work_queue(
    name: str,
    description: str | None = None,
    is_paused: bool | None = None,
    concurrency_limit: int | None = None,
    priority: int | None = None,
    work_pool_name: str | None = None,
) -> Plan[WorkQueue]:
    """Create a queue in a pool (or in the default pool when none is named)."""
    given: dict[str, Any] = {
        "description": description,
        "is_paused": is_paused,
        "concurrency_limit": concurrency_limit,
        "priority": priority,
    }
    create = WorkQueueCreate(name=name, **{k: v for k, v in given.items() if v is not None})
    path = url_path("work_pools", work_pool_name, "queues") if work_pool_name else "/work_queues/"
    response = yield Request("POST", path, json=body(create))
    return parse(WorkQueue, response)


def read_work_queue_by_name(name: str, work_pool_name: str | None = None) -> Plan[WorkQueue]:
    """Raises `ObjectNotFound` for an unknown queue (or pool)."""
    path = (
        url_path("work_pools", work_pool_name, "queues", name)
        if work_pool_name
        else url_path("work_queues", "name", name)
    )
    response = yield Request("GET", path)
    return parse(WorkQueue, response)


def read_work_queues(
    work_pool_name: str | None = None,
    work_queue_filter: WorkQueueFilter | None = None,
    limit: int | None = None,
    offset: int | None = None,
) -> Plan[list[WorkQueue]]:
    """Queues of a pool (or of every pool), filtered and paged."""
    request = filter_body({"work_queues": work_queue_filter}, limit=limit, offset=offset)
    path = (
        url_path("work_pools", work_pool_name, "queues", "filter")
        if work_pool_name
        else "/work_queues/filter"
    )
    response = yield Request("POST", path, json=request, idempotent=True)
    return parse_list(WorkQueue, response)


# --------------------------------------------------------------------------- issue 11: queues-misc


def read_work_queue(id: UUID) -> Plan[WorkQueue]:
    """Raises `ObjectNotFound` for an unknown id."""
    response = yield Request("GET", url_path("work_queues", id))
    return parse(WorkQueue, response)


def read_work_queue_status(id: UUID) -> Plan[WorkQueueStatusDetail]:
    """The queue's health: late runs and how recently a worker polled it."""
    response = yield Request("GET", url_path("work_queues", id, "status"))
    return parse(WorkQueueStatusDetail, response)


def read_work_queue_concurrency_status(
    id: UUID, page: int = 1, limit: int | None = None
) -> Plan[WorkQueueConcurrencyStatus]:
    """One page (from 1) of the runs holding the queue's slots (`limit`: server default).

    A read sent as a POST, so safe to re-send.
    """
    request: dict[str, Any] = {"page": page}
    if limit is not None:
        request["limit"] = limit
    response = yield Request(
        "POST", url_path("work_queues", id, "concurrency_status"), json=request, idempotent=True
    )
    return parse(WorkQueueConcurrencyStatus, response)


def read_work_pool_concurrency_status(
    work_pool_name: str,
    page: int = 1,
    limit: int | None = None,
    flow_run_limit: int = 10,
) -> Plan[WorkPoolConcurrencyStatus]:
    """One page of the pool's queues, each with up to `flow_run_limit` slot holders.

    A read sent as a POST, so safe to re-send.
    """
    request: dict[str, Any] = {"page": page}
    if limit is not None:
        request["limit"] = limit
    request["flow_run_limit"] = flow_run_limit
    response = yield Request(
        "POST",
        url_path("work_pools", work_pool_name, "concurrency_status"),
        json=request,
        idempotent=True,
    )
    return parse(WorkPoolConcurrencyStatus, response)


def update_work_queue(id: UUID, **kwargs: Any) -> Plan[None]:
    """Change the given fields of the queue (the fields of `WorkQueueUpdate`).

    Raises:
        ValueError: No field was given (Prefect refuses an empty update too).
        ObjectNotFound: No queue has that id.
    """
    if not kwargs:
        raise ValueError("update_work_queue needs at least one field to change")
    yield Request("PATCH", url_path("work_queues", id), json=body(WorkQueueUpdate(**kwargs)))


def delete_work_queue_by_id(id: UUID) -> Plan[None]:
    """Raises `ObjectNotFound` for an unknown id."""
    yield Request("DELETE", url_path("work_queues", id))


def get_runs_in_work_queue(
    id: UUID, limit: int = 10, scheduled_before: datetime | None = None
) -> Plan[list[FlowRun]]:
    """Scheduled runs of the queue due before `scheduled_before` (default: now).

    A read (it records that the queue was polled), so safe to re-send.
    """
    before = scheduled_before if scheduled_before is not None else datetime.now(timezone.utc)
    request = {"limit": limit, "scheduled_before": wire_datetime(before, "scheduled_before")}
    response = yield Request(
        "POST", url_path("work_queues", id, "get_runs"), json=request, idempotent=True
    )
    return parse_list(FlowRun, response)


def match_work_queues(
    prefixes: list[str], work_pool_name: str | None = None
) -> Plan[list[WorkQueue]]:
    """Every queue whose name starts with one of `prefixes` (of one pool, or of all),
    read page by page until a page comes back empty, as Prefect does."""
    matches = WorkQueueFilter(name=WorkQueueFilterName(startswith_=list(prefixes)))
    found: list[WorkQueue] = []
    page = 0
    while True:
        batch = yield from read_work_queues(
            work_pool_name=work_pool_name,
            work_queue_filter=matches,
            limit=MATCH_PAGE_SIZE,
            offset=page * MATCH_PAGE_SIZE,
        )
        if not batch:
            return found
        found.extend(batch)
        page += 1


def read_workers_for_work_pool(
    work_pool_name: str,
    worker_filter: WorkerFilter | None = None,
    offset: int | None = None,
    limit: int | None = None,
) -> Plan[list[Worker]]:
    """The pool's workers matching the filter, paged."""
    request = filter_body({"workers": worker_filter}, offset=offset, limit=limit)
    response = yield Request(
        "POST",
        url_path("work_pools", work_pool_name, "workers", "filter"),
        json=request,
        idempotent=True,
    )
    return parse_list(Worker, response)


def read_worker_metadata() -> Plan[dict[str, Any]]:
    """The worker types the server knows, by collection (Prefect's collection registry
    view ``aggregate-worker-metadata``; the embedded server publishes none)."""
    response = yield Request("GET", "/collections/views/aggregate-worker-metadata")
    metadata: dict[str, Any] = parse_as(dict[str, Any], response, "a JSON object")
    return metadata
