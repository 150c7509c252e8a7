"""Every captured response body validates into its read model and dumps back unchanged.

Dumping back to the very same JSON is the strongest form of wire compatibility: it shows
field names, optionality, enum spellings, datetime and duration formats all match what a
Prefect 3.9 server writes. Where the server sends a field we do not model, or leaves out
one we have, the difference is listed here by path, so any new drift fails the test.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel, TypeAdapter

from prefect_trio_client.schemas.objects import (
    Artifact,
    ConcurrencyLimitWithLeaseResponse,
    CsrfToken,
    Deployment,
    DeploymentStatus,
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
    WorkPoolStatus,
    WorkQueue,
)
from prefect_trio_client.schemas.responses import (
    OrchestrationResult,
    SetStateStatus,
    StateAbortDetails,
    StateAcceptDetails,
)
from tests.schemas.samples import all_keys, items, sample, without

E = "endpoints"
X = "extra_examples"

# (section, key) -> (read model, paths the server sends that we ignore,
#                    paths we write that this server response leaves out)
RESPONSES: dict[tuple[str, str], tuple[type[BaseModel], tuple[str, ...], tuple[str, ...]]] = {
    (E, "GET /deployments/name/{flow_name}/{deployment_name}"): (Deployment, (), ()),
    (E, "GET /deployments/{id}"): (Deployment, (), ()),
    (E, "GET /flow_run_states/"): (State, (), ()),
    (E, "GET /flow_runs/{id}"): (FlowRun, (), ()),
    (E, "GET /flows/name/{name}"): (Flow, (), ()),
    (E, "GET /flows/{id}"): (Flow, (), ()),
    (E, "GET /task_run_states/"): (State, (), ()),
    (E, "GET /task_runs/{id}"): (TaskRun, (), ()),
    (E, "GET /v2/concurrency_limits/{id_or_name}"): (GlobalConcurrencyLimit, (), ()),
    (E, "GET /variables/name/{name}"): (Variable, (), ()),
    (E, "GET /work_pools/{name}"): (WorkPool, (), ()),
    (E, "GET /work_pools/{work_pool_name}/queues/{name}"): (WorkQueue, (), ()),
    (E, "GET /work_queues/name/{name}"): (WorkQueue, (), ()),
    (E, "POST /artifacts/"): (Artifact, (), ()),
    (E, "POST /artifacts/filter"): (Artifact, (), ()),
    (E, "POST /deployments/"): (Deployment, (), ()),
    (E, "POST /deployments/filter"): (Deployment, (), ()),
    (E, "POST /deployments/get_scheduled_flow_runs"): (FlowRun, (), ()),
    (E, "POST /deployments/{id}/create_flow_run"): (FlowRun, (), ()),
    (E, "POST /flow_runs/"): (FlowRun, (), ()),
    (E, "POST /flow_runs/filter"): (FlowRun, (), ()),
    (E, "POST /flow_runs/{id}/resume"): (OrchestrationResult, (), ()),
    (E, "POST /flow_runs/{id}/set_state"): (OrchestrationResult, (), ()),
    (E, "POST /flows/"): (Flow, (), ()),
    (E, "POST /flows/filter"): (Flow, (), ()),
    (E, "POST /logs/filter"): (Log, (), ()),
    (E, "POST /task_runs/"): (TaskRun, (), ()),
    (E, "POST /task_runs/filter"): (TaskRun, (), ()),
    (E, "POST /task_runs/{id}/set_state"): (OrchestrationResult, (), ()),
    # The create endpoint answers with the server's core object, which carries two
    # counters the read endpoint (GlobalConcurrencyLimitResponse) does not have.
    (E, "POST /v2/concurrency_limits/"): (
        GlobalConcurrencyLimit,
        ("denied_slots", "avg_slot_occupancy_seconds"),
        (),
    ),
    (E, "POST /v2/concurrency_limits/increment-with-lease"): (
        ConcurrencyLimitWithLeaseResponse,
        (),
        (),
    ),
    (E, "POST /variables/"): (Variable, (), ()),
    (E, "POST /variables/filter"): (Variable, (), ()),
    (E, "POST /work_pools/"): (WorkPool, (), ()),
    (E, "POST /work_pools/filter"): (WorkPool, (), ()),
    # The worker endpoint's flow runs come without the pool fields (they sit one level up).
    (E, "POST /work_pools/{name}/get_scheduled_flow_runs"): (
        WorkerFlowRunResponse,
        (),
        ("flow_run.work_pool_id", "flow_run.work_pool_name"),
    ),
    (E, "POST /work_pools/{work_pool_name}/queues"): (WorkQueue, (), ()),
    (E, "POST /work_pools/{work_pool_name}/queues/filter"): (WorkQueue, (), ()),
    (E, "POST /work_queues/"): (WorkQueue, (), ()),
    (E, "POST /work_queues/filter"): (WorkQueue, (), ()),
    (X, "POST /flow_runs/{id}/set_state -> ABORT (RUNNING -> PENDING)"): (
        OrchestrationResult,
        (),
        (),
    ),
    (X, "POST /flow_runs/ -> 200 idempotent replay"): (FlowRun, (), ()),
    (X, "GET /csrf-token (PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true)"): (CsrfToken, (), ()),
    (X, "POST /flows/ (CSRF enabled: note Prefect-Csrf-* request headers)"): (Flow, (), ()),
    (X, "POST /flow_runs/{id}/set_state (CSRF enabled: note Prefect-Csrf-* request headers)"): (
        OrchestrationResult,
        (),
        (),
    ),
    (X, "POST /flows/ (client.create_flow_run)"): (Flow, (), ()),
    (X, "POST /flow_runs/ (client.create_flow_run)"): (FlowRun, (), ()),
    (X, "POST /flow_runs/filter (client.read_flow_runs)"): (FlowRun, (), ()),
    (X, "POST /flow_runs/{id}/set_state (RUNNING -> PAUSED, no reschedule)"): (
        OrchestrationResult,
        (),
        (),
    ),
    (X, "POST /flow_runs/{id}/resume -> ABORT (run is COMPLETED, not paused)"): (
        OrchestrationResult,
        (),
        (),
    ),
    (X, "POST /deployments/ (client.create_deployment)"): (Deployment, (), ()),
    (
        X,
        "POST /deployments/{id}/create_flow_run -> 200 idempotent replay "
        "(same idempotency_key, different parameters)",
    ): (FlowRun, (), ()),
}

# Successful answers that are not objects: scalars, empty bodies, counts.
NOT_OBJECTS = {
    (E, "GET /admin/version"): str,
    (E, "GET /health"): bool,
    (E, "GET /hello"): str,
    (E, "POST /flow_runs/count"): int,
    (X, "GET /version (server root, not /admin/version)"): str,
    (X, "POST /flow_runs/count (client.count_flow_runs)"): int,
}


def _is_success_with_body(section: str, key: str) -> bool:
    exchange = sample(section, key)
    return 200 <= exchange["status_code"] < 300 and exchange["response_body"] is not None


def test_every_successful_response_body_is_mapped() -> None:
    """A sample added to the capture must be mapped here, so none is skipped silently."""
    with_body = {k for k in all_keys() if _is_success_with_body(*k)}
    unmapped = with_body - set(RESPONSES) - set(NOT_OBJECTS)
    assert unmapped == set()
    assert set(RESPONSES) <= with_body  # and no entry points at a missing sample


@pytest.mark.parametrize(("section", "key"), sorted(NOT_OBJECTS))
def test_non_object_bodies_have_the_expected_json_type(section: str, key: str) -> None:
    body = sample(section, key)["response_body"]
    assert type(body) is NOT_OBJECTS[section, key]


@pytest.mark.parametrize(("section", "key"), sorted(RESPONSES), ids=str)
def test_response_body_validates_and_dumps_back(section: str, key: str) -> None:
    model, server_extras, our_extras = RESPONSES[section, key]
    for body in items(sample(section, key)["response_body"]):
        parsed = model.model_validate(body)
        dumped = parsed.model_dump(mode="json")
        expected = body
        for path in server_extras:
            expected = without(expected, path)
        for path in our_extras:
            dumped = without(dumped, path)
        assert dumped == expected
        # The JSON text form agrees with the Python form.
        assert model.model_validate_json(parsed.model_dump_json()) == parsed


def test_unknown_server_fields_are_ignored_not_kept() -> None:
    body = sample(E, "POST /v2/concurrency_limits/")["response_body"]
    limit = GlobalConcurrencyLimit.model_validate({**body, "field_from_the_future": [1, 2]})
    assert limit.name == "capture-gcl"
    assert limit.limit == 2
    assert "denied_slots" not in limit.model_dump()
    assert "field_from_the_future" not in limit.model_dump()
    assert not hasattr(limit, "field_from_the_future")


def test_nested_unknown_fields_are_ignored_too() -> None:
    body = sample(E, "GET /flow_runs/{id}")["response_body"]
    body = {
        **body,
        "new_top_level": 1,
        "empirical_policy": {**body["empirical_policy"], "new_policy_knob": True},
        "state": {
            **body["state"],
            "state_details": {**body["state"]["state_details"], "new_detail": "x"},
        },
    }
    run = FlowRun.model_validate(body)
    assert run.state is not None
    assert run.state.state_details.transition_id is not None
    dumped = run.model_dump(mode="json")
    assert "new_top_level" not in dumped
    assert "new_policy_knob" not in dumped["empirical_policy"]
    assert "new_detail" not in dumped["state"]["state_details"]


def test_parsed_values_have_python_types() -> None:
    run = FlowRun.model_validate(sample(E, "GET /flow_runs/{id}")["response_body"])
    assert run.state_type is StateType.COMPLETED
    assert run.total_run_time.total_seconds() == pytest.approx(0.277954)
    assert run.start_time is not None
    assert run.start_time.utcoffset() is not None
    assert run.start_time.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert run.empirical_policy.pause_keys == set()
    assert run.labels == {"prefect.flow.id": "71ffcb84-2e5b-4445-9b08-acc04c81ef2e"}

    deployment = Deployment.model_validate(sample(E, "GET /deployments/{id}")["response_body"])
    assert deployment.status is DeploymentStatus.NOT_READY
    pool = WorkPool.model_validate(sample(E, "GET /work_pools/{name}")["response_body"])
    assert pool.status is WorkPoolStatus.NOT_READY
    assert pool.storage_configuration.default_result_storage_block_id is None


def test_worker_flow_run_response_list() -> None:
    body = sample(E, "POST /work_pools/{name}/get_scheduled_flow_runs")["response_body"]
    responses = TypeAdapter(list[WorkerFlowRunResponse]).validate_python(body)
    assert len(responses) == 1
    assert str(responses[0].work_queue_id) == "e352d043-597f-4760-b4c1-f86c3e4e7656"
    assert responses[0].flow_run.state is not None
    assert responses[0].flow_run.state.is_scheduled()


def _result(section: str, key: str) -> OrchestrationResult:
    return OrchestrationResult.model_validate(sample(section, key)["response_body"])


def test_orchestration_accept_from_the_capture() -> None:
    result = _result(E, "POST /flow_runs/{id}/set_state")
    assert result.status is SetStateStatus.ACCEPT
    assert isinstance(result.details, StateAcceptDetails)
    assert result.state is not None
    assert result.state.is_running()


def test_orchestration_abort_from_the_capture() -> None:
    result = _result(X, "POST /flow_runs/{id}/set_state -> ABORT (RUNNING -> PENDING)")
    assert result.status is SetStateStatus.ABORT
    assert isinstance(result.details, StateAbortDetails)
    assert result.details.reason == (
        "This run is in a RUNNING state and cannot transition to a PENDING state."
    )
    # The server answers with the state the run stays in, not the proposed one.
    assert result.state is not None
    assert result.state.type is StateType.RUNNING


def test_orchestration_abort_without_a_state() -> None:
    result = _result(X, "POST /flow_runs/{id}/resume -> ABORT (run is COMPLETED, not paused)")
    assert result.state is None
    assert isinstance(result.details, StateAbortDetails)
    assert result.details.reason == "Cannot resume a flow run that is not paused."


def test_paused_state_details_survive_the_round_trip() -> None:
    result = _result(X, "POST /flow_runs/{id}/set_state (RUNNING -> PAUSED, no reschedule)")
    assert result.state is not None
    details = result.state.state_details
    assert result.state.is_paused()
    assert details.pause_key == "capture-pause"
    assert details.pause_reschedule is False
    assert details.pause_timeout is not None
    assert details.pause_timeout.isoformat() == "2026-11-22T02:01:44.297860+00:00"
