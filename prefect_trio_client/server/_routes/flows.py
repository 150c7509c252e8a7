"""Flows: created once per name, read by id or name, filtered, deleted with their runs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import FlowCreate, FlowUpdate
from prefect_trio_client.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from prefect_trio_client.schemas.sorting import FlowSort
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import not_found
from prefect_trio_client.server._filters import FLOW_SORTS
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
from prefect_trio_client.server._ids import new_id
from prefect_trio_client.server._queries import PageBody, Selection, flows_matching
from prefect_trio_client.server._routes._listing import listing
from prefect_trio_client.server._runs import delete_flow_run
from prefect_trio_client.server._tables import DEPLOYMENTS, FLOW_RUNS, FLOWS

__all__ = ["ROUTES"]

FLOW_NOT_FOUND = "Flow not found"


class FlowsBody(PageBody):
    """Body of ``/flows/filter`` and ``/flows/count``."""

    flows: FlowFilter | None = None
    flow_runs: FlowRunFilter | None = None
    task_runs: TaskRunFilter | None = None
    deployments: DeploymentFilter | None = None
    work_pools: WorkPoolFilter | None = None
    work_queues: WorkQueueFilter | None = None
    work_pool_queues: WorkQueueFilter | None = None
    sort: FlowSort | None = None


def _matching(tx: Tx, body: FlowsBody) -> Selection:
    return flows_matching(
        tx,
        flows=body.flows,
        flow_runs=body.flow_runs,
        task_runs=body.task_runs,
        deployments=body.deployments,
        work_pools=body.work_pools,
        work_queues=body.work_queues or body.work_pool_queues,
    )


async def create_flow(request: Request) -> Response:
    body = validate(FlowCreate, await json_body(request))

    def work(tx: Tx) -> Reply:
        existing = tx.first(FLOWS, name=body.name)
        if existing is not None:
            return created(existing, is_new=False)
        flow = {
            "id": str(new_id()),
            "created": tx.now_iso,
            "updated": tx.now_iso,
            "name": body.name,
            "tags": list(body.tags),
            "labels": dict(body.labels),
        }
        tx.insert(FLOWS, flow)
        return created(flow)

    return await api_of(request).write(work)


def _flow(tx: Tx, flow_id: str) -> Doc:
    flow = tx.get(FLOWS, flow_id)
    if flow is None:
        raise not_found(FLOW_NOT_FOUND)
    return flow


async def read_flow(request: Request) -> Response:
    flow_id = path_id(request)
    return await api_of(request).read(lambda tx: ok(_flow(tx, flow_id)))


async def read_flow_by_name(request: Request) -> Response:
    name = request.path_params["name"]

    def work(tx: Tx) -> Reply:
        flow = tx.first(FLOWS, name=name)
        if flow is None:
            raise not_found(FLOW_NOT_FOUND)
        return ok(flow)

    return await api_of(request).read(work)


async def update_flow(request: Request) -> Response:
    flow_id = path_id(request)
    body = validate(FlowUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        flow = _flow(tx, flow_id)
        if "tags" in body.model_fields_set:
            flow["tags"] = list(body.tags)
        flow["updated"] = tx.now_iso
        tx.update(FLOWS, flow)
        return no_content()

    return await api_of(request).write(work)


filter_flows, count_flows = listing(FlowsBody, _matching, FLOW_SORTS, FlowSort.NAME_ASC)


async def delete_flow(request: Request) -> Response:
    flow_id = path_id(request)

    def work(tx: Tx) -> Reply:
        if not tx.delete(FLOWS, flow_id):
            raise not_found(FLOW_NOT_FOUND)
        tx.delete_where(DEPLOYMENTS, flow_id=flow_id)
        for run in tx.find(FLOW_RUNS, flow_id=flow_id):
            delete_flow_run(tx, run["id"])
        return no_content()

    return await api_of(request).write(work)


ROUTES = [
    route("/flows/", create_flow, "POST"),
    route("/flows/filter", filter_flows, "POST"),
    route("/flows/count", count_flows, "POST"),
    route("/flows/name/{name}", read_flow_by_name, "GET"),
    route("/flows/{id:uuid}", read_flow, "GET"),
    route("/flows/{id:uuid}", update_flow, "PATCH"),
    route("/flows/{id:uuid}", delete_flow, "DELETE"),
]
