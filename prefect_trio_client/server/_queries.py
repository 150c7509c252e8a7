"""Which objects a filter request selects, across resources, and how it is paged.

A ``/flow_runs/filter`` body may also filter by the runs' flows, deployments, task
runs, work pools and queues; Prefect joins those tables, and so do these functions
(with sets of ids). A filter given as an empty object still joins: ``"task_runs": {}``
keeps only flow runs that have task runs, as in Prefect. Lookups by id or by parent run
are narrowed in SQL before the documents are read. Everything here runs in the
database's worker thread.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, NonNegativeInt

from prefect_trio_client.schemas.filters import (
    ArtifactFilter,
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    LogFilter,
    Operator,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from prefect_trio_client.server._db import Doc, Tx, Where
from prefect_trio_client.server._errors import ApiError
from prefect_trio_client.server._filters import (
    Predicate,
    always,
    both,
    compile_filter,
    deployment_predicate,
    flow_predicate,
    flow_run_predicate,
    log_predicate,
    task_run_predicate,
)
from prefect_trio_client.server._tables import (
    ARTIFACTS,
    DEPLOYMENTS,
    FLOW_RUNS,
    FLOWS,
    LOGS,
    TASK_RUNS,
    WORK_POOLS,
    WORK_QUEUES,
)

__all__ = [
    "PageBody",
    "artifacts_matching",
    "deployments_matching",
    "flow_runs_matching",
    "flows_matching",
    "limit_of",
    "logs_matching",
    "queue_ids_matching",
    "task_runs_matching",
]


class PageBody(BaseModel):
    """The paging part of a filter body; other keys a client sends are ignored."""

    model_config = ConfigDict(extra="ignore")

    limit: int | None = None
    offset: NonNegativeInt | None = None


def limit_of(limit: int | None, default_limit: int) -> int:
    """Prefect's page size rule: absent means the default, which is also the maximum."""
    if limit is None:
        return default_limit
    if limit < 0:
        raise ApiError(422, "Invalid limit: must be greater than or equal to 0.")
    if limit > default_limit:
        raise ApiError(422, f"Invalid limit: must be less than or equal to {default_limit}.")
    return limit


def _ids(values: Any) -> list[str]:
    return [str(value) for value in values]


def _anded(model: BaseModel | None) -> bool:
    return model is not None and getattr(model, "operator", Operator.and_) is Operator.and_


def queue_ids_matching(
    tx: Tx, work_pools: WorkPoolFilter | None, work_queues: WorkQueueFilter | None
) -> set[str]:
    """Ids of the work queues in matching pools that match the queue filter."""
    queues = tx.find(WORK_QUEUES)
    if work_pools is not None:
        matches = compile_filter(work_pools)
        pools = {p["id"] for p in tx.find(WORK_POOLS) if matches(p)}
        queues = [q for q in queues if q["work_pool_id"] in pools]
    if work_queues is not None:
        matches = compile_filter(work_queues)
        queues = [q for q in queues if matches(q)]
    return {q["id"] for q in queues}


def flow_runs_matching(
    tx: Tx,
    *,
    flows: FlowFilter | None = None,
    flow_runs: FlowRunFilter | None = None,
    task_runs: TaskRunFilter | None = None,
    deployments: DeploymentFilter | None = None,
    work_pools: WorkPoolFilter | None = None,
    work_queues: WorkQueueFilter | None = None,
) -> list[Doc]:
    """Flow runs matching every filter given (see the module docstring)."""
    narrow: dict[str, Where] = {}
    if _anded(flow_runs):
        assert flow_runs is not None
        if flow_runs.id is not None and flow_runs.id.any_ is not None:
            narrow["id"] = _ids(flow_runs.id.any_)
        deployment_id = flow_runs.deployment_id
        if (
            deployment_id is not None
            and deployment_id.any_ is not None
            and deployment_id.is_null_ is None
        ):
            narrow["deployment_id"] = _ids(deployment_id.any_)
    checks: list[Predicate] = [flow_run_predicate(flow_runs, tx)]
    if flows is not None:
        flow_ids = {f["id"] for f in flows_matching(tx, flows=flows)}
        narrow["flow_id"] = sorted(flow_ids)
    if deployments is not None:
        deployment_ids = {d["id"] for d in deployments_matching(tx, deployments=deployments)}
        checks.append(lambda run: run.get("deployment_id") in deployment_ids)
    if task_runs is not None:
        with_tasks = {t["flow_run_id"] for t in task_runs_matching(tx, task_runs=task_runs)}
        checks.append(lambda run: run["id"] in with_tasks)
    if work_pools is not None or work_queues is not None:
        queue_ids = queue_ids_matching(tx, work_pools, work_queues)
        checks.append(lambda run: run.get("work_queue_id") in queue_ids)
    matches = both(*checks)
    return [run for run in tx.find(FLOW_RUNS, **narrow) if matches(run)]


def task_runs_matching(
    tx: Tx,
    *,
    flows: FlowFilter | None = None,
    flow_runs: FlowRunFilter | None = None,
    task_runs: TaskRunFilter | None = None,
    deployments: DeploymentFilter | None = None,
) -> list[Doc]:
    """Task runs matching every filter given (flow-level filters apply to their flow run)."""
    narrow: dict[str, Where] = {}
    if _anded(task_runs):
        assert task_runs is not None
        if task_runs.id is not None and task_runs.id.any_ is not None:
            narrow["id"] = _ids(task_runs.id.any_)
        parent = task_runs.flow_run_id
        # With ids given (and is_null_ not true) Prefect applies the ids alone.
        if parent is not None and parent.any_ is not None and parent.is_null_ is not True:
            narrow["flow_run_id"] = _ids(parent.any_)
    checks: list[Predicate] = [task_run_predicate(task_runs, tx)]
    if flows is not None or flow_runs is not None or deployments is not None:
        runs = flow_runs_matching(tx, flows=flows, flow_runs=flow_runs, deployments=deployments)
        run_ids = {run["id"] for run in runs}
        checks.append(lambda task: task.get("flow_run_id") in run_ids)
    matches = both(*checks)
    return [task for task in tx.find(TASK_RUNS, **narrow) if matches(task)]


def flows_matching(
    tx: Tx,
    *,
    flows: FlowFilter | None = None,
    flow_runs: FlowRunFilter | None = None,
    task_runs: TaskRunFilter | None = None,
    deployments: DeploymentFilter | None = None,
    work_pools: WorkPoolFilter | None = None,
    work_queues: WorkQueueFilter | None = None,
) -> list[Doc]:
    """Flows matching the flow filter that have matching runs and deployments."""
    checks: list[Predicate] = [flow_predicate(flows, tx)]
    if flow_runs is not None or task_runs is not None:
        runs = flow_runs_matching(tx, flow_runs=flow_runs, task_runs=task_runs)
        with_runs = {run["flow_id"] for run in runs}
        checks.append(lambda flow: flow["id"] in with_runs)
    if deployments is not None or work_pools is not None or work_queues is not None:
        found = deployments_matching(
            tx, deployments=deployments, work_pools=work_pools, work_queues=work_queues
        )
        with_deployments = {d["flow_id"] for d in found}
        checks.append(lambda flow: flow["id"] in with_deployments)
    matches = both(*checks)
    narrow: dict[str, Where] = {}
    if _anded(flows):
        assert flows is not None
        if flows.id is not None and flows.id.any_ is not None:
            narrow["id"] = _ids(flows.id.any_)
    return [flow for flow in tx.find(FLOWS, **narrow) if matches(flow)]


def deployments_matching(
    tx: Tx,
    *,
    flows: FlowFilter | None = None,
    flow_runs: FlowRunFilter | None = None,
    task_runs: TaskRunFilter | None = None,
    deployments: DeploymentFilter | None = None,
    work_pools: WorkPoolFilter | None = None,
    work_queues: WorkQueueFilter | None = None,
) -> list[Doc]:
    """Deployments matching the filter, of matching flows, with matching runs and queues."""
    checks: list[Predicate] = [deployment_predicate(deployments, tx)]
    if flows is not None:
        flow_ids = {f["id"] for f in flows_matching(tx, flows=flows)}
        checks.append(lambda d: d["flow_id"] in flow_ids)
    if flow_runs is not None or task_runs is not None:
        runs = flow_runs_matching(tx, flow_runs=flow_runs, task_runs=task_runs)
        with_runs = {run.get("deployment_id") for run in runs}
        checks.append(lambda d: d["id"] in with_runs)
    if work_pools is not None or work_queues is not None:
        queue_ids = queue_ids_matching(tx, work_pools, work_queues)
        checks.append(lambda d: d.get("work_queue_id") in queue_ids)
    matches = both(*checks)
    return [d for d in tx.find(DEPLOYMENTS) if matches(d)]


def logs_matching(tx: Tx, logs: LogFilter | None) -> list[Doc]:
    narrow: dict[str, Where] = {}
    if _anded(logs):
        assert logs is not None
        if logs.flow_run_id is not None and logs.flow_run_id.any_ is not None:
            narrow["flow_run_id"] = _ids(logs.flow_run_id.any_)
        task_run_id = logs.task_run_id
        if (
            task_run_id is not None
            and task_run_id.any_ is not None
            and task_run_id.is_null_ is None
        ):
            narrow["task_run_id"] = _ids(task_run_id.any_)
    matches = log_predicate(logs)
    return [log for log in tx.find(LOGS, **narrow) if matches(log)]


def artifacts_matching(
    tx: Tx,
    *,
    artifacts: ArtifactFilter | None = None,
    flow_runs: FlowRunFilter | None = None,
    task_runs: TaskRunFilter | None = None,
) -> list[Doc]:
    checks: list[Predicate] = [compile_filter(artifacts)]
    if flow_runs is not None:
        run_ids = {run["id"] for run in flow_runs_matching(tx, flow_runs=flow_runs)}
        checks.append(lambda a: a.get("flow_run_id") in run_ids)
    if task_runs is not None:
        task_ids = {task["id"] for task in task_runs_matching(tx, task_runs=task_runs)}
        checks.append(lambda a: a.get("task_run_id") in task_ids)
    matches = both(*checks) if checks else always
    return [a for a in tx.find(ARTIFACTS) if matches(a)]
