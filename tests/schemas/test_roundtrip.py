"""Property tests: whatever a model holds survives its own wire format.

For each core model, ``model_validate(m.model_dump(mode="json")) == m`` and the same
through JSON text. For the sparse (write) models, the keys written are exactly the fields
that were given, which is the omission policy stated as a property.
"""

from __future__ import annotations

import string
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from prefect_trio_client.schemas import filters as f
from prefect_trio_client.schemas.actions import (
    DeploymentCreate,
    DeploymentScheduleCreate,
    FlowRunCreate,
    StateCreate,
    TaskRunCreate,
)
from prefect_trio_client.schemas.objects import (
    ConcurrencyLimitStrategy,
    ConcurrencyOptions,
    Constant,
    CronSchedule,
    Deployment,
    DeploymentSchedule,
    DeploymentStatus,
    FlowRun,
    FlowRunPolicy,
    FlowRunResult,
    IntervalSchedule,
    Parameter,
    RRuleSchedule,
    State,
    StateDetails,
    StateType,
    TaskRun,
    TaskRunPolicy,
    TaskRunResult,
)
from prefect_trio_client.schemas.responses import (
    OrchestrationResult,
    SetStateStatus,
    StateAbortDetails,
    StateAcceptDetails,
    StateRejectDetails,
    StateWaitDetails,
)

M = TypeVar("M", bound=BaseModel)

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- leaves

uuids = st.uuids()
words = st.text(alphabet=string.ascii_letters + string.digits + "-_ é", max_size=12)
offsets = st.sampled_from(
    [timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)
# Offset-aware datetimes, converted to UTC by the models (naive ones are refused:
# test_wire_rules).
datetimes = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=offsets,
)
durations = st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=3650))
floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
ints = st.integers(min_value=-(2**53), max_value=2**53)
json_values = st.recursive(
    st.none() | st.booleans() | ints | floats | words,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(words, inner, max_size=3),
    max_leaves=6,
)
json_objects = st.dictionaries(words, json_values, max_size=3)
labels = st.dictionaries(words, st.booleans() | ints | floats | words, max_size=3)
tags = st.lists(words, max_size=3)
zones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York"])


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def model(
    cls: type[M],
    required: dict[str, st.SearchStrategy[Any]] | None = None,
    /,
    **optional: st.SearchStrategy[Any],
) -> st.SearchStrategy[M]:
    """Instances built from the required fields and any subset of the optional ones, so
    "never given" and "given (maybe as None)" are both exercised."""
    return st.fixed_dictionaries(required or {}, optional=optional).map(lambda kw: cls(**kw))


# --------------------------------------------------------------------------- models

state_types = st.sampled_from(StateType)

state_details = model(
    StateDetails,
    flow_run_id=opt(uuids),
    task_run_id=opt(uuids),
    child_flow_run_id=opt(uuids),
    scheduled_time=opt(datetimes),
    cache_key=opt(words),
    cache_expiration=opt(datetimes),
    deferred=opt(st.booleans()),
    untrackable_result=st.booleans(),
    pause_timeout=opt(datetimes),
    pause_reschedule=st.booleans(),
    pause_key=opt(words),
    run_input_keyset=opt(st.dictionaries(words, words, max_size=2)),
    refresh_cache=opt(st.booleans()),
    retriable=opt(st.booleans()),
    transition_id=opt(uuids),
    task_parameters_id=opt(uuids),
    traceparent=opt(words),
    deployment_concurrency_lease_id=opt(uuids),
)

states = model(
    State,
    {"type": state_types},
    id=uuids,
    name=opt(words),
    timestamp=datetimes,
    message=opt(words),
    data=json_values,
    state_details=state_details,
)

flow_run_policies = model(
    FlowRunPolicy,
    max_retries=ints,
    retry_delay_seconds=floats,
    retries=opt(ints),
    retry_delay=opt(ints),
    pause_keys=opt(st.sets(words, max_size=3)),
    resuming=opt(st.booleans()),
    retry_type=opt(st.sampled_from(["in_process", "reschedule"])),
)

flow_runs = model(
    FlowRun,
    {"name": words, "flow_id": uuids},
    id=uuids,
    created=opt(datetimes),
    updated=opt(datetimes),
    state_id=opt(uuids),
    deployment_id=opt(uuids),
    deployment_version=opt(words),
    work_queue_id=opt(uuids),
    work_queue_name=opt(words),
    flow_version=opt(words),
    parameters=json_objects,
    idempotency_key=opt(words),
    context=json_objects,
    empirical_policy=flow_run_policies,
    tags=tags,
    labels=labels,
    parent_task_run_id=opt(uuids),
    state_type=opt(state_types),
    state_name=opt(words),
    run_count=ints,
    expected_start_time=opt(datetimes),
    next_scheduled_start_time=opt(datetimes),
    start_time=opt(datetimes),
    end_time=opt(datetimes),
    total_run_time=durations,
    estimated_run_time=durations,
    estimated_start_time_delta=durations,
    auto_scheduled=st.booleans(),
    infrastructure_pid=opt(words),
    work_pool_id=opt(uuids),
    work_pool_name=opt(words),
    state=opt(states),
    job_variables=opt(json_objects),
)

task_run_policies = model(
    TaskRunPolicy,
    retries=opt(ints),
    retry_delay=opt(ints | floats | st.lists(ints, max_size=3) | st.lists(floats, max_size=3)),
    retry_jitter_factor=opt(floats),
)

task_inputs = st.dictionaries(
    words,
    st.lists(
        st.builds(TaskRunResult, id=uuids)
        | st.builds(FlowRunResult, id=uuids)
        | st.builds(Parameter, name=words)
        | st.builds(Constant, type=words),
        max_size=3,
    ),
    max_size=3,
)

task_runs = model(
    TaskRun,
    {"name": words, "task_key": words, "dynamic_key": words},
    id=uuids,
    flow_run_id=opt(uuids),
    cache_key=opt(words),
    cache_expiration=opt(datetimes),
    empirical_policy=task_run_policies,
    tags=tags,
    labels=labels,
    task_inputs=task_inputs,
    state_type=opt(state_types),
    run_count=ints,
    flow_run_run_count=ints,
    start_time=opt(datetimes),
    total_run_time=durations,
    state=opt(states),
)

schedules = (
    st.builds(
        IntervalSchedule,
        interval=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=400)),
        anchor_date=datetimes,
        timezone=opt(zones),
    )
    | st.builds(
        CronSchedule, cron=st.just("0 9 * * 1-5"), timezone=opt(zones), day_or=st.booleans()
    )
    | st.builds(RRuleSchedule, rrule=st.just("FREQ=DAILY;COUNT=3"), timezone=opt(zones))
)

deployments = model(
    Deployment,
    {"name": words, "flow_id": uuids},
    id=uuids,
    version=opt(words),
    paused=st.booleans(),
    schedules=st.lists(
        model(DeploymentSchedule, {"schedule": schedules}, active=st.booleans(), slug=opt(words)),
        max_size=2,
    ),
    concurrency_options=opt(
        st.builds(ConcurrencyOptions, collision_strategy=st.sampled_from(ConcurrencyLimitStrategy))
    ),
    parameters=json_objects,
    tags=tags,
    labels=labels,
    last_polled=opt(datetimes),
    pull_steps=opt(st.lists(json_objects, max_size=2)),
    status=opt(st.sampled_from(DeploymentStatus)),
    enforce_parameter_schema=st.booleans(),
)

state_creates = model(
    StateCreate,
    {"type": state_types},
    name=opt(words),
    message=opt(words),
    state_details=state_details,
    data=json_values,
)

flow_run_creates = model(
    FlowRunCreate,
    {"flow_id": uuids},
    state=opt(state_creates),
    name=opt(words),
    parameters=json_objects,
    context=json_objects,
    empirical_policy=flow_run_policies,
    tags=tags,
    idempotency_key=opt(words),
    labels=labels,
    job_variables=opt(json_objects),
)

task_run_creates = model(
    TaskRunCreate,
    {"task_key": words, "dynamic_key": words},
    id=opt(uuids),
    state=opt(state_creates),
    flow_run_id=opt(uuids),
    cache_expiration=opt(datetimes),
    empirical_policy=task_run_policies,
    task_inputs=task_inputs,
)

deployment_creates = model(
    DeploymentCreate,
    {"name": words, "flow_id": uuids},
    schedules=st.lists(model(DeploymentScheduleCreate, {"schedule": schedules}), max_size=2),
    parameters=json_objects,
    description=opt(words),
    paused=st.booleans(),
    enforce_parameter_schema=st.booleans(),
    work_pool_name=opt(words),
    job_variables=json_objects,
)

time_ranges = {"before_": opt(datetimes), "after_": opt(datetimes)}
flow_filters = model(
    f.FlowFilter,
    operator=st.sampled_from(f.Operator),
    id=model(f.FlowFilterId, any_=opt(st.lists(uuids, max_size=2))),
    name=model(f.FlowFilterName, any_=opt(tags), like_=opt(words)),
    tags=model(f.FlowFilterTags, all_=opt(tags), is_null_=opt(st.booleans())),
)
flow_run_filters = model(
    f.FlowRunFilter,
    operator=st.sampled_from(f.Operator),
    id=model(
        f.FlowRunFilterId, any_=opt(st.lists(uuids, max_size=2)), not_any_=opt(st.lists(uuids))
    ),
    tags=model(f.FlowRunFilterTags, all_=opt(tags), any_=opt(tags), is_null_=opt(st.booleans())),
    state=model(
        f.FlowRunFilterState,
        type=model(f.FlowRunFilterStateType, any_=opt(st.lists(state_types, max_size=3))),
        name=model(f.FlowRunFilterStateName, any_=opt(tags), not_any_=opt(tags)),
    ),
    start_time=model(f.FlowRunFilterStartTime, is_null_=opt(st.booleans()), **time_ranges),
    expected_start_time=model(f.FlowRunFilterExpectedStartTime, **time_ranges),
    idempotency_key=model(f.FlowRunFilterIdempotencyKey, any_=opt(tags)),
)
task_run_filters = model(
    f.TaskRunFilter,
    state=model(
        f.TaskRunFilterState, type=model(f.TaskRunFilterStateType, any_=opt(st.lists(state_types)))
    ),
    flow_run_id=model(
        f.TaskRunFilterFlowRunId, any_=opt(st.lists(uuids, max_size=2)), is_null_=st.booleans()
    ),
    start_time=model(f.TaskRunFilterStartTime, **time_ranges),
    subflow_runs=model(f.TaskRunFilterSubFlowRuns, exists_=opt(st.booleans())),
)
deployment_filters = model(
    f.DeploymentFilter,
    name=model(f.DeploymentFilterName, like_=opt(words)),
    paused=model(f.DeploymentFilterPaused, eq_=opt(st.booleans())),
    tags=model(f.DeploymentFilterTags, all_=opt(tags), any_=opt(tags)),
)
log_filters = model(
    f.LogFilter,
    level=model(f.LogFilterLevel, ge_=opt(ints), le_=opt(ints)),
    timestamp=model(f.LogFilterTimestamp, **time_ranges),
    text=model(f.LogFilterTextSearch, {"query": st.text(max_size=200)}),
)

orchestration_results = model(
    OrchestrationResult,
    {
        "status": st.sampled_from(SetStateStatus),
        "details": st.builds(StateAcceptDetails)
        | st.builds(StateRejectDetails, reason=opt(words))
        | st.builds(StateAbortDetails, reason=opt(words))
        | st.builds(StateWaitDetails, delay_seconds=st.integers(0, 3600), reason=opt(words)),
    },
    state=opt(states),
)

CORE: dict[str, st.SearchStrategy[Any]] = {
    "StateDetails": state_details,
    "State": states,
    "FlowRun": flow_runs,
    "TaskRun": task_runs,
    "Deployment": deployments,
    "StateCreate": state_creates,
    "FlowRunCreate": flow_run_creates,
    "TaskRunCreate": task_run_creates,
    "DeploymentCreate": deployment_creates,
    "FlowFilter": flow_filters,
    "FlowRunFilter": flow_run_filters,
    "TaskRunFilter": task_run_filters,
    "DeploymentFilter": deployment_filters,
    "LogFilter": log_filters,
    "OrchestrationResult": orchestration_results,
}
SPARSE = ["StateDetails", "StateCreate", "FlowRunCreate", "TaskRunCreate", "DeploymentCreate"]
SPARSE += [name for name in CORE if name.endswith("Filter")]
READ = ["State", "FlowRun", "TaskRun", "Deployment", "OrchestrationResult"]


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("name", sorted(CORE))
@SETTINGS
@given(data=st.data())
def test_python_json_round_trip_is_identity(name: str, data: st.DataObject) -> None:
    value = data.draw(CORE[name])
    assert type(value).__name__ == name
    assert type(value).model_validate(value.model_dump(mode="json")) == value


@pytest.mark.parametrize("name", sorted(CORE))
@SETTINGS
@given(data=st.data())
def test_json_text_round_trip_is_identity(name: str, data: st.DataObject) -> None:
    value = data.draw(CORE[name])
    assert type(value).model_validate_json(value.model_dump_json()) == value


@pytest.mark.parametrize("name", sorted(SPARSE))
@SETTINGS
@given(data=st.data())
def test_sparse_models_write_exactly_the_fields_given(name: str, data: st.DataObject) -> None:
    value = data.draw(CORE[name])
    assert set(value.model_dump(mode="json")) == value.model_fields_set


@pytest.mark.parametrize("name", sorted(READ))
@SETTINGS
@given(data=st.data())
def test_read_models_write_every_field(name: str, data: st.DataObject) -> None:
    value = data.draw(CORE[name])
    assert set(value.model_dump(mode="json")) == set(type(value).model_fields)


@SETTINGS
@given(flow_runs | task_runs | states | deployments)
def test_every_datetime_is_written_as_utc_with_z(value: BaseModel) -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if isinstance(item, str) and key.endswith(
                    ("_time", "timestamp", "created", "updated", "_date", "last_polled")
                ):
                    assert item.endswith("Z"), (key, item)
                    assert len(item) == len("2026-11-22T01:41:03.831014Z"), (key, item)
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(value.model_dump(mode="json"))


@SETTINGS
@given(states)
def test_a_proposal_round_trips_its_state(state: State) -> None:
    create = state.to_state_create()
    back = StateCreate.model_validate(create.model_dump(mode="json"))
    assert back == create
    assert (back.type, back.name, back.message, back.state_details) == (
        state.type,
        state.name,
        state.message,
        state.state_details,
    )
