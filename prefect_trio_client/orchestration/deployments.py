"""Deployment endpoints, and flow runs created from deployments."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import (
    body,
    filter_body,
    parse,
    parse_as,
    parse_id,
    parse_list,
    url_path,
    wire_datetime,
)
from prefect_trio_client.schemas.actions import (
    DeploymentBranch,
    DeploymentCreate,
    DeploymentFlowRunCreate,
    DeploymentScheduleCreate,
    DeploymentScheduleUpdate,
    DeploymentUpdate,
)
from prefect_trio_client.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from prefect_trio_client.schemas.objects import (
    SCHEDULE_TYPES,
    ConcurrencyOptions,
    Deployment,
    DeploymentBranchingOptions,
    DeploymentSchedule,
    FlowRun,
    PrefectBaseModel,
    SlaMergeResponse,
    SlaTypes,
    State,
    StateType,
)
from prefect_trio_client.schemas.sorting import DeploymentSort

__all__ = [
    "apply_slas_for_deployment",
    "create_deployment",
    "create_deployment_branch",
    "create_deployment_schedules",
    "create_flow_run_from_deployment",
    "delete_deployment",
    "delete_deployment_schedule",
    "get_scheduled_flow_runs_for_deployments",
    "pause_deployment",
    "read_deployment",
    "read_deployment_by_name",
    "read_deployment_schedules",
    "read_deployments",
    "resume_deployment",
    "set_deployment_paused_state",
    "update_deployment",
    "update_deployment_schedule",
]


def create_deployment(
    flow_id: UUID,
    name: str,
    *,
    version: str | None = None,
    version_info: dict[str, Any] | None = None,
    schedules: list[DeploymentScheduleCreate] | None = None,
    concurrency_limit: int | None = None,
    concurrency_options: ConcurrencyOptions | None = None,
    parameters: dict[str, Any] | None = None,
    description: str | None = None,
    work_queue_name: str | None = None,
    work_pool_name: str | None = None,
    tags: list[str] | None = None,
    storage_document_id: UUID | None = None,
    path: str | None = None,
    entrypoint: str | None = None,
    infrastructure_document_id: UUID | None = None,
    parameter_openapi_schema: dict[str, Any] | None = None,
    paused: bool | None = None,
    pull_steps: list[dict[str, Any]] | None = None,
    enforce_parameter_schema: bool | None = None,
    job_variables: dict[str, Any] | None = None,
    branch: str | None = None,
    base: UUID | None = None,
    root: UUID | None = None,
) -> Plan[UUID]:
    """Create a deployment of a flow (or update the one of that name); return its id.

    Prefect's parameters, in Prefect's order; those left None are not sent
    (``version_info``, ``branch``, ``base`` and ``root`` describe versioned deployments,
    which Prefect Cloud keeps). Safe to re-send: the server upserts by flow and name.
    """
    given: dict[str, Any] = {
        "version": version,
        "version_info": version_info,
        "schedules": schedules,
        "concurrency_limit": concurrency_limit,
        "concurrency_options": concurrency_options,
        "parameters": parameters,
        "description": description,
        "work_queue_name": work_queue_name,
        "work_pool_name": work_pool_name,
        "tags": tags,
        "storage_document_id": storage_document_id,
        "path": path,
        "entrypoint": entrypoint,
        "infrastructure_document_id": infrastructure_document_id,
        "parameter_openapi_schema": parameter_openapi_schema,
        "paused": paused,
        "pull_steps": pull_steps,
        "enforce_parameter_schema": enforce_parameter_schema,
        "job_variables": job_variables,
        "branch": branch,
        "base": base,
        "root": root,
    }
    create = DeploymentCreate(
        flow_id=flow_id, name=name, **{k: v for k, v in given.items() if v is not None}
    )
    response = yield Request("POST", "/deployments/", json=body(create), idempotent=True)
    return parse_id(response)


def read_deployment(deployment_id: UUID) -> Plan[Deployment]:
    """Raises `ObjectNotFound` for an unknown id."""
    response = yield Request("GET", url_path("deployments", deployment_id))
    return parse(Deployment, response)


def read_deployment_by_name(name: str) -> Plan[Deployment]:
    """Read ``"<flow name>/<deployment name>"``.

    Raises:
        ValueError: `name` is not of that form.
        ObjectNotFound: No such deployment.
    """
    flow_name, slash, deployment_name = name.partition("/")
    if not slash or not flow_name or not deployment_name or "/" in deployment_name:
        raise ValueError(
            f"deployment names are written '<flow name>/<deployment name>', got {name!r}"
        )
    response = yield Request("GET", url_path("deployments", "name", flow_name, deployment_name))
    return parse(Deployment, response)


def read_deployments(
    *,
    flow_filter: FlowFilter | None = None,
    flow_run_filter: FlowRunFilter | None = None,
    task_run_filter: TaskRunFilter | None = None,
    deployment_filter: DeploymentFilter | None = None,
    work_pool_filter: WorkPoolFilter | None = None,
    work_queue_filter: WorkQueueFilter | None = None,
    sort: DeploymentSort | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Plan[list[Deployment]]:
    """Deployments matching every filter given, sorted and paged."""
    filters = {
        "flows": flow_filter,
        "flow_runs": flow_run_filter,
        "task_runs": task_run_filter,
        "deployments": deployment_filter,
        "work_pools": work_pool_filter,
        "work_pool_queues": work_queue_filter,
    }
    request = filter_body(filters, limit=limit, offset=offset, sort=sort)
    response = yield Request("POST", "/deployments/filter", json=request, idempotent=True)
    return parse_list(Deployment, response)


def update_deployment(deployment_id: UUID, deployment: DeploymentUpdate) -> Plan[None]:
    """Change the fields set on `deployment`."""
    yield Request("PATCH", url_path("deployments", deployment_id), json=body(deployment))


def delete_deployment(deployment_id: UUID) -> Plan[None]:
    """Raises `ObjectNotFound` for an unknown id."""
    yield Request("DELETE", url_path("deployments", deployment_id))


def create_flow_run_from_deployment(
    deployment_id: UUID,
    *,
    parameters: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    state: State | None = None,
    name: str | None = None,
    tags: list[str] | None = None,
    idempotency_key: str | None = None,
    parent_task_run_id: UUID | None = None,
    work_queue_name: str | None = None,
    job_variables: dict[str, Any] | None = None,
    labels: dict[str, Any] | None = None,
) -> Plan[FlowRun]:
    """Create a run of a deployment, SCHEDULED for now unless `state` says otherwise.

    A run with the same `idempotency_key` for this deployment is returned instead. With
    none given, a random key is sent, so a re-send after a lost answer finds the run the
    first send created instead of creating a second one.
    """
    create = DeploymentFlowRunCreate(
        parameters=parameters or {},
        context=context or {},
        state=(state or State(type=StateType.SCHEDULED)).to_state_create(),
        name=name,
        tags=list(tags or []),
        idempotency_key=idempotency_key if idempotency_key is not None else str(uuid4()),
        parent_task_run_id=parent_task_run_id,
        work_queue_name=work_queue_name,
        job_variables=job_variables,
        labels=labels or {},
    )
    response = yield Request(
        "POST",
        url_path("deployments", deployment_id, "create_flow_run"),
        json=body(create),
        idempotent=True,
    )
    return parse(FlowRun, response)


def get_scheduled_flow_runs_for_deployments(
    deployment_ids: list[UUID],
    scheduled_before: datetime | None = None,
    limit: int | None = None,
) -> Plan[list[FlowRun]]:
    """Scheduled runs of these deployments, due before `scheduled_before` if given.

    A read (it only records that the deployments were polled), so safe to re-send.
    """
    request: dict[str, Any] = {"deployment_ids": [str(i) for i in deployment_ids]}
    if scheduled_before is not None:
        request["scheduled_before"] = wire_datetime(scheduled_before, "scheduled_before")
    if limit is not None:
        request["limit"] = limit
    response = yield Request(
        "POST", "/deployments/get_scheduled_flow_runs", json=request, idempotent=True
    )
    return parse_list(FlowRun, response)


# --------------------------------------------------------------------------- schedules


def read_deployment_schedules(deployment_id: UUID) -> Plan[list[DeploymentSchedule]]:
    """The deployment's schedules, last updated first.

    Raises `ObjectNotFound` for an unknown deployment.
    """
    response = yield Request("GET", url_path("deployments", deployment_id, "schedules"))
    return parse_list(DeploymentSchedule, response)


def create_deployment_schedules(
    deployment_id: UUID,
    schedules: list[tuple[SCHEDULE_TYPES, bool]] | list[DeploymentScheduleCreate],
    max_scheduled_runs: int | None = None,
    parameters: dict[str, Any] | None = None,
    slug: str | None = None,
) -> Plan[list[DeploymentSchedule]]:
    """Add schedules to a deployment; return them as stored.

    `schedules` is a list of ``DeploymentScheduleCreate``, or of ``(schedule, active)``
    pairs, which then share `max_scheduled_runs`, `parameters` and `slug` (as in
    Prefect). Not re-sent after a lost answer: a repeat adds the schedules again (or
    answers 409 for a slug the first send took).
    """
    creates: list[DeploymentScheduleCreate] = []
    for item in schedules:
        if isinstance(item, DeploymentScheduleCreate):
            creates.append(item)
            continue
        schedule, active = item
        creates.append(
            DeploymentScheduleCreate(
                schedule=schedule,
                active=active,
                max_scheduled_runs=max_scheduled_runs,
                parameters=parameters or {},
                slug=slug,
            )
        )
    response = yield Request(
        "POST",
        url_path("deployments", deployment_id, "schedules"),
        json=[body(create) for create in creates],
    )
    return parse_list(DeploymentSchedule, response)


def update_deployment_schedule(
    deployment_id: UUID,
    schedule_id: UUID,
    active: bool | None = None,
    schedule: SCHEDULE_TYPES | None = None,
    max_scheduled_runs: int | None = None,
    parameters: dict[str, Any] | None = None,
    slug: str | None = None,
) -> Plan[None]:
    """Change the given fields of one schedule (None leaves a field as it is).

    Raises `ObjectNotFound` for an unknown deployment or schedule.
    """
    given: dict[str, Any] = {
        "active": active,
        "schedule": schedule,
        "max_scheduled_runs": max_scheduled_runs,
        "parameters": parameters,
        "slug": slug,
    }
    update = DeploymentScheduleUpdate(**{k: v for k, v in given.items() if v is not None})
    yield Request(
        "PATCH",
        url_path("deployments", deployment_id, "schedules", schedule_id),
        json=body(update),
    )


def delete_deployment_schedule(deployment_id: UUID, schedule_id: UUID) -> Plan[None]:
    """Raises `ObjectNotFound` for an unknown deployment or schedule."""
    yield Request("DELETE", url_path("deployments", deployment_id, "schedules", schedule_id))


# --------------------------------------------------------------------------- pausing


def _deployment_id(deployment_id: UUID | str) -> UUID:
    if isinstance(deployment_id, UUID):
        return deployment_id
    try:
        return UUID(deployment_id)
    except ValueError:
        raise ValueError(f"Invalid deployment ID: {deployment_id}") from None


def set_deployment_paused_state(deployment_id: UUID, paused: bool) -> Plan[None]:
    """Pause or resume a deployment (Prefect deprecates this name for the two below).

    Raises `ObjectNotFound` for an unknown deployment.
    """
    yield Request("PATCH", url_path("deployments", deployment_id), json={"paused": paused})


def pause_deployment(deployment_id: UUID | str) -> Plan[None]:
    """Stop scheduling runs of a deployment (its id as a UUID or its text).

    Raises:
        ValueError: `deployment_id` is not a UUID.
        ObjectNotFound: No such deployment.
    """
    yield from set_deployment_paused_state(_deployment_id(deployment_id), True)


def resume_deployment(deployment_id: UUID | str) -> Plan[None]:
    """Schedule runs of a paused deployment again (see `pause_deployment`)."""
    yield from set_deployment_paused_state(_deployment_id(deployment_id), False)


# --------------------------------------------------------------------------- branches, SLAs


def create_deployment_branch(
    deployment_id: UUID,
    branch: str,
    options: DeploymentBranchingOptions | None = None,
    overrides: DeploymentUpdate | None = None,
) -> Plan[UUID]:
    """Copy a deployment as branch `branch`, with `overrides` applied; return the new id.

    Prefect Cloud serves this; an open-source server (and the embedded one) answers 404,
    raised as `ObjectNotFound`. Not re-sent after a lost answer: a repeat branches again.
    """
    request = DeploymentBranch(
        branch=branch,
        options=options or DeploymentBranchingOptions(),
        overrides=overrides,
    )
    response = yield Request(
        "POST", url_path("deployments", deployment_id, "branch"), json=body(request)
    )
    return parse_id(response)


class _Named(PrefectBaseModel):
    name: str


class _SlaMerge(PrefectBaseModel):
    created: list[_Named]
    updated: list[_Named]
    deleted: list[_Named]


def apply_slas_for_deployment(deployment_id: UUID, slas: list[SlaTypes]) -> Plan[SlaMergeResponse]:
    """Make `slas` the deployment's SLAs, matched by name: new names are created, known
    ones updated, the deployment's other SLAs deleted. Returns the names of each.

    Prefect Cloud serves this; an open-source server (and the embedded one) answers 404,
    raised as `ObjectNotFound`. Safe to re-send: a repeat applies the same set again.
    """
    owner = f"prefect.deployment.{deployment_id}"
    specs = [{**body(sla), "owner_resource": owner} for sla in slas]
    response = yield Request(
        "POST", url_path("slas", "apply-resource-slas", owner), json=specs, idempotent=True
    )
    merged = parse_as(_SlaMerge, response, "an SLA merge result")
    return SlaMergeResponse(
        created=[sla.name for sla in merged.created],
        updated=[sla.name for sla in merged.updated],
        deleted=[sla.name for sla in merged.deleted],
    )
