"""Task runs: creation (one per flow run, task key and dynamic key), filters, states."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import TaskRunCreate, TaskRunUpdate
from prefect_trio_client.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
)
from prefect_trio_client.schemas.sorting import TaskRunSort
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import not_found
from prefect_trio_client.server._filters import TASK_RUN_SORTS
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
from prefect_trio_client.server._queries import PageBody, Selection, task_runs_matching
from prefect_trio_client.server._routes._listing import listing
from prefect_trio_client.server._routes._run_states import state_handlers
from prefect_trio_client.server._runs import (
    PRESENT_STORED_RUN,
    TASK_RUN_NOT_FOUND,
    create_task_run,
    delete_task_run,
    present_run,
)
from prefect_trio_client.server._tables import TASK_RUN_STATES, TASK_RUNS

__all__ = ["ROUTES"]


class TaskRunsBody(PageBody):
    """Body of ``/task_runs/filter`` and ``/task_runs/count``."""

    flows: FlowFilter | None = None
    flow_runs: FlowRunFilter | None = None
    task_runs: TaskRunFilter | None = None
    deployments: DeploymentFilter | None = None
    sort: TaskRunSort | None = None


def _matching(tx: Tx, body: TaskRunsBody) -> Selection:
    return task_runs_matching(
        tx,
        flows=body.flows,
        flow_runs=body.flow_runs,
        task_runs=body.task_runs,
        deployments=body.deployments,
    )


async def create(request: Request) -> Response:
    body = validate(TaskRunCreate, await json_body(request))

    def work(tx: Tx) -> Reply:
        run, is_new = create_task_run(tx, body)
        return created(present_run(tx, run), is_new)

    return await api_of(request).write(work)


def _run(tx: Tx, run_id: str, missing: str = TASK_RUN_NOT_FOUND) -> Doc:
    run = tx.get(TASK_RUNS, run_id)
    if run is None:
        raise not_found(missing)
    return run


async def read(request: Request) -> Response:
    run_id = path_id(request)
    return await api_of(request).read(lambda tx: ok(present_run(tx, _run(tx, run_id))))


async def update(request: Request) -> Response:
    run_id = path_id(request)
    body = validate(TaskRunUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        run = _run(tx, run_id, "Task run not found")
        if "name" in body.model_fields_set:
            run["name"] = body.name
        run["updated"] = tx.now_iso
        tx.update(TASK_RUNS, run)
        return no_content()

    return await api_of(request).write(work)


filter_runs, count_runs = listing(
    TaskRunsBody, _matching, TASK_RUN_SORTS, TaskRunSort.ID_DESC, present_run, PRESENT_STORED_RUN
)


async def delete(request: Request) -> Response:
    run_id = path_id(request)

    def work(tx: Tx) -> Reply:
        if not delete_task_run(tx, run_id):
            raise not_found(TASK_RUN_NOT_FOUND)
        return no_content()

    return await api_of(request).write(work)


set_run_state, read_run_states, read_run_state = state_handlers(
    "task_run", TASK_RUN_STATES, "Task run state not found"
)


ROUTES = [
    route("/task_runs/", create, "POST"),
    route("/task_runs/filter", filter_runs, "POST"),
    route("/task_runs/count", count_runs, "POST"),
    route("/task_runs/{id:uuid}", read, "GET"),
    route("/task_runs/{id:uuid}", update, "PATCH"),
    route("/task_runs/{id:uuid}", delete, "DELETE"),
    route("/task_runs/{id:uuid}/set_state", set_run_state, "POST"),
    route("/task_run_states/", read_run_states, "GET"),
    route("/task_run_states/{id:uuid}", read_run_state, "GET"),
]
