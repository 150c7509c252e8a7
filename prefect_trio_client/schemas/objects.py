"""Prefect's objects as the API returns them: runs, states, deployments, pools and friends.

Field names, optionality and JSON shapes follow what a Prefect 3.9 server sends
(``tests/data/prefect-api-samples.json``). Three base classes carry the wire rules:

- :class:`PrefectBaseModel` (read models) ignores unknown fields, so a newer server that
  adds a field never breaks us, and dumps every field.
- :class:`SparseBaseModel` (value objects that travel in both directions, such as
  :class:`StateDetails` and the run policies) also ignores unknown fields, but dumps only
  the fields that were given or changed since construction. That is how Prefect sends them
  (``exclude_unset``), and it keeps fields an older server does not know off the wire.
- :class:`ActionBaseModel` (every ``*Create``/``*Update`` model and every filter) dumps the
  same way and forbids unknown fields, so a typo fails loudly instead of being dropped.

Datetimes are timezone-aware UTC: other offsets are converted, and JSON output looks like
Prefect's own (``2026-11-22T01:41:03.831014Z``). A naive ``datetime`` object is refused:
Prefect reads one as UTC, so ``datetime.now() + delta`` would shift by the local UTC
offset without a word. Text without an offset (from the wire) is UTC, the server's rule.
Durations are ``timedelta`` in Python and seconds (a float) on the wire. Enums are written
as Prefect's upper-case names.

Values a newer server may add to (state types, statuses, strategies) are read leniently:
an unknown value becomes a member-like value of the enum (its ``value`` and ``name`` are
the text, it is an instance of the enum, it compares equal to the text), so one new value
never makes a whole read fail, while known values stay the members themselves. Write models
and filters keep the strict enums, so a typo still fails before a request.

Write models refuse NaN and infinity anywhere in their values (``parameters`` included):
JSON has no such numbers, and they would reach the server as ``null``.
"""

import enum
import functools
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pydantic.main
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    JsonValue,
    PlainSerializer,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    Tag,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

if TYPE_CHECKING:
    from prefect_trio_client.schemas.actions import StateCreate

# SCHEDULE_TYPES and TERMINAL_STATES are public too (Prefect's names) but stay out of
# __all__: plain sorted() and ruff's RUF022 disagree on where CONSTANT names go.
__all__ = [
    "ActionBaseModel",
    "AnyTaskRunInput",
    "Artifact",
    "ArtifactCollection",
    "BlockDocument",
    "BlockSchema",
    "BlockType",
    "BranchingScheduleHandling",
    "ConcurrencyLeaseHolder",
    "ConcurrencyLimit",
    "ConcurrencyLimitStrategy",
    "ConcurrencyLimitWithLeaseResponse",
    "ConcurrencyOptions",
    "Constant",
    "CreatedBy",
    "CronSchedule",
    "CsrfToken",
    "DateTime",
    "Deployment",
    "DeploymentBranchingOptions",
    "DeploymentSchedule",
    "DeploymentStatus",
    "Flow",
    "FlowRun",
    "FlowRunInput",
    "FlowRunPolicy",
    "FlowRunResult",
    "FrequencySla",
    "GlobalConcurrencyLimit",
    "IntervalSchedule",
    "KeyValueLabels",
    "LatenessSla",
    "Log",
    "MinimalConcurrencyLimitResponse",
    "ObjectBaseModel",
    "Parameter",
    "PrefectBaseModel",
    "QueueFilter",
    "RRuleSchedule",
    "Seconds",
    "ServerDefaultResultStorage",
    "ServiceLevelAgreement",
    "SlaMergeResponse",
    "SlaTypes",
    "SparseBaseModel",
    "State",
    "StateDetails",
    "StateType",
    "TaskRun",
    "TaskRunInput",
    "TaskRunPolicy",
    "TaskRunResult",
    "TimeToCompletionSla",
    "UpdatedBy",
    "Variable",
    "WorkPool",
    "WorkPoolStatus",
    "WorkPoolStorageConfiguration",
    "WorkQueue",
    "WorkQueueHealthPolicy",
    "WorkQueueStatus",
    "WorkQueueStatusDetail",
    "Worker",
    "WorkerFlowRunResponse",
    "WorkerStatus",
]


# --------------------------------------------------------------------------- wire types


def _refuse_naive(value: Any) -> Any:
    """A naive ``datetime`` object is an error (see the module docstring); text is not."""
    if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(
            "a naive datetime has no timezone; pass an aware one, such as "
            "datetime.now(timezone.utc) or datetime.now().astimezone() (Prefect would read "
            "a naive value as UTC, shifting it by the local UTC offset)"
        )
    return value


def _as_utc(value: datetime) -> datetime:
    """Naive text from the wire means UTC (the server's rule); offsets become UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError as exc:  # year 1 at +01:00 has no UTC representation
        raise ValueError("datetime is out of range once converted to UTC") from exc


def _iso_utc(value: datetime) -> str:
    """Prefect's own format: always microseconds, always ``Z``."""
    naive_utc = _as_utc(value).replace(tzinfo=None)
    return naive_utc.isoformat(timespec="microseconds") + "Z"


def _seconds(value: timedelta) -> float:
    return value.total_seconds()


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _UtcInstant:
    """How `DateTime` validates: the rules of the module docstring, paid for in Python only
    where pydantic's core cannot apply them.

    JSON text in UTC (what Prefect sends: ``...Z``) is parsed by the core and kept with
    the core's UTC zone (equal to ``timezone.utc`` in every comparison, hash and format):
    a page of 200 flow runs holds about 1,200 instants, and a Python call for each was a
    quarter of reading the page (issue 12). JSON text with another offset, or none, is
    converted in Python; Python values keep every check (a naive ``datetime`` object is
    refused) and always come out with ``timezone.utc``.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        parsed = handler(source)
        general = core_schema.no_info_after_validator_function(_as_utc, parsed)
        utc_or_converted = core_schema.union_schema(
            [
                core_schema.datetime_schema(strict=True, tz_constraint=0),
                core_schema.no_info_plain_validator_function(_as_utc),
            ],
            mode="left_to_right",
        )
        return core_schema.json_or_python_schema(
            json_schema=core_schema.chain_schema([parsed, utc_or_converted]),
            python_schema=core_schema.no_info_before_validator_function(_refuse_naive, general),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _iso_utc, return_schema=core_schema.str_schema(), when_used="json"
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "date-time"}


DateTime = Annotated[datetime, _UtcInstant()]
"""A timezone-aware UTC datetime that serialises like Prefect (``...T01:41:03.831014Z``)."""

Seconds = Annotated[
    timedelta,
    PlainSerializer(_seconds, return_type=float, when_used="json"),
]
"""A duration: ``timedelta`` in Python, seconds as a float on the wire (Prefect's choice)."""


def _none_as_empty(value: Any) -> Any:
    return {} if value is None else value


KeyValueLabels = Annotated[
    dict[str, bool | int | float | str],
    BeforeValidator(_none_as_empty),
]
"""Prefect's labels: string keys, scalar values; a ``null`` from the server reads as ``{}``."""


# --------------------------------------------------------------------------- base models


#: Whether models build their validators on first use rather than at import (pydantic's
#: ``defer_build``): only where pydantic locks those builds (pydantic PR 13438; 2.14 has it).
#: Before, two threads using a model first at once (a sync client in one, the embedded
#: server in another) could race, and one validate with a parent class's validator.
_DEFER_BUILD = hasattr(pydantic.main, "_rebuild_lock")


class PrefectBaseModel(BaseModel):
    """Read models: unknown fields from a newer server are ignored; every field is dumped."""

    model_config = ConfigDict(extra="ignore", defer_build=_DEFER_BUILD)


class SparseBaseModel(PrefectBaseModel):
    """Dumps only what a caller gave or changed, the way Prefect sends request bodies.

    A field is left out of ``model_dump`` / ``model_dump_json`` when it was never given
    *and* still equals its default; the server then applies its own default. A field given
    explicitly, even as ``None``, is sent (``null`` clears a value in an update), and a
    default that was changed in place (``details.transition_id = ...``) is sent too.
    """

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    @model_serializer(mode="wrap")
    def _dump_given_fields(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        given = self.model_fields_set
        names, rows = _optional_fields(type(self))
        if given >= names:
            return data  # every optional field was given: all are sent
        values = self.__dict__
        by_alias = info.by_alias
        for name, alias, default, factory in rows:
            if name in given or name not in values:
                continue
            key = alias if by_alias else name
            if key in data and values[name] == (default if factory is None else factory()):
                del data[key]
        return data


_Row = tuple[str, str, Any, Any]
#: Per sparse model class: the names of the fields that are not required, and for each
#: (name, key by alias, default, default factory), worked out once (pydantic's field
#: info is slow to ask per dump).
_OPTIONAL_FIELDS: dict[type[BaseModel], tuple[frozenset[str], tuple[_Row, ...]]] = {}


def _optional_fields(cls: type[BaseModel]) -> tuple[frozenset[str], tuple[_Row, ...]]:
    fields = _OPTIONAL_FIELDS.get(cls)
    if fields is None:
        rows = []
        for name, field in cls.model_fields.items():
            if field.is_required():
                continue
            alias = field.serialization_alias or field.alias or name
            factory = field.default_factory
            if factory is not None and getattr(field, "default_factory_takes_data", False):
                # A factory that reads the validated data: ask pydantic, as before.
                factory = _factory_of(field)
            # `get_default` returns a deep copy of a plain default: equal to the default.
            rows.append((name, alias, field.default, factory))
        names = frozenset(row[0] for row in rows)
        fields = _OPTIONAL_FIELDS[cls] = (names, tuple(rows))
    return fields


def _factory_of(field: Any) -> Callable[[], Any]:
    return lambda: field.get_default(call_default_factory=True)


def _unsendable(value: Any, where: str) -> str | None:
    """Why `value` (or a value inside it) cannot be sent, naming where, else None.

    NaN and infinity are not JSON numbers; an enum value only a newer server knows (read
    leniently, see the module docstring) is not one this client may propose.
    """
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return (
            f"{where}: NaN and infinity are not JSON numbers (the server would store null); "
            "send None or a string instead"
        )
    if isinstance(value, enum.Enum):
        if value._name_ in type(value).__members__:
            return None
        return f"{where}: {value.value!r} is not a {type(value).__name__} this client knows"
    children: Any = ()
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        children = ((f"{where}.{name}", getattr(value, name, None)) for name in fields)
    elif isinstance(value, Mapping):
        children = ((f"{where}[{key!r}]", item) for key, item in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        children = ((f"{where}[{index}]", item) for index, item in enumerate(value))
    return next((problem for at, item in children if (problem := _unsendable(item, at))), None)


_SENDABLE_TYPES = frozenset(
    {str, int, bool, type(None), bytes, UUID, datetime, timedelta, date, time}
)


def _sendable(value: Any) -> bool:
    """Whether `_unsendable` finds nothing in `value` (the fast check; no message)."""
    kind = type(value)
    if kind in _SENDABLE_TYPES:
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, enum.Enum):
        return value._name_ in kind.__members__
    values: Any
    if isinstance(value, BaseModel):
        values = value.__dict__.values()  # the fields' values (a missing one is None)
    elif isinstance(value, Mapping):
        values = value.values()
    elif isinstance(value, list | tuple | set | frozenset):
        values = value
    else:
        return True
    for item in values:  # noqa: SIM110 (a loop: `all` of a generator is slower here)
        if type(item) not in _SENDABLE_TYPES and not _sendable(item):
            return False
    return True


class ActionBaseModel(SparseBaseModel):
    """Write models and filters: unknown fields are an error, so typos fail loudly.

    Every value, however deep, must be sendable: NaN and infinity are refused (JSON has no
    such numbers; the request would carry ``null`` instead), and so is an enum value only
    a newer server knows (read leniently; proposing it back is not this client's call).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @model_validator(mode="after")
    def _only_sendable_values(self) -> "ActionBaseModel":
        for name in type(self).model_fields:
            value = getattr(self, name, None)
            if not _sendable(value):
                problem = _unsendable(value, name)
                if problem is not None:
                    raise ValueError(problem)
        return self


class ObjectBaseModel(PrefectBaseModel):
    """An object the server stores: an id plus created/updated timestamps."""

    id: UUID = Field(default_factory=uuid4)
    created: DateTime | None = None
    updated: DateTime | None = None


# --------------------------------------------------------------------------- enums


class StateType(str, enum.Enum):
    """The type of a run state; the JSON value is the upper-case name."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


E = TypeVar("E", bound=enum.Enum)


def _unknown_member(enum_class: type[E], value: str) -> E:
    """A member-like value of `enum_class` for a value it does not list.

    It is an instance of the enum (so typed code and ``isinstance`` work), its ``value`` and
    ``name`` are the text, and it compares equal to the text; it is not added to the enum,
    so ``StateType("NEW")`` still raises and write models stay strict.
    """
    pseudo = cast(E, str.__new__(cast(Any, enum_class), value))  # our enums are str enums
    pseudo._name_ = value
    pseudo._value_ = value
    return pseudo


class _Lenient:
    """A read-model enum field that keeps a value only a newer server knows (see the module
    docstring): known values are looked up by pydantic's core, the others become a
    member-like value in Python. An invalid value (not text, or empty) gets the enum's
    own error.

    A union, not a wrap-validator: that called Python for every value (issue 12).
    """

    def __get_pydantic_core_schema__(
        self, source: type[enum.Enum], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        values = [repr(member.value) for member in source]
        expected = " or ".join([", ".join(values[:-1]), values[-1]] if len(values) > 1 else values)

        def unknown(value: Any) -> enum.Enum:
            if isinstance(value, str) and value:
                return _unknown_member(source, value)
            raise ValueError(value)  # replaced by the union's error below

        return core_schema.union_schema(
            [handler(source), core_schema.no_info_plain_validator_function(unknown)],
            mode="left_to_right",
            custom_error_type="enum",  # pydantic's own message: "Input should be ..."
            custom_error_context={"expected": expected},
        )


TERMINAL_STATES = frozenset(
    {StateType.COMPLETED, StateType.CANCELLED, StateType.FAILED, StateType.CRASHED}
)
"""The state types a run never leaves without ``force`` (Prefect's set)."""


class WorkPoolStatus(str, enum.Enum):
    """Whether a work pool has a live worker."""

    READY = "READY"
    NOT_READY = "NOT_READY"
    PAUSED = "PAUSED"


class WorkerStatus(str, enum.Enum):
    """Whether a worker's heartbeats are current."""

    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"


class DeploymentStatus(str, enum.Enum):
    """Whether a deployment has a polling worker or runner."""

    READY = "READY"
    NOT_READY = "NOT_READY"


class WorkQueueStatus(str, enum.Enum):
    """Whether a work queue is being polled."""

    READY = "READY"
    NOT_READY = "NOT_READY"
    PAUSED = "PAUSED"


class ConcurrencyLimitStrategy(str, enum.Enum):
    """What a deployment does with a run that would exceed its concurrency limit."""

    ENQUEUE = "ENQUEUE"
    CANCEL_NEW = "CANCEL_NEW"


# Read-model fields: a value a newer server added is kept (see the module docstring).
_OpenStateType = Annotated[StateType, _Lenient()]
_OpenWorkPoolStatus = Annotated[WorkPoolStatus, _Lenient()]
_OpenWorkerStatus = Annotated[WorkerStatus, _Lenient()]
_OpenDeploymentStatus = Annotated[DeploymentStatus, _Lenient()]
_OpenWorkQueueStatus = Annotated[WorkQueueStatus, _Lenient()]
_OpenConcurrencyLimitStrategy = Annotated[ConcurrencyLimitStrategy, _Lenient()]


# --------------------------------------------------------------------------- states


def _default_state_name(state_type: str) -> str:
    """``"AWAITING_RETRY"`` -> ``"Awaiting Retry"`` (a member or the text of a new type)."""
    text: str = getattr(state_type, "value", state_type)
    return " ".join(part.capitalize() for part in text.split("_"))


def _fill_state_name(data: Any) -> Any:
    """``StateCreate``'s before-validator: a missing name comes from the type.

    It runs before field validation so the name counts as given and is sent.
    """
    if isinstance(data, dict) and data.get("name") is None and "type" in data:
        state_type = data["type"]
        if not isinstance(state_type, str) or not state_type:
            return data  # let field validation report the bad type
        return {**data, "name": _default_state_name(state_type)}
    return data


class StateDetails(SparseBaseModel):
    """Orchestration details of a state (ids, scheduling, pause, cache, transition)."""

    flow_run_id: UUID | None = None
    task_run_id: UUID | None = None
    child_flow_run_id: UUID | None = None
    scheduled_time: DateTime | None = None
    cache_key: str | None = None
    cache_expiration: DateTime | None = None
    deferred: bool | None = None
    untrackable_result: bool = False
    pause_timeout: DateTime | None = None
    pause_reschedule: bool = False
    pause_key: str | None = None
    run_input_keyset: dict[str, str] | None = None
    refresh_cache: bool | None = None
    retriable: bool | None = None
    transition_id: UUID | None = None
    task_parameters_id: UUID | None = None
    traceparent: str | None = None
    deployment_concurrency_lease_id: UUID | None = None


class State(PrefectBaseModel):
    """The state of a flow or task run, as the server records it."""

    id: UUID = Field(default_factory=uuid4)
    type: _OpenStateType
    name: str | None = None
    timestamp: DateTime = Field(default_factory=_now)
    message: str | None = None
    data: Any = None
    state_details: StateDetails = Field(default_factory=StateDetails)

    @model_validator(mode="after")
    def _complete(self) -> "State":
        """A missing name comes from the type (and counts as given); a SCHEDULED state
        always carries a time (Prefect's rule), by default now.

        After validation, not before: a before-validator is handed the whole state as
        Python objects, so a state read from JSON was built twice (issue 12).
        """
        if self.name is None:
            self.name = _default_state_name(self.type)  # adds "name" to the fields set
        if self.type is StateType.SCHEDULED and self.state_details.scheduled_time is None:
            self.state_details = self.state_details.model_copy(update={"scheduled_time": _now()})
        return self

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_cancelling(self) -> bool:
        return self.type is StateType.CANCELLING

    def is_paused(self) -> bool:
        return self.type is StateType.PAUSED

    def is_final(self) -> bool:
        """Completed, failed, crashed or cancelled: the run is over."""
        return self.type in TERMINAL_STATES

    def to_state_create(self) -> "StateCreate":
        """The ``StateCreate`` that proposes this state (see ``StateCreate.from_state``)."""
        return _state_create().from_state(self)


@functools.cache
def _state_create() -> type["StateCreate"]:
    """``StateCreate``, imported once (an import statement costs more than a proposal's
    other steps); actions imports this module, so the import waits until it is needed."""
    from prefect_trio_client.schemas.actions import StateCreate  # noqa: PLC0415

    return StateCreate


# --------------------------------------------------------------------------- runs


class CreatedBy(PrefectBaseModel):
    """Who created an object (a deployment, an automation, a user)."""

    id: UUID | None = None
    type: str | None = None
    display_value: str | None = None


class UpdatedBy(PrefectBaseModel):
    """Who last updated an object."""

    id: UUID | None = None
    type: str | None = None
    display_value: str | None = None


class FlowRunPolicy(SparseBaseModel):
    """How a flow run retries and pauses."""

    max_retries: int = 0
    """Deprecated by Prefect in favour of ``retries``; still sent by the server."""
    retry_delay_seconds: float = 0.0
    """Deprecated by Prefect in favour of ``retry_delay``; still sent by the server."""
    retries: int | None = None
    retry_delay: int | None = None
    pause_keys: set[str] | None = Field(default_factory=set)
    resuming: bool | None = False
    retry_type: str | None = None
    """``"in_process"`` or ``"reschedule"`` in Prefect 3.9; kept as text for newer servers."""


class FlowRun(ObjectBaseModel):
    """A flow run as the server reports it."""

    name: str
    flow_id: UUID
    state_id: UUID | None = None
    deployment_id: UUID | None = None
    deployment_version: str | None = None
    work_queue_id: UUID | None = None
    work_queue_name: str | None = None
    flow_version: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    empirical_policy: FlowRunPolicy = Field(default_factory=FlowRunPolicy)
    tags: list[str] = Field(default_factory=list)
    labels: KeyValueLabels = Field(default_factory=dict)
    parent_task_run_id: UUID | None = None
    state_type: _OpenStateType | None = None
    state_name: str | None = None
    run_count: int = 0
    expected_start_time: DateTime | None = None
    next_scheduled_start_time: DateTime | None = None
    start_time: DateTime | None = None
    end_time: DateTime | None = None
    total_run_time: Seconds = timedelta(0)
    estimated_run_time: Seconds = timedelta(0)
    estimated_start_time_delta: Seconds = timedelta(0)
    auto_scheduled: bool = False
    infrastructure_document_id: UUID | None = None
    infrastructure_pid: str | None = None
    created_by: CreatedBy | None = None
    work_pool_id: UUID | None = None
    work_pool_name: str | None = None
    state: State | None = None
    job_variables: dict[str, Any] | None = None


class TaskRunPolicy(SparseBaseModel):
    """How a task run retries."""

    max_retries: int = 0
    """Deprecated by Prefect in favour of ``retries``; still sent by the server."""
    retry_delay_seconds: float = 0.0
    """Deprecated by Prefect in favour of ``retry_delay``; still sent by the server."""
    retries: int | None = None
    retry_delay: int | float | list[int] | list[float] | None = None
    retry_jitter_factor: float | None = None


class TaskRunInput(PrefectBaseModel):
    """Where a task run's input came from; ``input_type`` tells the kinds apart."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    input_type: str


class TaskRunResult(TaskRunInput):
    """The input is another task run's result."""

    input_type: Literal["task_run"] = "task_run"
    id: UUID


class FlowRunResult(TaskRunInput):
    """The input is a (sub)flow run's result."""

    input_type: Literal["flow_run"] = "flow_run"
    id: UUID


class Parameter(TaskRunInput):
    """The input is one of the flow's parameters."""

    input_type: Literal["parameter"] = "parameter"
    name: str


class Constant(TaskRunInput):
    """The input is a constant of the given Python type."""

    input_type: Literal["constant"] = "constant"
    type: str


AnyTaskRunInput = Annotated[
    TaskRunResult | FlowRunResult | Parameter | Constant,
    Field(discriminator="input_type"),
]
"""One entry of ``TaskRun.task_inputs``, told apart by ``input_type``."""


class TaskRun(ObjectBaseModel):
    """A task run as the server reports it."""

    name: str
    flow_run_id: UUID | None = None
    task_key: str
    dynamic_key: str
    cache_key: str | None = None
    cache_expiration: DateTime | None = None
    task_version: str | None = None
    empirical_policy: TaskRunPolicy = Field(default_factory=TaskRunPolicy)
    tags: list[str] = Field(default_factory=list)
    labels: KeyValueLabels = Field(default_factory=dict)
    state_id: UUID | None = None
    task_inputs: dict[str, list[AnyTaskRunInput]] = Field(default_factory=dict)
    state_type: _OpenStateType | None = None
    state_name: str | None = None
    run_count: int = 0
    flow_run_run_count: int = 0
    expected_start_time: DateTime | None = None
    next_scheduled_start_time: DateTime | None = None
    start_time: DateTime | None = None
    end_time: DateTime | None = None
    total_run_time: Seconds = timedelta(0)
    estimated_run_time: Seconds = timedelta(0)
    estimated_start_time_delta: Seconds = timedelta(0)
    state: State | None = None


class Flow(ObjectBaseModel):
    """A flow: a name that runs are grouped under."""

    name: str
    tags: list[str] = Field(default_factory=list)
    labels: KeyValueLabels = Field(default_factory=dict)


# --------------------------------------------------------------------------- deployments


class IntervalSchedule(PrefectBaseModel):
    """Runs every ``interval`` from ``anchor_date`` (``interval`` is seconds on the wire)."""

    interval: Annotated[Seconds, Field(gt=timedelta(0))]
    anchor_date: DateTime = Field(default_factory=_now)
    timezone: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _timezone_from_anchor(cls, data: Any) -> Any:
        """Anchor dates are stored in UTC, so keep an IANA zone's name (as Prefect does)."""
        if isinstance(data, dict) and data.get("timezone") is None:
            anchor = data.get("anchor_date")
            if isinstance(anchor, datetime) and isinstance(anchor.tzinfo, ZoneInfo):
                return {**data, "timezone": anchor.tzinfo.key}
        return data


class CronSchedule(PrefectBaseModel):
    """Runs on a cron expression, in ``timezone`` (IANA name) when given."""

    cron: str
    timezone: str | None = None
    day_or: bool = True


class RRuleSchedule(PrefectBaseModel):
    """Runs on an RFC 5545 recurrence rule."""

    rrule: str
    timezone: str | None = "UTC"


def _schedule_kind(value: Any) -> str | None:
    if isinstance(value, IntervalSchedule):
        return "interval"
    if isinstance(value, CronSchedule):
        return "cron"
    if isinstance(value, RRuleSchedule):
        return "rrule"
    if isinstance(value, dict):
        for kind in ("interval", "cron", "rrule"):
            if kind in value:
                return kind
    return None


SCHEDULE_TYPES = Annotated[
    (
        Annotated[IntervalSchedule, Tag("interval")]
        | Annotated[CronSchedule, Tag("cron")]
        | Annotated[RRuleSchedule, Tag("rrule")]
    ),
    Discriminator(
        _schedule_kind,
        custom_error_type="invalid_schedule",
        custom_error_message="a schedule needs an 'interval', 'cron' or 'rrule' field",
    ),
]
"""Any of Prefect's schedules, told apart by which of interval/cron/rrule is present."""


class DeploymentSchedule(ObjectBaseModel):
    """One of a deployment's schedules."""

    deployment_id: UUID | None = None
    schedule: SCHEDULE_TYPES
    active: bool = True
    max_scheduled_runs: int | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    slug: str | None = None


class ConcurrencyOptions(PrefectBaseModel):
    """How a deployment's concurrency limit treats extra runs."""

    collision_strategy: _OpenConcurrencyLimitStrategy
    grace_period_seconds: int | None = None


class GlobalConcurrencyLimit(ObjectBaseModel):
    """A v2 (global) concurrency limit: Prefect's ``GlobalConcurrencyLimitResponse``."""

    active: bool = True
    name: str
    limit: int
    active_slots: int = 0
    slot_decay_per_second: float = 0.0


class Deployment(ObjectBaseModel):
    """A deployment as the server reports it (Prefect's ``DeploymentResponse``)."""

    name: str
    version: str | None = None
    description: str | None = None
    flow_id: UUID
    paused: bool = False
    schedules: list[DeploymentSchedule] = Field(default_factory=list)
    concurrency_limit: int | None = None
    global_concurrency_limit: GlobalConcurrencyLimit | None = None
    concurrency_options: ConcurrencyOptions | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    labels: KeyValueLabels = Field(default_factory=dict)
    work_queue_name: str | None = None
    work_queue_id: UUID | None = None
    last_polled: DateTime | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    path: str | None = None
    pull_steps: list[dict[str, Any]] | None = None
    entrypoint: str | None = None
    storage_document_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
    created_by: CreatedBy | None = None
    updated_by: UpdatedBy | None = None
    work_pool_name: str | None = None
    status: _OpenDeploymentStatus | None = DeploymentStatus.NOT_READY
    enforce_parameter_schema: bool = True


# --------------------------------------------------------------------------- the rest


class Log(ObjectBaseModel):
    """One log line attached to a flow run and/or task run."""

    name: str
    level: int
    message: str
    timestamp: DateTime
    flow_run_id: UUID | None = None
    task_run_id: UUID | None = None


class Variable(ObjectBaseModel):
    """A named JSON value stored by the server."""

    name: str
    value: JsonValue
    tags: list[str] = Field(default_factory=list)


class QueueFilter(PrefectBaseModel):
    """Deprecated work-queue filter criteria (still part of the wire format)."""

    tags: list[str] | None = None
    deployment_ids: list[UUID] | None = None


class WorkQueue(ObjectBaseModel):
    """A work queue, in a work pool."""

    name: str
    description: str | None = ""
    is_paused: bool = False
    concurrency_limit: int | None = None
    priority: int = 1
    work_pool_id: UUID | None = None
    filter: QueueFilter | None = None
    last_polled: DateTime | None = None
    work_pool_name: str | None = None
    status: _OpenWorkQueueStatus | None = None
    active_slots: int | None = None


class WorkPoolStorageConfiguration(PrefectBaseModel):
    """Where a work pool's bundles and default results are stored."""

    bundle_upload_step: dict[str, Any] | None = None
    bundle_execution_step: dict[str, Any] | None = None
    default_result_storage_block_id: UUID | None = None


class WorkPool(ObjectBaseModel):
    """A work pool: a job template and a set of queues that workers poll."""

    name: str
    description: str | None = None
    type: str
    base_job_template: dict[str, Any] = Field(default_factory=dict)
    is_paused: bool = False
    concurrency_limit: int | None = None
    status: _OpenWorkPoolStatus | None = None
    default_queue_id: UUID | None = None
    storage_configuration: WorkPoolStorageConfiguration = Field(
        default_factory=WorkPoolStorageConfiguration
    )
    active_slots: int | None = None

    @property
    def is_push_pool(self) -> bool:
        return self.type.endswith(":push")

    @property
    def is_managed_pool(self) -> bool:
        return self.type.endswith(":managed")


class Worker(ObjectBaseModel):
    """A worker process that heartbeats to a work pool."""

    name: str
    work_pool_id: UUID
    last_heartbeat_time: DateTime | None = None
    heartbeat_interval_seconds: int | None = None
    status: _OpenWorkerStatus = WorkerStatus.OFFLINE


class WorkerFlowRunResponse(PrefectBaseModel):
    """One scheduled run handed to a worker, with the pool and queue it came from."""

    work_pool_id: UUID
    work_queue_id: UUID
    flow_run: FlowRun


class Artifact(ObjectBaseModel):
    """A piece of run output (markdown, a table, a link, ...) kept by the server."""

    key: str | None = None
    type: str | None = None
    description: str | None = None
    data: Any = None
    metadata_: dict[str, str] | None = None
    flow_run_id: UUID | None = None
    task_run_id: UUID | None = None


class CsrfToken(ObjectBaseModel):
    """A CSRF token issued to one client id, valid until ``expiration``."""

    token: str
    client: str
    expiration: DateTime


class ConcurrencyLeaseHolder(PrefectBaseModel):
    """The run (or deployment) that holds concurrency slots through a lease."""

    type: Literal["flow_run", "task_run", "deployment"]
    id: UUID


class MinimalConcurrencyLimitResponse(PrefectBaseModel):
    """The limit a lease took slots from."""

    id: UUID
    name: str
    limit: int


class ConcurrencyLimitWithLeaseResponse(PrefectBaseModel):
    """The answer to increment-with-lease: the lease id and the limits it holds."""

    lease_id: UUID
    limits: list[MinimalConcurrencyLimitResponse]


# --------------------------------------------------------------------------- blocks

DEFAULT_BLOCK_SCHEMA_VERSION = "non-versioned"
"""The version a block schema gets when none is given (Prefect's)."""


class BlockType(ObjectBaseModel):
    """A kind of block (``secret``, ``s3-bucket``, ...), addressed by its slug.

    URLs are plain text here: Prefect's server stores them unchecked, so a stored value
    that is not a valid URL must still read.
    """

    name: str
    slug: str
    logo_url: str | None = None
    documentation_url: str | None = None
    description: str | None = None
    code_example: str | None = None
    is_protected: bool = False
    """Protected (system) block types cannot be deleted through the API."""


class BlockSchema(ObjectBaseModel):
    """One version of a block type's fields (a JSON schema), identified by its checksum.

    ``fields["secret_fields"]`` names the fields whose values the server masks on reads
    without ``include_secrets``.
    """

    checksum: str
    fields: dict[str, Any] = Field(default_factory=dict)
    block_type_id: UUID | None
    block_type: BlockType | None = None
    capabilities: list[str] = Field(default_factory=list)
    version: str = DEFAULT_BLOCK_SCHEMA_VERSION


class BlockDocument(ObjectBaseModel):
    """A saved block: its data, under a name unique within its block type.

    Read without ``include_secrets``, the values of the schema's secret fields are masked
    (``"********"``) by the server.
    """

    name: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    block_schema_id: UUID
    block_schema: BlockSchema | None = None
    block_type_id: UUID
    block_type_name: str | None = None
    block_type: BlockType | None = None
    block_document_references: dict[str, dict[str, Any]] = Field(default_factory=dict)
    is_anonymous: bool = False


# ------------------------------------------------------------------ tag limits, branches, SLAs


class ConcurrencyLimit(ObjectBaseModel):
    """A tag-based (v1) concurrency limit: the task runs holding a slot are listed."""

    tag: str
    concurrency_limit: int
    active_slots: list[UUID] = Field(default_factory=list)


class BranchingScheduleHandling(str, enum.Enum):
    """What a deployment branch does with the schedules it copies."""

    KEEP = "keep"
    REMOVE = "remove"
    INACTIVE = "inactive"


class DeploymentBranchingOptions(ActionBaseModel):
    """How `create_deployment_branch` copies a deployment (sent only as given)."""

    schedule_handling: BranchingScheduleHandling = BranchingScheduleHandling.REMOVE


class ServiceLevelAgreement(ActionBaseModel):
    """An SLA of a deployment, matched by name when applied (names are per deployment)."""

    name: str
    severity: Literal["minor", "low", "moderate", "high", "critical"] = "moderate"
    enabled: bool | None = True


class TimeToCompletionSla(ServiceLevelAgreement):
    """Violated when a flow run runs longer than `duration` seconds."""

    duration: int


class FrequencySla(ServiceLevelAgreement):
    """Violated when no flow run completes within `stale_after` of the previous one."""

    stale_after: Seconds


class LatenessSla(ServiceLevelAgreement):
    """Violated when a flow run has not started `within` its scheduled time."""

    within: Seconds


SlaTypes = TimeToCompletionSla | LatenessSla | FrequencySla
"""The SLAs `apply_slas_for_deployment` accepts (Prefect's ``SlaTypes``)."""


class SlaMergeResponse(PrefectBaseModel):
    """The names of the SLAs an apply created, updated and deleted."""

    created: list[str]
    updated: list[str]
    deleted: list[str]


# --------------------------------------------------------------------------- issue 11: queues-misc


class WorkQueueHealthPolicy(PrefectBaseModel):
    """When a queue counts as healthy: at most this many late runs, polled this recently."""

    maximum_late_runs: int | None = 0
    maximum_seconds_since_last_polled: int | None = 60


class WorkQueueStatusDetail(PrefectBaseModel):
    """A work queue's health (``GET /work_queues/{id}/status``)."""

    healthy: bool
    late_runs_count: int = 0
    last_polled: DateTime | None = None
    health_check_policy: WorkQueueHealthPolicy


class FlowRunInput(ObjectBaseModel):
    """A keyed value sent to a flow run (``value`` is JSON text, as the server keeps it)."""

    flow_run_id: UUID
    key: str
    value: str
    sender: str | None = None


class ArtifactCollection(Artifact):
    """The latest version of a keyed artifact (``latest_id`` is that version's id)."""

    key: str
    latest_id: UUID


class ServerDefaultResultStorage(PrefectBaseModel):
    """The block the server names as the default result storage (None: none is set)."""

    default_result_storage_block_id: UUID | None = None
