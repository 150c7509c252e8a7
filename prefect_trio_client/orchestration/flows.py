"""Flow endpoints."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import (
    body,
    filter_body,
    parse,
    parse_id,
    parse_list,
    url_path,
)
from prefect_trio_client.schemas.actions import FlowCreate
from prefect_trio_client.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from prefect_trio_client.schemas.objects import Flow
from prefect_trio_client.schemas.sorting import FlowSort

__all__ = [
    "HasName",
    "create_flow",
    "create_flow_from_name",
    "delete_flow",
    "read_flow",
    "read_flow_by_name",
    "read_flows",
]


class HasName(Protocol):
    """What `create_flow` needs of a flow: its name (a Prefect ``Flow``, our ``@flow``,
    or any object with a ``name`` string)."""

    @property
    def name(self) -> str: ...


def create_flow_from_name(flow_name: str) -> Plan[UUID]:
    """Create the flow, or find the existing flow of that name; return its id.

    Safe to re-send: the server upserts by name.
    """
    response = yield Request(
        "POST", "/flows/", json=body(FlowCreate(name=flow_name)), idempotent=True
    )
    return parse_id(response)


def create_flow(flow: HasName) -> Plan[UUID]:
    """`create_flow_from_name` for a flow object: Prefect takes its ``Flow``; any object
    with a ``name`` attribute will do here (the name is all the API stores)."""
    flow_id: UUID = yield from create_flow_from_name(flow.name)
    return flow_id


def read_flow(flow_id: UUID) -> Plan[Flow]:
    """Raises `ObjectNotFound` for an unknown id."""
    response = yield Request("GET", url_path("flows", flow_id))
    return parse(Flow, response)


def read_flow_by_name(flow_name: str) -> Plan[Flow]:
    """Raises `ObjectNotFound` for an unknown name."""
    response = yield Request("GET", url_path("flows", "name", flow_name))
    return parse(Flow, response)


def read_flows(
    *,
    flow_filter: FlowFilter | None = None,
    flow_run_filter: FlowRunFilter | None = None,
    task_run_filter: TaskRunFilter | None = None,
    deployment_filter: DeploymentFilter | None = None,
    work_pool_filter: WorkPoolFilter | None = None,
    work_queue_filter: WorkQueueFilter | None = None,
    sort: FlowSort | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Plan[list[Flow]]:
    """Flows matching every filter given, sorted and paged."""
    filters = {
        "flows": flow_filter,
        "flow_runs": flow_run_filter,
        "task_runs": task_run_filter,
        "deployments": deployment_filter,
        "work_pools": work_pool_filter,
        "work_queues": work_queue_filter,
    }
    request = filter_body(filters, sort=sort, limit=limit, offset=offset)
    response = yield Request("POST", "/flows/filter", json=request, idempotent=True)
    return parse_list(Flow, response)


def delete_flow(flow_id: UUID) -> Plan[None]:
    """Raises `ObjectNotFound` for an unknown id."""
    yield Request("DELETE", url_path("flows", flow_id))
