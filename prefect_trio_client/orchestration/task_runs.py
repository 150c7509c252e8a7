"""Task run endpoints."""

from __future__ import annotations

from uuid import UUID

from prefect_trio_client.base import PrefectResponse
from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import body, filter_body, parse, parse_list, url_path
from prefect_trio_client.schemas.actions import TaskRunCreate, TaskRunUpdate
from prefect_trio_client.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
)
from prefect_trio_client.schemas.objects import (
    AnyTaskRunInput,
    State,
    StateType,
    TaskRun,
    TaskRunPolicy,
)
from prefect_trio_client.schemas.sorting import TaskRunSort

__all__ = [
    "create_task_run",
    "delete_task_run",
    "post_task_run",
    "read_task_run",
    "read_task_run_states",
    "read_task_runs",
    "set_task_run_name",
]


def create_task_run(
    *,
    flow_run_id: UUID | None,
    task_key: str,
    dynamic_key: str,
    name: str | None = None,
    state: State | None = None,
    task_inputs: dict[str, list[AnyTaskRunInput]] | None = None,
    tags: list[str] | None = None,
    id: UUID | None = None,  # Prefect's name for the client-chosen id
) -> Plan[TaskRun]:
    """Create a task run, PENDING unless `state` says otherwise.

    ``(flow_run_id, task_key, dynamic_key)`` identifies a task run: creating it again
    returns the existing one. So with a `flow_run_id` the request is safe to re-send
    after a lost answer; without one the server's lookup is not atomic, so it is not.
    """
    create = TaskRunCreate(
        id=id,
        flow_run_id=flow_run_id,
        task_key=task_key,
        dynamic_key=dynamic_key,
        name=name,
        state=(state or State(type=StateType.PENDING)).to_state_create(),
        task_inputs=task_inputs or {},
        tags=list(tags or []),
        empirical_policy=TaskRunPolicy(),
    )
    return (yield from post_task_run(create))


def post_task_run(create: TaskRunCreate) -> Plan[TaskRun]:
    """Create the task run `create` describes (see `create_task_run` on re-sends)."""
    response = yield Request(
        "POST", "/task_runs/", json=body(create), idempotent=create.flow_run_id is not None
    )
    return parse(TaskRun, response)


def read_task_run(task_run_id: UUID) -> Plan[TaskRun]:
    """Raises `ObjectNotFound` for an unknown id."""
    response = yield Request("GET", url_path("task_runs", task_run_id))
    return parse(TaskRun, response)


def read_task_runs(
    *,
    flow_filter: FlowFilter | None = None,
    flow_run_filter: FlowRunFilter | None = None,
    task_run_filter: TaskRunFilter | None = None,
    deployment_filter: DeploymentFilter | None = None,
    sort: TaskRunSort | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Plan[list[TaskRun]]:
    """Task runs matching every filter given, sorted and paged."""
    filters = {
        "flows": flow_filter,
        "flow_runs": flow_run_filter,
        "task_runs": task_run_filter,
        "deployments": deployment_filter,
    }
    request = filter_body(filters, sort=sort, limit=limit, offset=offset)
    response = yield Request("POST", "/task_runs/filter", json=request, idempotent=True)
    return parse_list(TaskRun, response)


def read_task_run_states(task_run_id: UUID) -> Plan[list[State]]:
    """Every state the task run has been in, oldest first."""
    response = yield Request("GET", "/task_run_states/", params={"task_run_id": str(task_run_id)})
    return parse_list(State, response)


def delete_task_run(task_run_id: UUID) -> Plan[None]:
    """Raises `ObjectNotFound` for an unknown id."""
    yield Request("DELETE", url_path("task_runs", task_run_id))


def set_task_run_name(task_run_id: UUID, name: str) -> Plan[PrefectResponse]:
    """Rename a task run; the answer is the raw response, as Prefect returns it."""
    update = TaskRunUpdate(name=name)
    response: PrefectResponse = yield Request(
        "PATCH", url_path("task_runs", task_run_id), json=body(update)
    )
    return response
