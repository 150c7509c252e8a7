"""The wire rules every schema follows: datetimes, durations, enums, extras, omission."""

from __future__ import annotations

import inspect
import json
from datetime import datetime, timedelta, timezone
from enum import Enum
from types import ModuleType
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from prefect_trio_client.schemas import actions, filters, objects, responses, sorting
from prefect_trio_client.schemas.actions import (
    ArtifactCreate,
    DeploymentScheduleCreate,
    FlowCreate,
    FlowRunCreate,
    FlowRunUpdate,
    GlobalConcurrencyLimitCreate,
    LogCreate,
    StateCreate,
    TaskRunCreate,
    VariableCreate,
)
from prefect_trio_client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    Operator,
)
from prefect_trio_client.schemas.objects import (
    SCHEDULE_TYPES,
    Constant,
    CronSchedule,
    DateTime,
    Flow,
    FlowRun,
    FlowRunResult,
    IntervalSchedule,
    Parameter,
    RRuleSchedule,
    State,
    StateDetails,
    StateType,
    TaskRun,
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

FLOW_ID = UUID("71ffcb84-2e5b-4445-9b08-acc04c81ef2e")
DATETIME: TypeAdapter[datetime] = TypeAdapter(DateTime)


def _classes(module: ModuleType, base: type[BaseModel]) -> list[type[BaseModel]]:
    return [
        obj
        for name in module.__all__
        if inspect.isclass(obj := getattr(module, name))
        and issubclass(obj, base)
        and obj.__module__ == module.__name__
    ]


# --------------------------------------------------------------------------- datetimes


def test_naive_text_from_the_wire_is_utc_but_naive_objects_are_refused() -> None:
    parsed = DATETIME.validate_python("2026-11-22T01:41:03.831014")
    assert parsed == datetime(2026, 11, 22, 1, 41, 3, 831014, tzinfo=timezone.utc)
    assert parsed.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError, match="naive datetime has no timezone"):
        DATETIME.validate_python(datetime(2026, 11, 22, 1, 41, 3, 831014))


def test_other_offsets_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    parsed = DATETIME.validate_python(datetime(2026, 11, 22, 3, 41, 3, tzinfo=plus_two))
    assert parsed.tzinfo == timezone.utc
    assert (parsed.hour, parsed.minute) == (1, 41)
    from_text = DATETIME.validate_python("2026-11-22T03:41:03.5+02:00")
    assert from_text.tzinfo == timezone.utc
    assert from_text.isoformat() == "2026-11-22T01:41:03.500000+00:00"


def test_datetimes_serialise_like_prefect() -> None:
    aware = datetime(2026, 11, 22, 1, 41, 3, 831014, tzinfo=timezone.utc)
    assert DATETIME.dump_python(aware, mode="json") == "2026-11-22T01:41:03.831014Z"
    whole_second = datetime(2026, 11, 22, 1, 41, 3, tzinfo=timezone.utc)
    assert DATETIME.dump_json(whole_second) == b'"2026-11-22T01:41:03.000000Z"'
    # Python mode keeps the datetime itself.
    assert DATETIME.dump_python(aware) is aware


def test_prefects_datetime_spellings_are_accepted() -> None:
    spellings = [
        "2026-11-22T01:41:03.831014Z",
        "2026-11-22T01:41:03.831014+00:00",
        "2026-11-22 01:41:03.831014+00:00",  # how Prefect's client writes scheduled_before
        "2026-11-22T02:41:03.831014+01:00",
    ]
    expected = datetime(2026, 11, 22, 1, 41, 3, 831014, tzinfo=timezone.utc)
    assert {DATETIME.validate_python(text) for text in spellings} == {expected}


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22T01:41:03.831014Z",
        "2026-11-22T01:41:03.831014+00:00",
        "2026-11-22 01:41:03.831014+00:00",
        "2026-11-22T02:41:03.831014+01:00",
        "2026-11-22T01:41:03.831014",  # no offset: UTC, the server's rule
    ],
)
def test_json_text_reads_as_the_same_utc_instant_as_python_text(text: str) -> None:
    """JSON takes pydantic's native path (issue 12); the instant and its wire form are
    those of the Python path."""
    from_json = DATETIME.validate_json(json.dumps(text))
    assert from_json == DATETIME.validate_python(text)
    assert from_json.utcoffset() == timedelta(0)
    assert from_json.tzinfo == timezone.utc
    assert DATETIME.dump_json(from_json) == b'"2026-11-22T01:41:03.831014Z"'


def test_bad_json_text_is_one_error_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        StateDetails.model_validate_json('{"scheduled_time": "tomorrow"}')
    errors = caught.value.errors()
    assert [error["loc"][0] for error in errors] == ["scheduled_time"]
    assert "valid datetime" in errors[0]["msg"]


def test_out_of_range_conversion_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="out of range"):
        DATETIME.validate_python(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))


def test_datetimes_in_models_filters_and_assignments_are_utc() -> None:
    local = datetime(2026, 1, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    details = StateDetails(scheduled_time=local)
    assert details.scheduled_time == local
    assert details.scheduled_time is not None
    assert details.scheduled_time.tzinfo == timezone.utc
    assert details.model_dump(mode="json") == {"scheduled_time": "2026-01-01T11:00:00.000000Z"}

    start = FlowRunFilterStartTime(after_=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert start.model_dump(mode="json") == {"after_": "2026-01-01T00:00:00.000000Z"}

    details.pause_timeout = datetime(2026, 1, 1, 13, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert details.pause_timeout.tzinfo == timezone.utc
    assert details.pause_timeout.hour == 12


def test_durations_are_seconds_on_the_wire() -> None:
    run = FlowRun(name="r", flow_id=FLOW_ID, total_run_time=timedelta(minutes=1, microseconds=5))
    assert run.model_dump(mode="json")["total_run_time"] == 60.000005
    assert run.model_dump()["total_run_time"] == timedelta(minutes=1, microseconds=5)
    parsed = FlowRun.model_validate({"name": "r", "flow_id": FLOW_ID, "total_run_time": 1.5})
    assert parsed.total_run_time == timedelta(seconds=1.5)


# --------------------------------------------------------------------------- enums


def _enums() -> list[type[Enum]]:
    found = []
    for module in (objects, filters, sorting, responses):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, Enum):
                found.append(obj)
    return found


LOWER_CASE_ON_THE_WIRE = frozenset({objects.BranchingScheduleHandling})
"""Enums Prefect itself writes in lower case (its values, not its names)."""


def test_every_enum_is_written_as_its_member_name() -> None:
    enums = _enums()
    assert len(enums) >= 14
    for enum_type in enums:
        if enum_type in LOWER_CASE_ON_THE_WIRE:
            assert all(member.value == member.name.lower() for member in enum_type)
            continue
        for member in enum_type:
            assert member.value == member.name
            assert TypeAdapter(enum_type).dump_python(member, mode="json") == member.name


def test_enums_inside_models_are_upper_case_names() -> None:
    state = State(type=StateType.CANCELLING)
    dumped = state.model_dump(mode="json")
    assert dumped["type"] == "CANCELLING"
    assert dumped["name"] == "Cancelling"
    criteria = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))
    )
    assert criteria.model_dump(mode="json") == {"state": {"type": {"any_": ["COMPLETED"]}}}
    assert json.loads(criteria.model_dump_json()) == criteria.model_dump(mode="json")
    result = OrchestrationResult(
        status=SetStateStatus.WAIT, details=StateWaitDetails(delay_seconds=3)
    )
    assert result.model_dump(mode="json")["status"] == "WAIT"


def test_enums_parse_from_their_wire_values() -> None:
    assert StateType("PAUSED") is StateType.PAUSED
    assert Operator("or_") is Operator.or_
    with pytest.raises(ValueError, match="'running'"):
        StateType("running")


# --------------------------------------------------------------------------- extras


WRITE_MODELS = _classes(actions, BaseModel) + _classes(filters, BaseModel)
READ_MODELS = [
    model
    for model in _classes(objects, BaseModel) + _classes(responses, BaseModel)
    if not issubclass(model, objects.ActionBaseModel)
]


def test_the_write_and_read_model_lists_are_complete() -> None:
    assert len(WRITE_MODELS) >= 23 + 60
    assert {FlowRunCreate, StateCreate, FlowRunFilter} <= set(WRITE_MODELS)
    assert {FlowRun, TaskRun, State, StateDetails, OrchestrationResult} <= set(READ_MODELS)


@pytest.mark.parametrize("model", WRITE_MODELS, ids=lambda m: m.__name__)
def test_write_models_reject_unknown_fields_by_name(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid"
    with pytest.raises(ValidationError) as info:
        model.model_validate({"surely_a_typo": 1})
    extra = [e for e in info.value.errors() if e["type"] == "extra_forbidden"]
    assert [e["loc"] for e in extra] == [("surely_a_typo",)]


@pytest.mark.parametrize("model", READ_MODELS, ids=lambda m: m.__name__)
def test_read_models_ignore_unknown_fields(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "ignore"


def test_a_typo_in_a_create_names_the_field() -> None:
    with pytest.raises(ValidationError, match="tgas") as info:
        FlowRunCreate(flow_id=FLOW_ID, tgas=["a"])  # type: ignore[call-arg]
    assert info.value.errors()[0]["type"] == "extra_forbidden"
    with pytest.raises(ValidationError, match="any"):
        FlowRunFilterTags.model_validate({"any": ["a"]})  # the wire name is any_


def test_assignment_is_validated_on_write_models() -> None:
    update = FlowRunUpdate()
    with pytest.raises(ValidationError, match="tags"):
        update.tags = "not-a-list"  # type: ignore[assignment]
    create = StateCreate(type=StateType.RUNNING)
    with pytest.raises(ValidationError, match="transition_id"):
        create.state_details.transition_id = "not-a-uuid"  # type: ignore[assignment]


# --------------------------------------------------------------------------- omission


def test_only_given_fields_are_sent() -> None:
    create = FlowRunCreate(flow_id=FLOW_ID)
    assert create.model_dump(mode="json") == {"flow_id": str(FLOW_ID)}
    assert json.loads(create.model_dump_json()) == {"flow_id": str(FLOW_ID)}
    # In Python mode too: the rule belongs to the model, not to JSON.
    assert create.model_dump() == {"flow_id": FLOW_ID}


def test_an_explicit_none_is_sent_as_null() -> None:
    update = FlowRunUpdate(job_variables=None, name="renamed")
    assert update.model_dump(mode="json") == {"job_variables": None, "name": "renamed"}


def test_a_value_equal_to_the_default_is_sent_when_given() -> None:
    create = FlowCreate(name="f", tags=[], labels={})
    assert create.model_dump(mode="json") == {"name": "f", "tags": [], "labels": {}}


def test_assigned_and_mutated_fields_are_sent() -> None:
    update = FlowRunUpdate()
    assert update.model_dump(mode="json") == {}
    update.flow_version = "2"
    update.tags.append("late")  # a mutated default, never assigned
    assert update.model_dump(mode="json") == {"flow_version": "2", "tags": ["late"]}


def test_a_transition_id_set_on_default_details_is_sent() -> None:
    """The orchestration layer stamps details after construction; that must not be lost."""
    create = StateCreate(type=StateType.RUNNING)
    assert create.model_dump(mode="json") == {"type": "RUNNING", "name": "Running"}
    transition = uuid4()
    create.state_details.transition_id = transition
    assert create.model_dump(mode="json") == {
        "type": "RUNNING",
        "name": "Running",
        "state_details": {"transition_id": str(transition)},
    }


def test_nested_value_objects_dump_sparsely_even_inside_read_models() -> None:
    run = FlowRun(name="r", flow_id=FLOW_ID)
    dumped = run.model_dump(mode="json")
    assert dumped["empirical_policy"] == {}
    assert FlowRun.model_validate(dumped) == run
    # ... while a read model itself writes every field.
    assert set(Flow(name="f").model_dump()) == {
        "id",
        "created",
        "updated",
        "name",
        "tags",
        "labels",
    }


def test_sparse_models_stay_sparse_inside_lists_and_adapters() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    logs = [LogCreate(name="n", level=20, message="m", timestamp=now)]
    assert TypeAdapter(list[LogCreate]).dump_python(logs, mode="json") == [
        {"name": "n", "level": 20, "message": "m", "timestamp": "2026-01-01T00:00:00.000000Z"}
    ]


def test_callers_can_still_ask_for_less() -> None:
    create = TaskRunCreate(task_key="k", dynamic_key="0", name=None)
    assert create.model_dump(mode="json", exclude_none=True) == {
        "task_key": "k",
        "dynamic_key": "0",
    }
    assert create.model_dump(mode="json", include={"task_key"}) == {"task_key": "k"}


def test_state_create_names_itself_from_its_type() -> None:
    assert StateCreate(type=StateType.CANCELLING).name == "Cancelling"
    assert StateCreate.model_validate({"type": "SCHEDULED", "name": None}).name == "Scheduled"
    assert StateCreate(type=StateType.RUNNING, name="Retrying").name == "Retrying"
    with pytest.raises(ValidationError, match="type"):
        StateCreate.model_validate({"type": "NOT_A_TYPE"})


def test_filters_send_only_the_criteria_given() -> None:
    criteria = FlowRunFilter(tags=FlowRunFilterTags(all_=["a"]))
    assert criteria.model_dump(mode="json") == {"tags": {"all_": ["a"]}}
    either = FlowRunFilter(operator=Operator.or_, tags=FlowRunFilterTags(any_=["a", "b"]))
    assert either.model_dump(mode="json") == {"operator": "or_", "tags": {"any_": ["a", "b"]}}


# --------------------------------------------------------------------------- unions


def test_schedules_are_told_apart_by_their_field() -> None:
    adapter: TypeAdapter[object] = TypeAdapter(SCHEDULE_TYPES)
    interval = adapter.validate_python(
        {"interval": 3600.0, "anchor_date": "2026-01-01T00:00:00Z", "timezone": None}
    )
    assert isinstance(interval, IntervalSchedule)
    assert interval.interval == timedelta(hours=1)
    assert adapter.dump_python(interval, mode="json") == {
        "interval": 3600.0,
        "anchor_date": "2026-01-01T00:00:00.000000Z",
        "timezone": None,
    }
    cron = adapter.validate_python({"cron": "0 9 * * *", "timezone": "Europe/Paris"})
    assert isinstance(cron, CronSchedule)
    assert cron.day_or is True
    rrule = adapter.validate_python({"rrule": "FREQ=DAILY"})
    assert isinstance(rrule, RRuleSchedule)
    assert rrule.timezone == "UTC"
    with pytest.raises(ValidationError, match="'interval', 'cron' or 'rrule'"):
        adapter.validate_python({"every": 3})


def test_a_zoned_anchor_keeps_its_zone_name() -> None:
    anchor = datetime(2026, 3, 1, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    schedule = IntervalSchedule(interval=timedelta(days=1), anchor_date=anchor)
    assert schedule.timezone == "America/New_York"
    assert schedule.anchor_date == anchor
    assert schedule.anchor_date.tzinfo == timezone.utc
    with pytest.raises(ValidationError, match="interval"):
        IntervalSchedule(interval=timedelta(0))


def test_schedule_create_dumps_its_schedule_fully() -> None:
    create = DeploymentScheduleCreate(schedule=CronSchedule(cron="* * * * *"))
    assert create.model_dump(mode="json") == {
        "schedule": {"cron": "* * * * *", "timezone": None, "day_or": True}
    }


def test_task_inputs_are_told_apart_by_input_type() -> None:
    upstream = uuid4()
    run = TaskRun.model_validate(
        {
            "name": "t",
            "task_key": "k",
            "dynamic_key": "0",
            "task_inputs": {
                "x": [{"input_type": "task_run", "id": str(upstream)}],
                "y": [{"input_type": "parameter", "name": "p"}],
                "z": [{"input_type": "constant", "type": "int"}],
                "w": [{"input_type": "flow_run", "id": str(upstream)}],
            },
        }
    )
    assert run.task_inputs == {
        "x": [TaskRunResult(id=upstream)],
        "y": [Parameter(name="p")],
        "z": [Constant(type="int")],
        "w": [FlowRunResult(id=upstream)],
    }
    assert run.model_dump(mode="json")["task_inputs"]["y"] == [
        {"input_type": "parameter", "name": "p"}
    ]
    with pytest.raises(ValidationError, match="input_type"):
        TaskRun.model_validate(
            {"name": "t", "task_key": "k", "dynamic_key": "0", "task_inputs": {"x": [{}]}}
        )


@pytest.mark.parametrize(
    ("body", "status", "details_type"),
    [
        ({"type": "accept_details"}, "ACCEPT", StateAcceptDetails),
        ({"type": "reject_details", "reason": "already there"}, "REJECT", StateRejectDetails),
        ({"type": "abort_details", "reason": "nonsense"}, "ABORT", StateAbortDetails),
        ({"type": "wait_details", "delay_seconds": 7, "reason": "slots"}, "WAIT", StateWaitDetails),
    ],
)
def test_orchestration_details_are_told_apart_by_type(
    body: dict[str, object], status: str, details_type: type[BaseModel]
) -> None:
    result = OrchestrationResult.model_validate({"state": None, "status": status, "details": body})
    assert result.status is SetStateStatus(status)
    assert type(result.details) is details_type
    assert result.model_dump(mode="json") == {"state": None, "status": status, "details": body}


def test_wait_details_carry_the_delay_and_reason() -> None:
    result = OrchestrationResult.model_validate(
        {
            "state": {"type": "PENDING", "id": str(uuid4())},
            "status": "WAIT",
            "details": {"type": "wait_details", "delay_seconds": 30, "reason": "busy"},
        }
    )
    assert isinstance(result.details, StateWaitDetails)
    assert (result.details.delay_seconds, result.details.reason) == (30, "busy")
    assert result.state is not None
    assert result.state.name == "Pending"


def test_orchestration_details_need_a_known_type() -> None:
    with pytest.raises(ValidationError, match="details"):
        OrchestrationResult.model_validate(
            {"state": None, "status": "ACCEPT", "details": {"type": "mystery_details"}}
        )
    with pytest.raises(ValidationError, match="delay_seconds"):
        OrchestrationResult.model_validate(
            {"state": None, "status": "WAIT", "details": {"type": "wait_details"}}
        )


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("from_json", [True, False])
def test_read_models_keep_enum_values_only_a_newer_server_knows(from_json: bool) -> None:
    data = {"id": str(uuid4()), "type": "AWAITING_APPROVAL", "name": "Awaiting"}
    state = State.model_validate_json(json.dumps(data)) if from_json else State.model_validate(data)
    assert state.type == "AWAITING_APPROVAL"
    assert isinstance(state.type, StateType)
    assert state.model_dump(mode="json")["type"] == "AWAITING_APPROVAL"
    known = {**data, "type": "FAILED"}
    state = (
        State.model_validate_json(json.dumps(known)) if from_json else State.model_validate(known)
    )
    assert state.type is StateType.FAILED


@pytest.mark.parametrize("bad", ["", 3, None])
def test_an_invalid_enum_value_gets_the_enums_own_error(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        State.model_validate_json(json.dumps({"type": bad}))
    (error,) = caught.value.errors()
    assert error["loc"] == ("type",)
    assert error["type"] == "enum"
    assert error["msg"].startswith("Input should be 'SCHEDULED', 'PENDING',")
    assert error["msg"].endswith(" or 'CANCELLING'")


def test_a_state_from_json_names_itself_from_its_type() -> None:
    state = State.model_validate_json('{"type": "AWAITING_RETRY", "name": null}')
    assert state.name == "Awaiting Retry"
    assert "name" in state.model_fields_set
    unnamed = State.model_validate_json('{"type": "COMPLETED"}')
    assert (unnamed.name, "name" in unnamed.model_fields_set) == ("Completed", True)
    named = State.model_validate_json('{"type": "COMPLETED", "name": "Cached"}')
    assert named.name == "Cached"


def test_labels_null_reads_as_empty() -> None:
    run = TaskRun.model_validate({"name": "t", "task_key": "k", "dynamic_key": "0", "labels": None})
    assert run.labels == {}
    flow = Flow.model_validate({"name": "f", "labels": {"a": True, "b": 2, "c": 1.5, "d": "x"}})
    assert flow.labels == {"a": True, "b": 2, "c": 1.5, "d": "x"}
    assert [type(v) for v in flow.labels.values()] == [bool, int, float, str]


def test_names_and_keys_are_checked_with_the_servers_rules() -> None:
    assert VariableCreate(name="ok_name-1", value=[1, {"a": None}]).name == "ok_name-1"
    with pytest.raises(ValidationError, match="lowercase letters"):
        VariableCreate(name="Bad", value=1)
    with pytest.raises(ValidationError, match="at most 255"):
        VariableCreate(name="a" * 256, value=1)
    assert ArtifactCreate(key="my-report").key == "my-report"
    with pytest.raises(ValidationError, match="Artifact key"):
        ArtifactCreate(key="my_report")
    with pytest.raises(ValidationError, match="invalid character"):
        GlobalConcurrencyLimitCreate(name="a/b", limit=1)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        GlobalConcurrencyLimitCreate(name="ab", limit=-1)


def test_scheduled_states_always_carry_a_time() -> None:
    before = datetime.now(timezone.utc)
    state = State(type=StateType.SCHEDULED)
    assert state.state_details.scheduled_time is not None
    assert before <= state.state_details.scheduled_time <= datetime.now(timezone.utc)
    given = datetime(2030, 1, 1, tzinfo=timezone.utc)
    shared = StateDetails(scheduled_time=None)
    state = State(type=StateType.SCHEDULED, state_details=shared)
    assert state.state_details.scheduled_time is not None
    assert shared.scheduled_time is None  # the caller's object is not changed
    from_json = State.model_validate(
        {"type": "SCHEDULED", "state_details": {"scheduled_time": given}}
    )
    assert from_json.state_details == StateDetails(scheduled_time=given)
