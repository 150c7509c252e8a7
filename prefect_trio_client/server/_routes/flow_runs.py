"""Flow runs: creation (idempotent by key), updates, labels, filters, states, resume."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import FlowRunCreate, FlowRunUpdate
from prefect_trio_client.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from prefect_trio_client.schemas.objects import KeyValueLabels, StateType
from prefect_trio_client.schemas.sorting import FlowRunSort
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._docs import dense
from prefect_trio_client.server._errors import ApiError, not_found
from prefect_trio_client.server._filters import FLOW_RUN_SORTS
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
    validate_as,
)
from prefect_trio_client.server._queries import PageBody, Selection, flow_runs_matching
from prefect_trio_client.server._routes._listing import listing
from prefect_trio_client.server._routes._run_states import state_handlers
from prefect_trio_client.server._runs import (
    FLOW_RUN_NOT_FOUND,
    PRESENT_STORED_RUN,
    create_flow_run,
    delete_flow_run,
    present_run,
    resume_flow_run,
)
from prefect_trio_client.server._tables import DEPLOYMENTS, FLOW_RUN_STATES, FLOW_RUNS

__all__ = ["ROUTES", "FlowRunsBody"]


class FlowRunsBody(PageBody):
    """Body of ``/flow_runs/filter`` and ``/flow_runs/count``."""

    flows: FlowFilter | None = None
    flow_runs: FlowRunFilter | None = None
    task_runs: TaskRunFilter | None = None
    deployments: DeploymentFilter | None = None
    work_pools: WorkPoolFilter | None = None
    work_pool_queues: WorkQueueFilter | None = None
    sort: FlowRunSort | None = None


class ResumeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_input: dict[str, Any] | None = None


def _matching(tx: Tx, body: FlowRunsBody) -> Selection:
    return flow_runs_matching(
        tx,
        flows=body.flows,
        flow_runs=body.flow_runs,
        task_runs=body.task_runs,
        deployments=body.deployments,
        work_pools=body.work_pools,
        work_queues=body.work_pool_queues,
    )


def _run(tx: Tx, run_id: str) -> Doc:
    run = tx.get(FLOW_RUNS, run_id)
    if run is None:
        raise not_found(FLOW_RUN_NOT_FOUND)
    return run


async def create(request: Request) -> Response:
    body = validate(FlowRunCreate, await json_body(request))

    def work(tx: Tx) -> Reply:
        run, is_new = create_flow_run(tx, body)
        return created(present_run(tx, run), is_new)

    return await api_of(request).write(work)


async def read(request: Request) -> Response:
    run_id = path_id(request)
    return await api_of(request).read(lambda tx: ok(present_run(tx, _run(tx, run_id))))


async def update(request: Request) -> Response:
    run_id = path_id(request)
    body = validate(FlowRunUpdate, await json_body(request))
    given = body.model_fields_set

    def work(tx: Tx) -> Reply:
        run = _run(tx, run_id)
        if "job_variables" in given and body.job_variables is not None:
            _check_job_variables_update(tx, run)
        for name in given:
            value = getattr(body, name)
            if value is None and name == "name":
                continue
            if name == "empirical_policy":
                run[name] = dense(body.empirical_policy)
            elif name == "tags":
                run[name] = list(value)
            else:
                run[name] = value
        run["updated"] = tx.now_iso
        tx.update(FLOW_RUNS, run)
        return no_content()

    return await api_of(request).write(work)


def _check_job_variables_update(tx: Tx, run: Doc) -> None:
    """Prefect's rule: only a SCHEDULED run of a deployment takes new job variables."""
    state_type = run.get("state_type")
    if state_type is None:
        detail = "Flow run state is required to update job variables but none exists"
        raise ApiError(400, detail)
    if state_type != StateType.SCHEDULED.value:
        raise ApiError(400, f"Job variables for a flow run in state {state_type} cannot be updated")
    deployment_id = run.get("deployment_id")
    if deployment_id is None or tx.get(DEPLOYMENTS, deployment_id) is None:
        raise ApiError(400, "A deployment for the flow run could not be found")


async def update_labels(request: Request) -> Response:
    run_id = path_id(request)
    labels: dict[str, Any] = validate_as(KeyValueLabels, await json_body(request))

    def work(tx: Tx) -> Reply:
        run = _run(tx, run_id)
        run["labels"] = {**(run.get("labels") or {}), **labels}
        run["updated"] = tx.now_iso
        tx.update(FLOW_RUNS, run)
        return no_content()

    return await api_of(request).write(work)


filter_runs, count_runs = listing(
    FlowRunsBody, _matching, FLOW_RUN_SORTS, FlowRunSort.ID_DESC, present_run, PRESENT_STORED_RUN
)


async def delete(request: Request) -> Response:
    run_id = path_id(request)

    def work(tx: Tx) -> Reply:
        if not delete_flow_run(tx, run_id):
            raise not_found(FLOW_RUN_NOT_FOUND)
        return no_content()

    return await api_of(request).write(work)


async def resume(request: Request) -> Response:
    run_id = path_id(request)
    validate(ResumeBody, await json_body(request, {}))  # run input is accepted, not stored
    return await api_of(request).write(lambda tx: resume_flow_run(tx, run_id))


set_run_state, read_run_states, read_run_state = state_handlers(
    "flow_run", FLOW_RUN_STATES, "Flow run state not found"
)


ROUTES = [
    route("/flow_runs/", create, "POST"),
    route("/flow_runs/filter", filter_runs, "POST"),
    route("/flow_runs/count", count_runs, "POST"),
    route("/flow_runs/{id:uuid}", read, "GET"),
    route("/flow_runs/{id:uuid}", update, "PATCH"),
    route("/flow_runs/{id:uuid}", delete, "DELETE"),
    route("/flow_runs/{id:uuid}/labels", update_labels, "PATCH"),
    route("/flow_runs/{id:uuid}/set_state", set_run_state, "POST"),
    route("/flow_runs/{id:uuid}/resume", resume, "POST"),
    route("/flow_run_states/", read_run_states, "GET"),
    route("/flow_run_states/{id:uuid}", read_run_state, "GET"),
]
