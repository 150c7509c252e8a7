"""Request bodies: the ``*Create`` / ``*Update`` models Prefect's API accepts.

Every model here forbids unknown fields (a typo is a ``ValidationError`` naming it) and
dumps sparsely (see ``objects.SparseBaseModel``): ``model_dump(mode="json")`` is the request
body, holding the fields that were given, including explicit ``None`` (``null`` clears a
field in an update), and leaving out untouched defaults for the server to fill in. Built
from one of Prefect's own request bodies, a model dumps that body back unchanged; the
tests prove it against every captured body.

Where Prefect's client annotates a field ``Optional`` but the server refuses ``null`` for
it (``DeploymentCreate.paused``, ``VariableCreate.tags``, ``FlowRunUpdate.parameters``, the
global concurrency limit counters, ...), the field here is not optional: leaving it out
still lets the server pick its default, and ``None`` fails here instead of as a 422.
"""

import copy
import re
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    JsonValue,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)

from prefect_trio_client.schemas.objects import (
    DEFAULT_BLOCK_SCHEMA_VERSION,
    SCHEDULE_TYPES,
    ActionBaseModel,
    AnyTaskRunInput,
    ConcurrencyOptions,
    DateTime,
    DeploymentBranchingOptions,
    FlowRunPolicy,
    KeyValueLabels,
    QueueFilter,
    State,
    StateDetails,
    StateType,
    TaskRunPolicy,
    WorkPoolStorageConfiguration,
    _fill_state_name,
    _sendable,
)

__all__ = [
    "ArtifactCreate",
    "ArtifactKey",
    "ArtifactUpdate",
    "BlockDocumentCreate",
    "BlockDocumentName",
    "BlockDocumentUpdate",
    "BlockSchemaCreate",
    "BlockTypeCreate",
    "BlockTypeSlug",
    "BlockTypeUpdate",
    "ConcurrencyLimitCreate",
    "DeploymentBranch",
    "DeploymentCreate",
    "DeploymentFlowRunCreate",
    "DeploymentScheduleCreate",
    "DeploymentScheduleUpdate",
    "DeploymentUpdate",
    "FlowCreate",
    "FlowRunCreate",
    "FlowRunUpdate",
    "FlowUpdate",
    "GlobalConcurrencyLimitCreate",
    "GlobalConcurrencyLimitUpdate",
    "LogCreate",
    "Name",
    "NameOrEmpty",
    "NonEmptyishName",
    "ServerDefaultResultStorageUpdate",
    "StateCreate",
    "TaskRunCreate",
    "TaskRunUpdate",
    "VariableCreate",
    "VariableName",
    "VariableUpdate",
    "WorkPoolCreate",
    "WorkPoolUpdate",
    "WorkQueueCreate",
    "WorkQueueUpdate",
    "state_proposal",
]

_VARIABLE_NAME = re.compile(r"^[a-z0-9_-]+$")
_ARTIFACT_KEY = re.compile(r"^[a-z0-9-]+$")
_BANNED_NAME_CHARACTERS = frozenset("/%&><")


def _variable_name(value: str) -> str:
    """The server's rule, checked here so the mistake shows before the request."""
    if not _VARIABLE_NAME.match(value):
        raise ValueError(
            "Variable name must only contain lowercase letters, numbers, and dashes or underscores."
        )
    return value


def _artifact_key(value: str) -> str:
    if not _ARTIFACT_KEY.match(value):
        raise ValueError("Artifact key must only contain lowercase letters, numbers, and dashes.")
    return value


def _plain_name_or_empty(value: str) -> str:
    banned = sorted(_BANNED_NAME_CHARACTERS.intersection(value))
    if banned:
        raise ValueError(f"Name {value!r} contains an invalid character: {' '.join(banned)}")
    if "\n" in value:
        # Prefect's server mounts its API (Starlette's Mount matches ``.*``, which stops at
        # a line feed), so such a name could be created but never read back by name.
        raise ValueError(f"Name {value!r} contains a line break")
    return value


def _plain_name(value: str) -> str:
    if not value:
        raise ValueError("a name cannot be empty")
    return _plain_name_or_empty(value)


def _non_emptyish(value: str) -> str:
    if not value.strip("' \""):
        raise ValueError("name cannot be an empty string")
    return value


VariableName = Annotated[str, Field(max_length=255), AfterValidator(_variable_name)]
"""A variable name: lowercase letters, digits, ``-`` and ``_``, at most 255 characters."""

ArtifactKey = Annotated[str, AfterValidator(_artifact_key)]
"""An artifact key: lowercase letters, digits and ``-``."""

Name = Annotated[str, AfterValidator(_plain_name)]
"""An object name without ``/ % & > <``, as Prefect's ``Name``, nor a line break: a name
travels in URL paths (``/flows/name/{name}``), where ``/`` cannot be one segment on
Prefect's router, ``%`` is decoded once too often by some proxies, and a line feed
fails the server's mount, so such a name could never be read back."""

NameOrEmpty = Annotated[str, AfterValidator(_plain_name_or_empty)]
"""A `Name` that may be empty (Prefect's rule for deployment names)."""

NonEmptyishName = Annotated[str, AfterValidator(_non_emptyish), AfterValidator(_plain_name)]
"""A `Name` that is not only quotes and spaces (Prefect's rule for work pool names)."""


# --------------------------------------------------------------------------- states


class StateCreate(ActionBaseModel):
    """A proposed state for ``set_state`` or for a run being created.

    A missing ``name`` is filled from ``type`` ("Running", "Cancelling", ...), as Prefect
    names states, so it is always sent.
    """

    type: StateType
    name: str | None = None
    message: str | None = None
    state_details: StateDetails = Field(default_factory=StateDetails)
    data: Any = None

    @model_validator(mode="before")
    @classmethod
    def _name_from_type(cls, data: Any) -> Any:
        return _fill_state_name(data)

    @classmethod
    def from_state(cls, state: State) -> "StateCreate":
        """Propose ``state``: type, name, message, data and a copy of its details.

        The details are deep-copied, so setting ``transition_id`` or ``flow_run_id`` on
        the result never changes ``state``.
        """
        return cls(
            type=state.type,
            name=state.name,
            message=state.message,
            state_details=_copied(state.state_details),
            data=state.data,
        )


def _copied(details: StateDetails) -> StateDetails:
    """A copy of `details` that shares nothing mutable with it.

    Only containers are deep-copied: ids, times, strings and flags cannot change, and a
    whole deep copy costs dozens of ``deepcopy`` calls on every state a client proposes.
    """
    copied = details.model_copy()  # a new __dict__ (and fields set); the same values
    for name, value in list(copied.__dict__.items()):
        if type(value) not in _IMMUTABLE and isinstance(value, _MUTABLE):
            copied.__dict__[name] = copy.deepcopy(value)
    return copied


_MUTABLE = (dict, list, set, BaseModel)
# Values most fields hold, known not to be containers without asking (BaseModel's
# isinstance check goes through its metaclass, slowly).
_IMMUTABLE = frozenset({type(None), str, bool, int, float, UUID, datetime})


def state_proposal(state: State, details: dict[str, UUID]) -> "StateCreate | dict[str, Any]":
    """What ``to_json`` sends for ``StateCreate.from_state(state)`` with `details` (ids)
    set on its state details: the same bytes, built with less work when it can be.

    Every proposal a client sends goes through here (``set_state``), and building and
    validating a `StateCreate` costs a tenth of a request. When `state` holds only what
    that model accepts as it is (a known type, a name, sendable details and data), the
    value is a dict of the same fields in the same order, holding a copy of the details
    with the ids set. Anything else builds the model, which raises the error it raises.

    Raises:
        pydantic.ValidationError: As `StateCreate` raises it (an unknown state type, a
            value that is not JSON, such as NaN).
    """
    kind, name, message = state.type, state.name, state.message
    current = state.state_details
    if (
        type(kind) is StateType
        and kind._name_ in StateType.__members__
        and type(name) is str
        and (message is None or type(message) is str)
        and type(current) is StateDetails
        and all(type(value) is UUID for value in details.values())
        and _sendable(current)
        and _sendable(state.data)
    ):
        # Shallow: the copy is serialized and dropped, never seen by anyone.
        copied = current.model_copy(update=details)
        return {
            "type": kind,
            "name": name,
            "message": message,
            "state_details": copied,
            "data": state.data,
        }
    proposal = StateCreate.from_state(state)
    for field, value in details.items():
        setattr(proposal.state_details, field, value)
    return proposal


# --------------------------------------------------------------------------- flows and runs


class FlowCreate(ActionBaseModel):
    """Body of ``POST /flows/`` (an existing flow of that name is returned as is)."""

    name: Name
    tags: list[str] = Field(default_factory=list)
    labels: KeyValueLabels = Field(default_factory=dict)


class FlowUpdate(ActionBaseModel):
    """Body of ``PATCH /flows/{id}``."""

    tags: list[str] = Field(default_factory=list)


class FlowRunCreate(ActionBaseModel):
    """Body of ``POST /flow_runs/``; a known ``idempotency_key`` returns the existing run."""

    state: StateCreate | None = None
    name: str | None = None
    flow_id: UUID
    deployment_id: UUID | None = None
    flow_version: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    parent_task_run_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
    empirical_policy: FlowRunPolicy = Field(default_factory=FlowRunPolicy)
    tags: list[str] = Field(default_factory=list)
    idempotency_key: str | None = None
    labels: KeyValueLabels = Field(default_factory=dict)
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    job_variables: dict[str, Any] | None = None


class FlowRunUpdate(ActionBaseModel):
    """Body of ``PATCH /flow_runs/{id}``: only the fields given are changed."""

    name: str | None = None
    flow_version: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    empirical_policy: FlowRunPolicy = Field(default_factory=FlowRunPolicy)
    tags: list[str] = Field(default_factory=list)
    infrastructure_pid: str | None = None
    job_variables: dict[str, Any] | None = None


class TaskRunCreate(ActionBaseModel):
    """Body of ``POST /task_runs/``; ``(flow_run_id, task_key, dynamic_key)`` is unique."""

    id: UUID | None = None
    state: StateCreate | None = None
    name: str | None = None
    flow_run_id: UUID | None = None
    task_key: str
    dynamic_key: str
    cache_key: str | None = None
    cache_expiration: DateTime | None = None
    task_version: str | None = None
    empirical_policy: TaskRunPolicy = Field(default_factory=TaskRunPolicy)
    tags: list[str] = Field(default_factory=list)
    labels: KeyValueLabels = Field(default_factory=dict)
    task_inputs: dict[str, list[AnyTaskRunInput]] = Field(default_factory=dict)


class TaskRunUpdate(ActionBaseModel):
    """Body of ``PATCH /task_runs/{id}``."""

    name: str | None = None


# --------------------------------------------------------------------------- deployments


class DeploymentScheduleCreate(ActionBaseModel):
    """One schedule of a deployment being created or replaced."""

    schedule: SCHEDULE_TYPES
    active: bool = True
    max_scheduled_runs: PositiveInt | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    slug: str | None = None
    replaces: str | None = None
    """The slug of an existing schedule this one replaces (renames a slug)."""


class DeploymentScheduleUpdate(ActionBaseModel):
    """Body of ``PATCH /deployments/{id}/schedules/{schedule_id}``."""

    schedule: SCHEDULE_TYPES | None = None
    active: bool | None = None
    max_scheduled_runs: PositiveInt | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    slug: str | None = None
    replaces: str | None = None
    """The slug of an existing schedule this one replaces (renames a slug)."""


class DeploymentCreate(ActionBaseModel):
    """Body of ``POST /deployments/`` (an existing flow/name pair is updated in place)."""

    name: NameOrEmpty
    flow_id: UUID
    paused: bool = False
    schedules: list[DeploymentScheduleCreate] = Field(default_factory=list)
    concurrency_limit: NonNegativeInt | None = None
    concurrency_options: ConcurrencyOptions | None = None
    enforce_parameter_schema: bool = True
    parameter_openapi_schema: dict[str, Any] | None = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    labels: KeyValueLabels = Field(default_factory=dict)
    pull_steps: list[dict[str, Any]] | None = None
    work_queue_name: str | None = None
    work_pool_name: str | None = None
    storage_document_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
    description: str | None = None
    path: str | None = None
    entrypoint: str | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)
    version: str | None = None
    version_info: dict[str, Any] | None = None
    branch: str | None = None
    base: UUID | None = None
    root: UUID | None = None


class DeploymentUpdate(ActionBaseModel):
    """Body of ``PATCH /deployments/{id}``: only the fields given are changed."""

    version: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    paused: bool = False
    schedules: list[DeploymentScheduleCreate] = Field(default_factory=list)
    concurrency_limit: NonNegativeInt | None = None
    concurrency_options: ConcurrencyOptions | None = None
    tags: list[str] = Field(default_factory=list)
    work_queue_name: str | None = None
    work_pool_name: str | None = None
    path: str | None = None
    job_variables: dict[str, Any] | None = Field(default_factory=dict)
    entrypoint: str | None = None
    storage_document_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
    enforce_parameter_schema: bool | None = None
    parameter_openapi_schema: dict[str, Any] | None = Field(default_factory=dict)
    pull_steps: list[dict[str, Any]] | None = None


class DeploymentFlowRunCreate(ActionBaseModel):
    """Body of ``POST /deployments/{id}/create_flow_run``."""

    state: StateCreate | None = None
    name: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    enforce_parameter_schema: bool | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    infrastructure_document_id: UUID | None = None
    empirical_policy: FlowRunPolicy = Field(default_factory=FlowRunPolicy)
    tags: list[str] = Field(default_factory=list)
    idempotency_key: str | None = None
    parent_task_run_id: UUID | None = None
    work_queue_name: str | None = None
    job_variables: dict[str, Any] | None = None
    labels: KeyValueLabels = Field(default_factory=dict)


# --------------------------------------------------------------------------- logs, variables


class LogCreate(ActionBaseModel):
    """One entry of the list ``POST /logs/`` takes."""

    name: str
    level: int
    message: str
    timestamp: DateTime
    flow_run_id: UUID | None = None
    task_run_id: UUID | None = None


class VariableCreate(ActionBaseModel):
    """Body of ``POST /variables/``; the name is checked with the server's rule."""

    name: VariableName
    value: JsonValue
    tags: list[str] = Field(default_factory=list)


class VariableUpdate(ActionBaseModel):
    """Body of ``PATCH /variables/name/{name}``."""

    name: VariableName | None = None
    value: JsonValue = None
    tags: list[str] | None = None


# --------------------------------------------------------------------------- work pools, queues


class WorkPoolCreate(ActionBaseModel):
    """Body of ``POST /work_pools/``."""

    name: NonEmptyishName
    description: str | None = None
    type: str = "prefect-agent"
    base_job_template: dict[str, Any] = Field(default_factory=dict)
    is_paused: bool = False
    concurrency_limit: NonNegativeInt | None = None
    storage_configuration: WorkPoolStorageConfiguration = Field(
        default_factory=WorkPoolStorageConfiguration
    )


class WorkPoolUpdate(ActionBaseModel):
    """Body of ``PATCH /work_pools/{name}``."""

    description: str | None = None
    is_paused: bool | None = None
    base_job_template: dict[str, Any] = Field(default_factory=dict)
    concurrency_limit: NonNegativeInt | None = None
    storage_configuration: WorkPoolStorageConfiguration | None = None


class WorkQueueCreate(ActionBaseModel):
    """Body of ``POST /work_pools/{pool}/queues`` and of ``POST /work_queues/``."""

    name: Name
    description: str | None = None
    is_paused: bool = False
    concurrency_limit: NonNegativeInt | None = None
    priority: PositiveInt | None = None
    filter: QueueFilter | None = None
    """Deprecated by Prefect; still accepted."""


class WorkQueueUpdate(ActionBaseModel):
    """Body of ``PATCH /work_queues/{id}`` and of the pool-scoped variant (a new name
    follows the rule of `WorkQueueCreate`, so the queue stays readable by name)."""

    name: Name | None = None
    description: str | None = None
    is_paused: bool = False
    concurrency_limit: NonNegativeInt | None = None
    priority: PositiveInt | None = None
    last_polled: DateTime | None = None
    filter: QueueFilter | None = None
    """Deprecated by Prefect; still accepted."""


# --------------------------------------------------------------------------- artifacts, limits


class ArtifactCreate(ActionBaseModel):
    """Body of ``POST /artifacts/``; the key is checked with the server's rule."""

    key: ArtifactKey | None = None
    type: str | None = None
    description: str | None = None
    data: Any = None
    metadata_: dict[str, str] | None = None
    flow_run_id: UUID | None = None
    task_run_id: UUID | None = None


class ArtifactUpdate(ActionBaseModel):
    """Body of ``PATCH /artifacts/{id}``."""

    data: Any = None
    description: str | None = None
    metadata_: dict[str, str] | None = None


class GlobalConcurrencyLimitCreate(ActionBaseModel):
    """Body of ``POST /v2/concurrency_limits/``."""

    name: Name
    limit: NonNegativeInt
    active: bool = True
    active_slots: NonNegativeInt = 0
    slot_decay_per_second: NonNegativeFloat = 0.0


class GlobalConcurrencyLimitUpdate(ActionBaseModel):
    """Body of ``PATCH /v2/concurrency_limits/{id_or_name}``."""

    name: Name | None = None
    limit: NonNegativeInt | None = None
    active: bool | None = None
    active_slots: NonNegativeInt | None = None
    slot_decay_per_second: NonNegativeFloat | None = None


# --------------------------------------------------------------------------- blocks

_LOWERCASE_DASHES = re.compile(r"^[a-z0-9-]*$")


def _lowercase_dashes(what: str) -> Any:
    def check(value: str) -> str:
        if not _LOWERCASE_DASHES.match(value):
            raise ValueError(f"{what} must only contain lowercase letters, numbers, and dashes.")
        return value

    return check


BlockTypeSlug = Annotated[str, AfterValidator(_lowercase_dashes("Block type slug"))]
"""A block type's slug: lowercase letters, digits and ``-`` (the server's rule)."""

BlockDocumentName = Annotated[
    str,
    AfterValidator(_plain_name_or_empty),
    AfterValidator(_lowercase_dashes("Block document name")),
]
"""A block document's name: lowercase letters, digits and ``-`` (the server's rule)."""


class BlockTypeCreate(ActionBaseModel):
    """Body of ``POST /block_types/``. Names starting with "Prefect" are reserved (403)."""

    name: Name
    slug: BlockTypeSlug
    logo_url: str | None = None
    documentation_url: str | None = None
    description: str | None = None
    code_example: str | None = None


class BlockTypeUpdate(ActionBaseModel):
    """Body of ``PATCH /block_types/{id}``: the fields that may change after creation."""

    logo_url: str | None = None
    documentation_url: str | None = None
    description: str | None = None
    code_example: str | None = None


class BlockSchemaCreate(ActionBaseModel):
    """Body of ``POST /block_schemas/``; the server computes the checksum from `fields`."""

    fields: dict[str, Any] = Field(default_factory=dict)
    block_type_id: UUID | None = None
    capabilities: list[str] = Field(default_factory=list)
    version: str = DEFAULT_BLOCK_SCHEMA_VERSION


class BlockDocumentCreate(ActionBaseModel):
    """Body of ``POST /block_documents/``; a document that is not anonymous needs a name."""

    name: BlockDocumentName | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    block_schema_id: UUID
    block_type_id: UUID
    is_anonymous: bool = False

    @model_validator(mode="after")
    def _named_unless_anonymous(self) -> "BlockDocumentCreate":
        if not self.is_anonymous and not self.name:
            raise ValueError("Names must be provided for block documents.")
        return self


class BlockDocumentUpdate(ActionBaseModel):
    """Body of ``PATCH /block_documents/{id}``: new data, merged into the stored data
    unless ``merge_existing_data`` is false; a masked secret sent back keeps its value."""

    block_schema_id: UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    merge_existing_data: bool = True


# --------------------------------------------------------------------------- tag limits, branches


class ConcurrencyLimitCreate(ActionBaseModel):
    """Body of ``POST /concurrency_limits/`` (an existing tag's limit is updated)."""

    tag: Name
    concurrency_limit: NonNegativeInt


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("Branch name cannot be empty or contain only whitespace")
    return value


class DeploymentBranch(ActionBaseModel):
    """Body of ``POST /deployments/{id}/branch`` (Prefect Cloud; an OSS server has none)."""

    branch: Annotated[str, AfterValidator(_non_blank)]
    options: DeploymentBranchingOptions = Field(default_factory=DeploymentBranchingOptions)
    overrides: DeploymentUpdate | None = None


# --------------------------------------------------------------------------- issue 11: queues-misc


class ServerDefaultResultStorageUpdate(ActionBaseModel):
    """Body of ``PUT /admin/storage``."""

    default_result_storage_block_id: UUID
