"""Flow run endpoints."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID, uuid4

from pydantic import StrictInt

from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import (
    body,
    filter_body,
    parse,
    parse_as,
    parse_list,
    url_path,
)
from prefect_trio_client.schemas.actions import FlowRunCreate, FlowRunUpdate
from prefect_trio_client.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from prefect_trio_client.schemas.objects import (
    FlowRun,
    FlowRunInput,
    FlowRunPolicy,
    State,
    StateType,
)
from prefect_trio_client.schemas.responses import OrchestrationResult
from prefect_trio_client.schemas.sorting import FlowRunSort

__all__ = [
    "count_flow_runs",
    "create_flow_run",
    "create_flow_run_input",
    "delete_flow_run",
    "delete_flow_run_input",
    "filter_flow_run_input",
    "post_flow_run",
    "read_flow_run",
    "read_flow_run_input",
    "read_flow_run_state",
    "read_flow_run_states",
    "read_flow_runs",
    "resume_flow_run",
    "set_flow_run_name",
    "update_flow_run",
    "update_flow_run_labels",
]


def create_flow_run(
    flow_id: UUID,
    *,
    name: str | None = None,
    parameters: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    parent_task_run_id: UUID | None = None,
    state: State | None = None,
    idempotency_key: str | None = None,
    work_pool_name: str | None = None,
    work_queue_name: str | None = None,
    job_variables: dict[str, Any] | None = None,
    flow_version: str | None = None,
    labels: dict[str, Any] | None = None,
) -> Plan[FlowRun]:
    """Create a run of a flow, PENDING unless `state` says otherwise.

    A run with the same `idempotency_key` for this flow is returned instead of a new one.
    With none given, a random key is sent, so a re-send after a lost answer finds the run
    the first send created instead of creating a second one.
    """
    create = FlowRunCreate(
        flow_id=flow_id,
        name=name,
        parameters=parameters or {},
        context=context or {},
        tags=list(tags or []),
        parent_task_run_id=parent_task_run_id,
        state=(state or State(type=StateType.PENDING)).to_state_create(),
        idempotency_key=idempotency_key if idempotency_key is not None else str(uuid4()),
        work_pool_name=work_pool_name,
        work_queue_name=work_queue_name,
        job_variables=job_variables,
        flow_version=flow_version,
        empirical_policy=FlowRunPolicy(retries=0, retry_delay=0),
        labels=labels or {},
    )
    return (yield from post_flow_run(create))


def post_flow_run(create: FlowRunCreate) -> Plan[FlowRun]:
    """Create the flow run `create` describes (the run engine sets fields that
    `create_flow_run` keeps as Prefect's client has them). An idempotency key makes the
    request safe to re-send."""
    response = yield Request(
        "POST", "/flow_runs/", json=body(create), idempotent=create.idempotency_key is not None
    )
    return parse(FlowRun, response)


def read_flow_run(flow_run_id: UUID) -> Plan[FlowRun]:
    """Raises `ObjectNotFound` for an unknown id."""
    response = yield Request("GET", url_path("flow_runs", flow_run_id))
    return parse(FlowRun, response)


def update_flow_run(
    flow_run_id: UUID,
    *,
    flow_version: str | None = None,
    parameters: dict[str, Any] | None = None,
    name: str | None = None,
    tags: list[str] | None = None,
    empirical_policy: FlowRunPolicy | None = None,
    infrastructure_pid: str | None = None,
    job_variables: dict[str, Any] | None = None,
) -> Plan[None]:
    """Change the fields given (only those are sent)."""
    given: dict[str, Any] = {
        "flow_version": flow_version,
        "parameters": parameters,
        "name": name,
        "tags": tags,
        "empirical_policy": empirical_policy,
        "infrastructure_pid": infrastructure_pid,
        "job_variables": job_variables,
    }
    update = FlowRunUpdate(**{k: v for k, v in given.items() if v is not None})
    yield Request("PATCH", url_path("flow_runs", flow_run_id), json=body(update))


def set_flow_run_name(flow_run_id: UUID, name: str) -> Plan[None]:
    """Rename a flow run."""
    update = FlowRunUpdate(name=name)
    yield Request("PATCH", url_path("flow_runs", flow_run_id), json=body(update))


def read_flow_runs(
    *,
    flow_filter: FlowFilter | None = None,
    flow_run_filter: FlowRunFilter | None = None,
    task_run_filter: TaskRunFilter | None = None,
    deployment_filter: DeploymentFilter | None = None,
    work_pool_filter: WorkPoolFilter | None = None,
    work_queue_filter: WorkQueueFilter | None = None,
    sort: FlowRunSort | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Plan[list[FlowRun]]:
    """Flow runs matching every filter given, sorted and paged."""
    filters = {
        "flows": flow_filter,
        "flow_runs": flow_run_filter,
        "task_runs": task_run_filter,
        "deployments": deployment_filter,
        "work_pools": work_pool_filter,
        "work_pool_queues": work_queue_filter,
    }
    request = filter_body(filters, sort=sort, limit=limit, offset=offset)
    response = yield Request("POST", "/flow_runs/filter", json=request, idempotent=True)
    return parse_list(FlowRun, response)


def count_flow_runs(
    *,
    flow_filter: FlowFilter | None = None,
    flow_run_filter: FlowRunFilter | None = None,
    task_run_filter: TaskRunFilter | None = None,
    deployment_filter: DeploymentFilter | None = None,
    work_pool_filter: WorkPoolFilter | None = None,
    work_queue_filter: WorkQueueFilter | None = None,
) -> Plan[int]:
    """How many flow runs match every filter given."""
    filters = {
        "flows": flow_filter,
        "flow_runs": flow_run_filter,
        "task_runs": task_run_filter,
        "deployments": deployment_filter,
        "work_pools": work_pool_filter,
        "work_pool_queues": work_queue_filter,
    }
    response = yield Request("POST", "/flow_runs/count", json=filter_body(filters), idempotent=True)
    count: int = parse_as(StrictInt, response, "a count")
    return count


def read_flow_run_states(flow_run_id: UUID) -> Plan[list[State]]:
    """Every state the flow run has been in, oldest first."""
    response = yield Request("GET", "/flow_run_states/", params={"flow_run_id": str(flow_run_id)})
    return parse_list(State, response)


def resume_flow_run(
    flow_run_id: UUID, run_input: dict[str, Any] | None = None
) -> Plan[OrchestrationResult]:
    """Resume a paused flow run (ABORT when it is not paused)."""
    response = yield Request(
        "POST", url_path("flow_runs", flow_run_id, "resume"), json={"run_input": run_input}
    )
    return parse(OrchestrationResult, response)


def update_flow_run_labels(flow_run_id: UUID, labels: dict[str, Any]) -> Plan[None]:
    """Add or replace labels of a flow run (labels not named are kept)."""
    yield Request("PATCH", url_path("flow_runs", flow_run_id, "labels"), json=dict(labels))


def delete_flow_run(flow_run_id: UUID) -> Plan[None]:
    """Raises `ObjectNotFound` for an unknown id."""
    yield Request("DELETE", url_path("flow_runs", flow_run_id))


# --------------------------------------------------------------------------- issue 11: queues-misc

#: Prefect's rule for input keys (checked by its client before sending, as here).
_INPUT_KEY = re.compile(r"[a-z0-9-]*")


def read_flow_run_state(flow_run_state_id: UUID) -> Plan[State]:
    """One state of a flow run, by the state's id. Raises `ObjectNotFound` when unknown."""
    response = yield Request("GET", url_path("flow_run_states", flow_run_state_id))
    return parse(State, response)


def create_flow_run_input(
    flow_run_id: UUID, key: str, value: str, sender: str | None = None
) -> Plan[None]:
    """Store `value` (JSON text) under `key` for the flow run.

    Raises:
        ValueError: The key has characters other than lowercase letters, digits and dashes.
        ObjectAlreadyExists: The run already has an input of that key.
        ObjectNotFound: No flow run has that id.
    """
    if not _INPUT_KEY.fullmatch(key):
        raise ValueError(
            f"flow run input key {key!r} must contain only lowercase letters, digits and dashes"
        )
    request = {"key": key, "value": value, "sender": sender}
    yield Request("POST", url_path("flow_runs", flow_run_id, "input"), json=request)


def read_flow_run_input(flow_run_id: UUID, key: str) -> Plan[str]:
    """The stored value (JSON text, undecoded). Raises `ObjectNotFound` for an unknown key."""
    response = yield Request("GET", url_path("flow_runs", flow_run_id, "input", key))
    value: str = response.text
    return value


def filter_flow_run_input(
    flow_run_id: UUID, key_prefix: str, limit: int, exclude_keys: set[str]
) -> Plan[list[FlowRunInput]]:
    """Up to `limit` inputs whose key starts with `key_prefix`, oldest first, but none of
    `exclude_keys`."""
    request = {"prefix": key_prefix, "limit": limit, "exclude_keys": sorted(exclude_keys)}
    response = yield Request(
        "POST",
        url_path("flow_runs", flow_run_id, "input", "filter"),
        json=request,
        idempotent=True,
    )
    return parse_list(FlowRunInput, response)


def delete_flow_run_input(flow_run_id: UUID, key: str) -> Plan[None]:
    """Raises `ObjectNotFound` for an unknown key."""
    yield Request("DELETE", url_path("flow_runs", flow_run_id, "input", key))
