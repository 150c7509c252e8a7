"""Work pool, work queue and worker endpoints."""

from __future__ import annotations

from datetime import datetime
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
)
from prefect_trio_client.schemas.filters import WorkPoolFilter, WorkQueueFilter
from prefect_trio_client.schemas.objects import WorkerFlowRunResponse, WorkPool, WorkQueue

__all__ = [
    "create_work_pool",
    "create_work_queue",
    "delete_work_pool",
    "get_scheduled_flow_runs_for_work_pool",
    "read_work_pool",
    "read_work_pools",
    "read_work_queue_by_name",
    "read_work_queues",
    "send_worker_heartbeat",
    "update_work_pool",
]


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
