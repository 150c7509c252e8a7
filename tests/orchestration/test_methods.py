"""Every client method against the captured Prefect 3.9 exchanges, on both clients.

Each case calls one method with the inputs that produced a captured request, and a mock
transport answers with the captured response. The test asserts that the request has the
captured method, path and query, that its JSON body agrees with the captured one (every
field we send is one Prefect sent, with the same value, or an empty default), and that
the response parses into the documented result. One parametrised suite runs
`PrefectClient` on asyncio and trio and `SyncPrefectClient`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from prefect_trio_client import states
from prefect_trio_client.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect_trio_client.orchestration._plan import Request
from prefect_trio_client.schemas.actions import (
    ArtifactCreate,
    DeploymentUpdate,
    GlobalConcurrencyLimitCreate,
    LogCreate,
    VariableCreate,
    VariableUpdate,
    WorkPoolCreate,
    WorkPoolUpdate,
)
from prefect_trio_client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    DeploymentFilter,
    DeploymentFilterTags,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect_trio_client.schemas.objects import (
    ConcurrencyLeaseHolder,
    ConcurrencyLimitWithLeaseResponse,
    Deployment,
    Flow,
    FlowRun,
    GlobalConcurrencyLimit,
    Log,
    State,
    StateType,
    TaskRun,
    Variable,
    WorkerFlowRunResponse,
    WorkPool,
    WorkQueue,
)
from prefect_trio_client.schemas.responses import OrchestrationResult, SetStateStatus
from prefect_trio_client.schemas.sorting import (
    ArtifactSort,
    DeploymentSort,
    FlowRunSort,
    FlowSort,
    LogSort,
    TaskRunSort,
)
from tests.orchestration.harness import ClientKind, call, make_client
from tests.schemas.samples import load

SAMPLES: dict[str, Any] = {**load()["endpoints"], **load()["extra_examples"]}
# Values that differ on every run (fresh ids, clocks): compared for presence only.
VOLATILE = {"transition_id", "scheduled_time", "timestamp"}
GENERATED = {"idempotency_key"}
"""Fields we fill where Prefect sends none: a random key, so a re-sent create finds its run."""
EMPTY: tuple[Any, ...] = (None, {}, [], False, 0)


def request_body(key: str) -> Any:
    return SAMPLES[key]["request_body"]


def url_part(key: str, index: int) -> str:
    """A path segment of the captured URL (negative indexes count from the end)."""
    return httpx.URL(SAMPLES[key]["url"]).path.rstrip("/").split("/")[index]


def response_for(key: str) -> httpx.Response:
    sample = SAMPLES[key]
    body = sample["response_body"]
    if isinstance(body, dict) and "__list_len__" in body:
        body = [body["__first_item__"]]
    if body is None:
        if sample["response_headers"].get("content-type") == "application/json":
            # JSON null, as Prefect answers POST /logs/: not the same as no body
            return httpx.Response(sample["status_code"], json=None, content=b"null")
        return httpx.Response(sample["status_code"])
    return httpx.Response(sample["status_code"], json=body)


def assert_agrees(ours: Any, theirs: Any, where: str = "body") -> None:
    """Every field we send is one Prefect sent with the same value, or an empty default."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key, value in ours.items():
            if key in VOLATILE:
                continue
            if key in GENERATED and theirs.get(key) is None:
                assert isinstance(value, str), f"{where}.{key}={value!r} was not generated"
                continue
            if key not in theirs:
                assert _empty(value), f"{where}.{key}={value!r} is not in Prefect's request"
                continue
            assert_agrees(value, theirs[key], f"{where}.{key}")
    elif isinstance(ours, list) and isinstance(theirs, list):
        assert len(ours) == len(theirs), f"{where}: {len(ours)} items, Prefect sent {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_agrees(a, b, f"{where}[{i}]")
    elif isinstance(ours, dict) and theirs is None:
        raise AssertionError(f"{where}: we send an object where Prefect sent null")
    elif isinstance(ours, str) and isinstance(theirs, str) and _as_datetime(theirs):
        # Prefect writes some datetimes with str() ("2026-11-22 02:51:45+00:00"), we with
        # isoformat(); the server reads both. Compare the instants.
        assert _as_datetime(ours) == _as_datetime(theirs), f"{where}: {ours!r} != {theirs!r}"
    else:
        assert ours == theirs, f"{where}: {ours!r} != Prefect's {theirs!r}"


def _empty(value: Any) -> bool:
    """A default: null, false, zero, or a container of nothing but defaults."""
    if isinstance(value, dict):
        return all(_empty(v) for v in value.values())
    return value in EMPTY


def _as_datetime(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class Case:
    method: str
    samples: list[str]
    args: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]
    check: Callable[[Any], object]


def no_args() -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (), {}


def is_instance(kind: type[Any]) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert isinstance(result, kind), f"{result!r} is not a {kind.__name__}"

    return check


def list_of(kind: type[Any]) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert isinstance(result, list)
        assert result
        assert all(isinstance(item, kind) for item in result)

    return check


def is_none(result: Any) -> None:
    assert result is None


def flow_run_create_args() -> tuple[tuple[Any, ...], dict[str, Any]]:
    b = request_body("POST /flow_runs/ (client.create_flow_run)")
    return (UUID(b["flow_id"]),), {
        "name": b["name"],
        "parameters": b["parameters"],
        "tags": b["tags"],
        "flow_version": b["flow_version"],
        "context": b["context"],
    }


def deployment_create_args() -> tuple[tuple[Any, ...], dict[str, Any]]:
    b = request_body("POST /deployments/ (client.create_deployment)")
    keys = (
        "parameter_openapi_schema",
        "parameters",
        "tags",
        "work_queue_name",
        "work_pool_name",
        "description",
        "path",
        "entrypoint",
        "enforce_parameter_schema",
        "job_variables",
        "version",
        "paused",
        "pull_steps",
        "concurrency_limit",
    )
    kwargs = {k: b[k] for k in keys if k in b and b[k] not in (None, {}, [])}
    return (UUID(b["flow_id"]), b["name"]), kwargs


def logs_args() -> tuple[tuple[Any, ...], dict[str, Any]]:
    entries = request_body("POST /logs/")
    return ([LogCreate.model_validate(e) for e in entries],), {}


def task_run_args() -> tuple[tuple[Any, ...], dict[str, Any]]:
    b = request_body("POST /task_runs/")
    return (), {
        "flow_run_id": UUID(b["flow_run_id"]),
        "task_key": b["task_key"],
        "dynamic_key": b["dynamic_key"],
    }


def from_deployment_args() -> tuple[tuple[Any, ...], dict[str, Any]]:
    key = "POST /deployments/{id}/create_flow_run"
    b = request_body(key)
    return (UUID(url_part(key, -2)),), {
        "parameters": b["parameters"],
        "tags": b["tags"],
        "idempotency_key": b["idempotency_key"],
    }


def work_pool_args() -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (WorkPoolCreate.model_validate(request_body("POST /work_pools/")),), {}


def check_orchestration(status: SetStateStatus) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert isinstance(result, OrchestrationResult)
        assert result.status is status

    return check


def check_lease(result: Any) -> None:
    assert isinstance(result, ConcurrencyLimitWithLeaseResponse)
    assert [limit.name for limit in result.limits] == ["capture-gcl"]


CASES: dict[str, Case] = {
    "api_healthcheck": Case("api_healthcheck", ["GET /health"], no_args, is_none),
    "hello": Case(
        "hello",
        ["GET /hello"],
        no_args,
        lambda r: r.json() == SAMPLES["GET /hello"]["response_body"],
    ),
    "api_version": Case("api_version", ["GET /admin/version"], no_args, lambda r: r == "3.9.1"),
    "create_flow_from_name": Case(
        "create_flow_from_name",
        ["POST /flows/"],
        lambda: ((request_body("POST /flows/")["name"],), {}),
        lambda r: r == UUID(SAMPLES["POST /flows/"]["response_body"]["id"]),
    ),
    "read_flow": Case(
        "read_flow",
        ["GET /flows/{id}"],
        lambda: ((UUID(url_part("GET /flows/{id}", -1)),), {}),
        is_instance(Flow),
    ),
    "read_flow_by_name": Case(
        "read_flow_by_name",
        ["GET /flows/name/{name}"],
        lambda: ((url_part("GET /flows/name/{name}", -1),), {}),
        is_instance(Flow),
    ),
    "read_flows": Case(
        "read_flows",
        ["POST /flows/filter"],
        lambda: (
            (),
            {
                "flow_filter": FlowFilter(name=FlowFilterName(like_="capture-flow")),
                "sort": FlowSort.NAME_ASC,
                "limit": 10,
            },
        ),
        list_of(Flow),
    ),
    "delete_flow": Case(
        "delete_flow",
        ["DELETE /flows/{id}"],
        lambda: ((UUID(url_part("DELETE /flows/{id}", -1)),), {}),
        is_none,
    ),
    "create_flow_run": Case(
        "create_flow_run",
        ["POST /flow_runs/ (client.create_flow_run)"],
        flow_run_create_args,
        is_instance(FlowRun),
    ),
    "create_flow_run idempotent": Case(
        "create_flow_run",
        ["POST /flow_runs/"],
        lambda: (
            (UUID(request_body("POST /flow_runs/")["flow_id"]),),
            {
                k: request_body("POST /flow_runs/")[k]
                for k in ("name", "parameters", "tags", "idempotency_key")
            },
        ),
        is_instance(FlowRun),
    ),
    "read_flow_run": Case(
        "read_flow_run",
        ["GET /flow_runs/{id}"],
        lambda: ((UUID(url_part("GET /flow_runs/{id}", -1)),), {}),
        is_instance(FlowRun),
    ),
    "update_flow_run": Case(
        "update_flow_run",
        ["PATCH /flow_runs/{id}"],
        lambda: (
            (UUID(url_part("PATCH /flow_runs/{id}", -1)),),
            dict(request_body("PATCH /flow_runs/{id}")),
        ),
        is_none,
    ),
    "set_flow_run_name": Case(
        "set_flow_run_name",
        ["PATCH /flow_runs/{id} (client.set_flow_run_name)"],
        lambda: (
            (
                UUID(url_part("PATCH /flow_runs/{id} (client.set_flow_run_name)", -1)),
                request_body("PATCH /flow_runs/{id} (client.set_flow_run_name)")["name"],
            ),
            {},
        ),
        is_none,
    ),
    "set_flow_run_state": Case(
        "set_flow_run_state",
        ["POST /flow_runs/{id}/set_state"],
        lambda: ((UUID(url_part("POST /flow_runs/{id}/set_state", -2)), states.Running()), {}),
        check_orchestration(SetStateStatus.ACCEPT),
    ),
    "set_flow_run_state abort": Case(
        "set_flow_run_state",
        ["POST /flow_runs/{id}/set_state -> ABORT (RUNNING -> PENDING)"],
        lambda: (
            (
                UUID(url_part("POST /flow_runs/{id}/set_state -> ABORT (RUNNING -> PENDING)", -2)),
                states.Pending(),
            ),
            {},
        ),
        check_orchestration(SetStateStatus.ABORT),
    ),
    "read_flow_runs": Case(
        "read_flow_runs",
        ["POST /flow_runs/filter (client.read_flow_runs)"],
        lambda: (
            (),
            {
                "flow_run_filter": FlowRunFilter(
                    tags=FlowRunFilterTags(all_=["capture-9730b9d1"]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.COMPLETED])
                    ),
                ),
                "sort": FlowRunSort.START_TIME_DESC,
                "limit": 2,
                "offset": 1,
            },
        ),
        list_of(FlowRun),
    ),
    "count_flow_runs": Case(
        "count_flow_runs",
        ["POST /flow_runs/count (client.count_flow_runs)"],
        lambda: (
            (),
            {
                "flow_run_filter": FlowRunFilter(
                    tags=FlowRunFilterTags(all_=["capture-9730b9d1"]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.COMPLETED])
                    ),
                )
            },
        ),
        lambda r: r == 3,
    ),
    "read_flow_run_states": Case(
        "read_flow_run_states",
        ["GET /flow_run_states/"],
        lambda: (
            (UUID(httpx.URL(SAMPLES["GET /flow_run_states/"]["url"]).params["flow_run_id"]),),
            {},
        ),
        list_of(State),
    ),
    "resume_flow_run": Case(
        "resume_flow_run",
        ["POST /flow_runs/{id}/resume"],
        lambda: ((UUID(url_part("POST /flow_runs/{id}/resume", -2)),), {}),
        check_orchestration(SetStateStatus.ACCEPT),
    ),
    "update_flow_run_labels": Case(
        "update_flow_run_labels",
        ["PATCH /flow_runs/{id}/labels"],
        lambda: (
            (
                UUID(url_part("PATCH /flow_runs/{id}/labels", -2)),
                request_body("PATCH /flow_runs/{id}/labels"),
            ),
            {},
        ),
        is_none,
    ),
    "delete_flow_run": Case(
        "delete_flow_run",
        ["DELETE /flow_runs/{id}"],
        lambda: ((UUID(url_part("DELETE /flow_runs/{id}", -1)),), {}),
        is_none,
    ),
    "create_task_run": Case(
        "create_task_run", ["POST /task_runs/"], task_run_args, is_instance(TaskRun)
    ),
    "read_task_run": Case(
        "read_task_run",
        ["GET /task_runs/{id}"],
        lambda: ((UUID(url_part("GET /task_runs/{id}", -1)),), {}),
        is_instance(TaskRun),
    ),
    "set_task_run_state": Case(
        "set_task_run_state",
        ["POST /task_runs/{id}/set_state"],
        lambda: ((UUID(url_part("POST /task_runs/{id}/set_state", -2)), states.Running()), {}),
        check_orchestration(SetStateStatus.ACCEPT),
    ),
    "read_task_runs": Case(
        "read_task_runs",
        ["POST /task_runs/filter"],
        lambda: (
            (),
            {
                "task_run_filter": TaskRunFilter(
                    flow_run_id=TaskRunFilterFlowRunId(
                        any_=[UUID("f090ccea-cb84-475f-b0a7-0cbe910bfec6")]
                    )
                ),
                "sort": TaskRunSort.EXPECTED_START_TIME_DESC,
                "limit": 10,
            },
        ),
        list_of(TaskRun),
    ),
    "read_task_run_states": Case(
        "read_task_run_states",
        ["GET /task_run_states/"],
        lambda: (
            (UUID(httpx.URL(SAMPLES["GET /task_run_states/"]["url"]).params["task_run_id"]),),
            {},
        ),
        list_of(State),
    ),
    "delete_task_run": Case(
        "delete_task_run",
        ["DELETE /task_runs/{id}"],
        lambda: ((UUID(url_part("DELETE /task_runs/{id}", -1)),), {}),
        is_none,
    ),
    "create_deployment": Case(
        "create_deployment",
        ["POST /deployments/ (client.create_deployment)"],
        deployment_create_args,
        lambda r: (
            r
            == UUID(SAMPLES["POST /deployments/ (client.create_deployment)"]["response_body"]["id"])
        ),
    ),
    "read_deployment": Case(
        "read_deployment",
        ["GET /deployments/{id}"],
        lambda: ((UUID(url_part("GET /deployments/{id}", -1)),), {}),
        is_instance(Deployment),
    ),
    "read_deployment_by_name": Case(
        "read_deployment_by_name",
        ["GET /deployments/name/{flow_name}/{deployment_name}"],
        lambda: (("capture-flow/capture-deployment",), {}),
        is_instance(Deployment),
    ),
    "read_deployments": Case(
        "read_deployments",
        ["POST /deployments/filter"],
        lambda: (
            (),
            {
                "deployment_filter": DeploymentFilter(
                    tags=DeploymentFilterTags(all_=["capture-9730b9d1"])
                ),
                "sort": DeploymentSort.NAME_ASC,
                "limit": 10,
            },
        ),
        list_of(Deployment),
    ),
    "update_deployment": Case(
        "update_deployment",
        ["PATCH /deployments/{id}"],
        lambda: (
            (
                UUID(url_part("PATCH /deployments/{id}", -1)),
                DeploymentUpdate.model_validate(request_body("PATCH /deployments/{id}")),
            ),
            {},
        ),
        is_none,
    ),
    "delete_deployment": Case(
        "delete_deployment",
        ["DELETE /deployments/{id}"],
        lambda: ((UUID(url_part("DELETE /deployments/{id}", -1)),), {}),
        is_none,
    ),
    "create_flow_run_from_deployment": Case(
        "create_flow_run_from_deployment",
        ["POST /deployments/{id}/create_flow_run"],
        from_deployment_args,
        is_instance(FlowRun),
    ),
    "get_scheduled_flow_runs_for_deployments": Case(
        "get_scheduled_flow_runs_for_deployments",
        ["POST /deployments/get_scheduled_flow_runs"],
        lambda: (
            (
                [
                    UUID(i)
                    for i in request_body("POST /deployments/get_scheduled_flow_runs")[
                        "deployment_ids"
                    ]
                ],
            ),
            {
                "scheduled_before": datetime.fromisoformat("2026-11-22 02:51:45.086764+00:00"),
                "limit": 10,
            },
        ),
        list_of(FlowRun),
    ),
    "create_logs": Case("create_logs", ["POST /logs/"], logs_args, is_none),
    "read_logs": Case(
        "read_logs",
        ["POST /logs/filter"],
        lambda: (
            (),
            {
                "log_filter": LogFilter(
                    flow_run_id=LogFilterFlowRunId(
                        any_=[UUID("f090ccea-cb84-475f-b0a7-0cbe910bfec6")]
                    )
                ),
                "limit": 10,
                "offset": 0,
                "sort": LogSort.TIMESTAMP_DESC,
            },
        ),
        list_of(Log),
    ),
    "create_variable": Case(
        "create_variable",
        ["POST /variables/"],
        lambda: ((VariableCreate.model_validate(request_body("POST /variables/")),), {}),
        is_instance(Variable),
    ),
    "read_variable_by_name": Case(
        "read_variable_by_name",
        ["GET /variables/name/{name}"],
        lambda: ((url_part("GET /variables/name/{name}", -1),), {}),
        is_instance(Variable),
    ),
    "read_variables": Case(
        "read_variables", ["POST /variables/filter"], lambda: ((10,), {}), list_of(Variable)
    ),
    "update_variable": Case(
        "update_variable",
        ["PATCH /variables/name/{name}"],
        lambda: (
            (VariableUpdate.model_validate(request_body("PATCH /variables/name/{name}")),),
            {},
        ),
        is_none,
    ),
    "delete_variable_by_name": Case(
        "delete_variable_by_name",
        ["DELETE /variables/name/{name}"],
        lambda: ((url_part("DELETE /variables/name/{name}", -1),), {}),
        is_none,
    ),
    "create_work_pool": Case(
        "create_work_pool", ["POST /work_pools/"], work_pool_args, is_instance(WorkPool)
    ),
    "read_work_pool": Case(
        "read_work_pool",
        ["GET /work_pools/{name}"],
        lambda: (("capture-pool",), {}),
        is_instance(WorkPool),
    ),
    "update_work_pool": Case(
        "update_work_pool",
        ["PATCH /work_pools/{name}"],
        lambda: (
            (
                "capture-pool",
                WorkPoolUpdate.model_validate(request_body("PATCH /work_pools/{name}")),
            ),
            {},
        ),
        is_none,
    ),
    "read_work_pools": Case(
        "read_work_pools",
        ["POST /work_pools/filter"],
        lambda: (
            (),
            {
                "limit": 10,
                "work_pool_filter": WorkPoolFilter(
                    name=WorkPoolFilterName(any_=["capture-pool", "capture-pool-2"])
                ),
            },
        ),
        list_of(WorkPool),
    ),
    "delete_work_pool": Case(
        "delete_work_pool",
        ["DELETE /work_pools/{name}"],
        lambda: (("capture-pool-2",), {}),
        is_none,
    ),
    "send_worker_heartbeat": Case(
        "send_worker_heartbeat",
        ["POST /work_pools/{work_pool_name}/workers/heartbeat"],
        lambda: (("capture-pool", "capture-worker-1"), {"heartbeat_interval_seconds": 30}),
        is_none,
    ),
    "get_scheduled_flow_runs_for_work_pool": Case(
        "get_scheduled_flow_runs_for_work_pool",
        ["POST /work_pools/{name}/get_scheduled_flow_runs"],
        lambda: (
            ("capture-pool",),
            {
                "work_queue_names": ["capture-queue"],
                "scheduled_before": datetime.fromisoformat("2026-11-22 02:51:45.086764+00:00"),
            },
        ),
        list_of(WorkerFlowRunResponse),
    ),
    "create_work_queue": Case(
        "create_work_queue",
        ["POST /work_pools/{work_pool_name}/queues"],
        lambda: (
            ("capture-queue",),
            {
                "description": "capture queue",
                "is_paused": False,
                "concurrency_limit": 3,
                "priority": 2,
                "work_pool_name": "capture-pool",
            },
        ),
        is_instance(WorkQueue),
    ),
    "create_work_queue without pool": Case(
        "create_work_queue",
        ["POST /work_queues/"],
        lambda: (("capture-legacy-queue",), {}),
        is_instance(WorkQueue),
    ),
    "read_work_queue_by_name": Case(
        "read_work_queue_by_name",
        ["GET /work_pools/{work_pool_name}/queues/{name}"],
        lambda: (("capture-queue",), {"work_pool_name": "capture-pool"}),
        is_instance(WorkQueue),
    ),
    "read_work_queue_by_name without pool": Case(
        "read_work_queue_by_name",
        ["GET /work_queues/name/{name}"],
        lambda: (("capture-legacy-queue",), {}),
        is_instance(WorkQueue),
    ),
    "read_work_queues": Case(
        "read_work_queues",
        ["POST /work_pools/{work_pool_name}/queues/filter"],
        lambda: ((), {"work_pool_name": "capture-pool", "limit": 10, "offset": 0}),
        list_of(WorkQueue),
    ),
    "read_work_queues without pool": Case(
        "read_work_queues",
        ["POST /work_queues/filter"],
        lambda: ((), {"limit": 10}),
        list_of(WorkQueue),
    ),
    "create_global_concurrency_limit": Case(
        "create_global_concurrency_limit",
        ["POST /v2/concurrency_limits/"],
        lambda: ((GlobalConcurrencyLimitCreate(name="capture-gcl", limit=2, active=True),), {}),
        lambda r: r == UUID(SAMPLES["POST /v2/concurrency_limits/"]["response_body"]["id"]),
    ),
    "read_global_concurrency_limit_by_name": Case(
        "read_global_concurrency_limit_by_name",
        ["GET /v2/concurrency_limits/{id_or_name}"],
        lambda: (("capture-gcl",), {}),
        is_instance(GlobalConcurrencyLimit),
    ),
    "delete_global_concurrency_limit_by_name": Case(
        "delete_global_concurrency_limit_by_name",
        ["DELETE /v2/concurrency_limits/{id_or_name}"],
        lambda: (("capture-gcl",), {}),
        is_none,
    ),
    "increment_concurrency_slots_with_lease": Case(
        "increment_concurrency_slots_with_lease",
        ["POST /v2/concurrency_limits/increment-with-lease"],
        lambda: (
            (["capture-gcl"], 1),
            {
                "mode": "concurrency",
                "lease_duration": 60,
                "holder": ConcurrencyLeaseHolder(
                    type="flow_run", id=UUID("f090ccea-cb84-475f-b0a7-0cbe910bfec6")
                ),
            },
        ),
        check_lease,
    ),
    "renew_concurrency_lease": Case(
        "renew_concurrency_lease",
        ["POST /v2/concurrency_limits/leases/{lease_id}/renew"],
        lambda: ((UUID("594b5ed8-203c-4706-81fe-ef6c752aee8c"), 120), {}),
        is_none,
    ),
    "release_concurrency_slots_with_lease": Case(
        "release_concurrency_slots_with_lease",
        ["POST /v2/concurrency_limits/decrement-with-lease"],
        lambda: ((UUID("594b5ed8-203c-4706-81fe-ef6c752aee8c"),), {}),
        is_none,
    ),
    "create_artifact": Case(
        "create_artifact",
        ["POST /artifacts/"],
        lambda: ((ArtifactCreate.model_validate(request_body("POST /artifacts/")),), {}),
        lambda r: r.key == "capture-report",
    ),
    "read_artifacts": Case(
        "read_artifacts",
        ["POST /artifacts/filter"],
        lambda: (
            (),
            {
                "artifact_filter": ArtifactFilter(key=ArtifactFilterKey(any_=["capture-report"])),
                "sort": ArtifactSort.CREATED_DESC,
                "limit": 5,
            },
        ),
        lambda r: [a.key for a in r] == ["capture-report"],
    ),
}


class SampleServer:
    """Answers the n-th request with the n-th sample's captured response (`respond` reads
    it: by default from the samples, another capture file may give its own)."""

    def __init__(
        self, keys: list[str], respond: Callable[[str], httpx.Response] = response_for
    ) -> None:
        self.keys = keys
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        index = len(self.requests)
        assert index < len(self.keys), f"unexpected extra request {request.method} {request.url}"
        self.requests.append(request)
        return self.respond(self.keys[index])


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(CASES))
async def test_method_matches_the_captured_exchange(kind: ClientKind, name: str) -> None:
    case = CASES[name]
    server = SampleServer(case.samples)
    args, kwargs = case.args()
    async with make_client(kind, server) as client:
        result = await call(client, case.method, *args, **kwargs)
    # A check either asserts (and returns None) or returns whether the result is right.
    assert case.check(result) in (None, True), f"{case.method} returned {result!r}"
    assert len(server.requests) == len(case.samples)
    for request, key in zip(server.requests, case.samples, strict=True):
        sample = SAMPLES[key]
        captured = httpx.URL(sample["url"])
        assert request.method == sample["method"]
        assert request.url.path == captured.path
        assert dict(request.url.params) == dict(captured.params)
        if sample["request_body"] is None:
            assert request.content == b""
        else:
            assert_agrees(
                httpx.Response(200, content=request.content).json(), sample["request_body"]
            )


def test_every_client_method_in_the_capture_has_a_case() -> None:
    captured = {
        m.split("(")[0].split(" ")[0] for m in load()["client_methods"] if not m.startswith("raw")
    }
    covered = {case.method for case in CASES.values()}
    assert captured - covered == set()


@pytest.mark.anyio
async def test_404_maps_to_object_not_found(kind: ClientKind) -> None:
    server = SampleServer(["GET /flows/{id} -> 404 (read_flow of an unknown id)"])
    async with make_client(kind, server) as client:
        with pytest.raises(ObjectNotFound) as info:
            await call(client, "read_flow", UUID(int=0))
    assert info.value.detail == "Flow not found"


@pytest.mark.anyio
async def test_409_maps_to_object_already_exists(kind: ClientKind) -> None:
    server = SampleServer(["POST /variables/ -> 409 (create_variable with a duplicate name)"])
    async with make_client(kind, server) as client:
        with pytest.raises(ObjectAlreadyExists, match="already exists"):
            await call(
                client, "create_variable", VariableCreate(name="capture_var_9730b9d1", value=1)
            )


@pytest.mark.anyio
async def test_missing_variable_reads_as_none(kind: ClientKind) -> None:
    server = SampleServer(["GET /flows/{id} -> 404 (read_flow of an unknown id)"])
    async with make_client(kind, server) as client:
        assert await call(client, "read_variable_by_name", "nope") is None


@pytest.mark.anyio
async def test_422_keeps_the_validation_detail(kind: ClientKind) -> None:
    server = SampleServer(["POST /variables/ -> 422 (well-formed JSON, invalid field values)"])
    async with make_client(kind, server) as client:
        with pytest.raises(httpx.HTTPStatusError) as info:
            await call(client, "create_variable", VariableCreate(name="ok_name", value=1))
    assert info.value.response.status_code == 422
    assert "Invalid request received." in str(info.value)


@pytest.mark.anyio
async def test_set_state_sends_a_fresh_transition_id_each_time(kind: ClientKind) -> None:
    key = "POST /flow_runs/{id}/set_state"
    server = SampleServer([key, key])
    state = states.Running()
    run_id = UUID(url_part(key, -2))
    async with make_client(kind, server) as client:
        await call(client, "set_flow_run_state", run_id, state)
        await call(client, "set_flow_run_state", run_id, state)
    sent = [
        httpx.Response(200, content=r.content).json()["state"]["state_details"]
        for r in server.requests
    ]
    assert sent[0]["transition_id"] != sent[1]["transition_id"]
    assert all(d["flow_run_id"] == str(run_id) for d in sent)
    assert state.state_details.transition_id is None  # the caller's state is not changed


def test_bad_deployment_name_is_refused_before_any_request() -> None:
    from prefect_trio_client.orchestration.deployments import read_deployment_by_name

    for bad in ("no-slash", "/dep", "flow/", "a/b/c"):
        with pytest.raises(ValueError, match="<flow name>/<deployment name>"):
            next(read_deployment_by_name(bad))


def test_task_run_kind_is_pending_by_default() -> None:
    from prefect_trio_client.orchestration.task_runs import create_task_run

    request = next(create_task_run(flow_run_id=None, task_key="k", dynamic_key="0"))
    assert isinstance(request, Request)
    assert request.json["state"]["type"] == StateType.PENDING.value
