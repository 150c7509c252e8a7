"""Deployments: upserted by flow and name, read by id or ``flow/name``, runs made from
them (idempotent by key), and the scheduled runs workers ask for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import to_jsonable_python
from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import (
    DeploymentCreate,
    DeploymentFlowRunCreate,
    DeploymentScheduleCreate,
    DeploymentScheduleUpdate,
    DeploymentUpdate,
    FlowRunCreate,
    StateCreate,
)
from prefect_trio_client.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from prefect_trio_client.schemas.objects import DateTime, StateType
from prefect_trio_client.schemas.sorting import DeploymentSort, FlowRunSort
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import (
    INTEGRITY_DETAIL,
    ApiError,
    not_found,
    validation_failed,
)
from prefect_trio_client.server._filters import DEPLOYMENT_SORTS, FLOW_RUN_SORTS, page, sort_docs
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
from prefect_trio_client.server._ids import new_id
from prefect_trio_client.server._limits import new_limit, present_limit
from prefect_trio_client.server._pools import (
    DEFAULT_AGENT_POOL,
    default_agent_pool,
    pool_by_name,
    queue_in_pool,
)
from prefect_trio_client.server._queries import PageBody, Selection, deployments_matching, limit_of
from prefect_trio_client.server._routes._listing import listing
from prefect_trio_client.server._runs import create_flow_run, present_run, require_flow
from prefect_trio_client.server._tables import (
    CONCURRENCY_LIMITS,
    DEPLOYMENTS,
    FLOW_RUNS,
    FLOWS,
    WORK_QUEUES,
)
from prefect_trio_client.server._time import iso

__all__ = ["ROUTES"]

DEPLOYMENT_NOT_FOUND = "Deployment not found"
DEPLOYMENT_NOT_FOUND_DOT = "Deployment not found."
"""Prefect's detail on its update and schedule routes (with the full stop)."""
SCHEDULE_NOT_FOUND = "Schedule not found."
READY_AFTER_POLL = timedelta(seconds=60)

_COPIED = (
    "version",
    "description",
    "paused",
    "concurrency_options",
    "enforce_parameter_schema",
    "parameter_openapi_schema",
    "parameters",
    "tags",
    "pull_steps",
    "work_queue_name",
    "work_pool_name",
    "storage_document_id",
    "infrastructure_document_id",
    "path",
    "entrypoint",
    "job_variables",
)

_NEVER_NULL = frozenset({"paused", "enforce_parameter_schema", "parameters", "tags"})
"""Fields an update may send as null (Prefect's client types them optional) that a
deployment always has: null leaves them as they are."""


class DeploymentsBody(PageBody):
    """Body of ``/deployments/filter`` and ``/deployments/count``."""

    flows: FlowFilter | None = None
    flow_runs: FlowRunFilter | None = None
    task_runs: TaskRunFilter | None = None
    deployments: DeploymentFilter | None = None
    work_pools: WorkPoolFilter | None = None
    work_pool_queues: WorkQueueFilter | None = None
    sort: DeploymentSort | None = None


class ScheduledRunsBody(BaseModel):
    """Body of ``/deployments/get_scheduled_flow_runs``."""

    model_config = ConfigDict(extra="ignore")

    deployment_ids: list[UUID]
    scheduled_before: DateTime | None = None
    limit: int | None = None


def _matching(tx: Tx, body: DeploymentsBody) -> Selection:
    return deployments_matching(
        tx,
        flows=body.flows,
        flow_runs=body.flow_runs,
        task_runs=body.task_runs,
        deployments=body.deployments,
        work_pools=body.work_pools,
        work_queues=body.work_pool_queues,
    )


def present(tx: Tx, deployment: Doc) -> Doc:
    """A deployment as the API returns it: live status and concurrency limit."""
    polled = deployment.get("last_polled")
    ready = polled is not None and polled >= iso(tx.now - READY_AFTER_POLL)
    limit = None
    if deployment.get("concurrency_limit") is not None:
        found = tx.first(CONCURRENCY_LIMITS, name=f"deployment:{deployment['id']}")
        limit = None if found is None else present_limit(tx, found)
    return {
        **deployment,
        "status": "READY" if ready else "NOT_READY",
        "global_concurrency_limit": limit,
    }


def _deployment(tx: Tx, deployment_id: str, detail: str = DEPLOYMENT_NOT_FOUND) -> Doc:
    deployment = tx.get(DEPLOYMENTS, deployment_id)
    if deployment is None:
        raise not_found(detail)
    return deployment


def _schedule(tx: Tx, deployment_id: str, schedule: DeploymentScheduleCreate) -> Doc:
    return {
        "id": str(new_id()),
        "created": tx.now_iso,
        "updated": tx.now_iso,
        "deployment_id": deployment_id,
        "schedule": to_jsonable_python(schedule.schedule),
        "active": schedule.active,
        "max_scheduled_runs": schedule.max_scheduled_runs,
        "parameters": schedule.parameters,
        "slug": schedule.slug,
    }


def _apply(
    tx: Tx, deployment: Doc, body: DeploymentCreate | DeploymentUpdate, given: set[str]
) -> None:
    """Copy the given fields of a create or update body onto the stored deployment."""
    for name in _COPIED:
        value = getattr(body, name, None)
        if name in given and not (value is None and name in _NEVER_NULL):
            deployment[name] = to_jsonable_python(value)
    if deployment.get("pull_steps") is None:
        deployment["pull_steps"] = []
    if deployment.get("job_variables") is None:
        deployment["job_variables"] = {}
    if isinstance(body, DeploymentCreate) and "labels" in given:
        deployment["labels"] = {"prefect.flow.id": deployment["flow_id"], **body.labels}
    if "schedules" in given:
        deployment["schedules"] = [_schedule(tx, deployment["id"], s) for s in body.schedules]
    if "concurrency_limit" in given:
        _set_concurrency_limit(tx, deployment, body.concurrency_limit)
    if given & {"work_pool_name", "work_queue_name"}:
        _route_to_queue(tx, deployment)
    deployment["updated"] = tx.now_iso


def _route_to_queue(tx: Tx, deployment: Doc) -> None:
    """Point the deployment at its queue: the named one (made if needed) or the pool's
    default; a queue named without a pool lives in Prefect's default agent pool."""
    pool_name = deployment.get("work_pool_name")
    queue_name = deployment.get("work_queue_name")
    queue: Doc | None = None
    if pool_name:
        pool = (
            default_agent_pool(tx)
            if pool_name == DEFAULT_AGENT_POOL
            else pool_by_name(tx, pool_name)
        )
        if queue_name:
            queue = queue_in_pool(tx, pool, queue_name, create=True)
        else:
            queue = tx.get(WORK_QUEUES, pool["default_queue_id"])
    elif queue_name:
        queue = queue_in_pool(tx, default_agent_pool(tx), queue_name, create=True)
    deployment["work_queue_id"] = None if queue is None else queue["id"]


def _set_concurrency_limit(tx: Tx, deployment: Doc, limit: int | None) -> None:
    """A deployment's limit is a global concurrency limit named ``deployment:<id>``, as in
    Prefect (stored and shown; runs are not held back by it here)."""
    deployment["concurrency_limit"] = limit
    name = f"deployment:{deployment['id']}"
    existing = tx.first(CONCURRENCY_LIMITS, name=name)
    if limit is None:
        if existing is not None:
            tx.delete(CONCURRENCY_LIMITS, existing["id"])
    elif existing is None:
        tx.insert(CONCURRENCY_LIMITS, new_limit(tx, {"name": name, "limit": limit}))
    else:
        existing.update(limit=limit, updated=tx.now_iso)
        tx.update(CONCURRENCY_LIMITS, existing)


async def create(request: Request) -> Response:
    body = validate(DeploymentCreate, await json_body(request))

    def work(tx: Tx) -> Reply:
        flow = require_flow(tx, str(body.flow_id))
        if body.work_pool_name and body.work_pool_name != DEFAULT_AGENT_POOL:
            pool_by_name(tx, body.work_pool_name)
        existing = tx.first(DEPLOYMENTS, flow_id=flow["id"], name=body.name)
        if existing is not None:
            _apply(tx, existing, body, set(body.model_fields_set) - {"name", "flow_id"})
            tx.update(DEPLOYMENTS, existing)
            return created(present(tx, existing), is_new=False)
        deployment: Doc = {
            "id": str(new_id()),
            "created": tx.now_iso,
            "updated": tx.now_iso,
            "name": body.name,
            "version": None,
            "description": None,
            "flow_id": flow["id"],
            "paused": False,
            "schedules": [],
            "concurrency_limit": None,
            "global_concurrency_limit": None,
            "concurrency_options": None,
            "job_variables": {},
            "parameters": {},
            "tags": [],
            "labels": {"prefect.flow.id": flow["id"]},
            "work_queue_name": None,
            "work_queue_id": None,
            "last_polled": None,
            "parameter_openapi_schema": None,
            "path": None,
            "pull_steps": [],
            "entrypoint": None,
            "storage_document_id": None,
            "infrastructure_document_id": None,
            "created_by": None,
            "updated_by": None,
            "work_pool_name": None,
            "status": "NOT_READY",
            "enforce_parameter_schema": True,
        }
        every_field = set(DeploymentCreate.model_fields) - {"name", "flow_id"}
        _apply(tx, deployment, body, every_field)
        tx.insert(DEPLOYMENTS, deployment)
        return created(present(tx, deployment))

    return await api_of(request).write(work)


async def read(request: Request) -> Response:
    deployment_id = path_id(request)
    return await api_of(request).read(lambda tx: ok(present(tx, _deployment(tx, deployment_id))))


async def read_by_name(request: Request) -> Response:
    flow_name = request.path_params["flow_name"]
    name = request.path_params["deployment_name"]

    def work(tx: Tx) -> Reply:
        flow = tx.first(FLOWS, name=flow_name)
        deployment = None if flow is None else tx.first(DEPLOYMENTS, flow_id=flow["id"], name=name)
        if deployment is None:
            raise not_found(DEPLOYMENT_NOT_FOUND)
        return ok(present(tx, deployment))

    return await api_of(request).read(work)


async def update(request: Request) -> Response:
    deployment_id = path_id(request)
    body = validate(DeploymentUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        deployment = _deployment(tx, deployment_id, DEPLOYMENT_NOT_FOUND_DOT)
        if body.work_pool_name and body.work_pool_name != DEFAULT_AGENT_POOL:
            pool_by_name(tx, body.work_pool_name)
        _apply(tx, deployment, body, set(body.model_fields_set))
        tx.update(DEPLOYMENTS, deployment)
        return no_content()

    return await api_of(request).write(work)


async def delete(request: Request) -> Response:
    deployment_id = path_id(request)

    def work(tx: Tx) -> Reply:
        if not tx.delete(DEPLOYMENTS, deployment_id):
            raise not_found(DEPLOYMENT_NOT_FOUND)
        tx.delete_where(CONCURRENCY_LIMITS, name=f"deployment:{deployment_id}")
        for run in tx.find(FLOW_RUNS, deployment_id=deployment_id):
            run["deployment_id"] = None
            tx.update(FLOW_RUNS, run)
        return no_content()

    return await api_of(request).write(work)


filter_deployments, count_deployments = listing(
    DeploymentsBody, _matching, DEPLOYMENT_SORTS, DeploymentSort.NAME_ASC, present
)


def _unique(*groups: list[str]) -> list[str]:
    return list(dict.fromkeys(tag for group in groups for tag in group))


async def create_run(request: Request) -> Response:
    deployment_id = path_id(request)
    raw = await json_body(request, {})
    body = validate(DeploymentFlowRunCreate, raw)

    def work(tx: Tx) -> Reply:
        deployment = _deployment(tx, deployment_id)
        fields: dict[str, Any] = {
            "flow_id": deployment["flow_id"],
            "deployment_id": deployment["id"],
            "name": body.name,
            "parameters": {**(deployment.get("parameters") or {}), **body.parameters},
            "context": body.context,
            "infrastructure_document_id": body.infrastructure_document_id
            or deployment.get("infrastructure_document_id"),
            "empirical_policy": body.empirical_policy,
            "tags": _unique(body.tags, deployment.get("tags") or []),
            "idempotency_key": body.idempotency_key,
            "parent_task_run_id": body.parent_task_run_id,
            "work_queue_name": body.work_queue_name,
            "job_variables": body.job_variables,
            "labels": body.labels,
            "state": body.state or StateCreate(type=StateType.SCHEDULED),
        }
        try:
            run_create = FlowRunCreate(**fields)
        except ValidationError as exc:
            raise validation_failed(exc, raw) from None
        run, is_new = create_flow_run(tx, run_create, deployment=deployment)
        return created(present_run(tx, run), is_new)

    return await api_of(request).write(work)


async def scheduled_flow_runs(request: Request) -> Response:
    api = api_of(request)
    body = validate(ScheduledRunsBody, await json_body(request))
    limit = limit_of(body.limit, api.config.default_limit)
    before = None if body.scheduled_before is None else iso(body.scheduled_before)

    def work(tx: Tx) -> Reply:
        ids = [str(i) for i in body.deployment_ids]
        runs = [
            run
            for run in tx.find(FLOW_RUNS, deployment_id=ids)
            if run.get("state_type") == StateType.SCHEDULED.value
            and (before is None or (run.get("next_scheduled_start_time") or "") <= before)
        ]
        keys = FLOW_RUN_SORTS[FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC]
        runs = page(sort_docs(runs, keys), 0, limit)
        for deployment in tx.find(DEPLOYMENTS, id=ids):
            deployment["last_polled"] = tx.now_iso
            tx.update(DEPLOYMENTS, deployment)
        return ok([present_run(tx, run) for run in runs])

    return await api.write(work)


# --------------------------------------------------------------------------- schedules
# A deployment's schedules live in its document, as the API shows them. The embedded
# server has no scheduler, so it has no auto-scheduled runs to delete when a schedule
# changes (Prefect's server deletes them).


def _schedules_of(tx: Tx, deployment_id: str) -> tuple[Doc, list[Doc]]:
    deployment = _deployment(tx, deployment_id, DEPLOYMENT_NOT_FOUND_DOT)
    schedules: list[Doc] = deployment.setdefault("schedules", [])
    return deployment, schedules


def _schedule_in(schedules: list[Doc], schedule_id: str) -> Doc:
    found = next((item for item in schedules if item["id"] == schedule_id), None)
    if found is None:
        raise not_found(SCHEDULE_NOT_FOUND)
    return found


def _refuse_taken_slugs(schedules: list[Doc]) -> None:
    """Slugs are unique within a deployment (a unique index in Prefect: 409)."""
    slugs = [item["slug"] for item in schedules if item.get("slug") is not None]
    if len(slugs) != len(set(slugs)):
        raise ApiError(409, INTEGRITY_DETAIL)


async def read_schedules(request: Request) -> Response:
    deployment_id = path_id(request)

    def work(tx: Tx) -> Reply:
        _, schedules = _schedules_of(tx, deployment_id)
        return ok(sorted(schedules, key=lambda item: item["updated"], reverse=True))

    return await api_of(request).read(work)


async def create_schedules(request: Request) -> Response:
    deployment_id = path_id(request)
    body: list[DeploymentScheduleCreate] = validate_as(
        list[DeploymentScheduleCreate], await json_body(request)
    )

    def work(tx: Tx) -> Reply:
        deployment, schedules = _schedules_of(tx, deployment_id)
        added = [_schedule(tx, deployment_id, schedule) for schedule in body]
        schedules.extend(added)
        _refuse_taken_slugs(schedules)
        tx.update(DEPLOYMENTS, deployment)
        return created(added)

    return await api_of(request).write(work)


async def update_schedule(request: Request) -> Response:
    deployment_id = path_id(request)
    schedule_id = path_id(request, "schedule_id")
    body = validate(DeploymentScheduleUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        deployment, schedules = _schedules_of(tx, deployment_id)
        schedule = _schedule_in(schedules, schedule_id)
        for name in set(DeploymentScheduleUpdate.model_fields) - {"replaces"}:
            # As in Prefect: null leaves a field as it is, and `parameters` not sent
            # reads as {} (its default), which clears them.
            value = getattr(body, name)
            if value is not None:
                schedule[name] = to_jsonable_python(value)
        schedule["updated"] = tx.now_iso
        _refuse_taken_slugs(schedules)
        tx.update(DEPLOYMENTS, deployment)
        return no_content()

    return await api_of(request).write(work)


async def delete_schedule(request: Request) -> Response:
    deployment_id = path_id(request)
    schedule_id = path_id(request, "schedule_id")

    def work(tx: Tx) -> Reply:
        deployment, schedules = _schedules_of(tx, deployment_id)
        schedules.remove(_schedule_in(schedules, schedule_id))
        tx.update(DEPLOYMENTS, deployment)
        return no_content()

    return await api_of(request).write(work)


ROUTES = [
    route("/deployments/", create, "POST"),
    route("/deployments/filter", filter_deployments, "POST"),
    route("/deployments/count", count_deployments, "POST"),
    route("/deployments/get_scheduled_flow_runs", scheduled_flow_runs, "POST"),
    route("/deployments/name/{flow_name}/{deployment_name}", read_by_name, "GET"),
    route("/deployments/{id:uuid}", read, "GET"),
    route("/deployments/{id:uuid}", update, "PATCH"),
    route("/deployments/{id:uuid}", delete, "DELETE"),
    route("/deployments/{id:uuid}/create_flow_run", create_run, "POST"),
    route("/deployments/{id:uuid}/schedules", read_schedules, "GET"),
    route("/deployments/{id:uuid}/schedules", create_schedules, "POST"),
    route("/deployments/{id:uuid}/schedules/{schedule_id:uuid}", update_schedule, "PATCH"),
    route("/deployments/{id:uuid}/schedules/{schedule_id:uuid}", delete_schedule, "DELETE"),
]
