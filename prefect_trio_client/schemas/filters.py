"""Prefect's filter models, with Prefect's class names and JSON shape.

Criteria are spelled as on the wire: ``any_``, ``not_any_``, ``all_``, ``like_``,
``startswith_``, ``before_``, ``after_``, ``ge_``, ``le_``, ``eq_``, ``exists_``,
``is_null_``, and ``operator`` (``"and_"`` / ``"or_"``) combines a filter's criteria.
Filters are request bodies: unknown fields are an error and ``model_dump(mode="json")``
holds only the criteria that were given, so ``FlowRunFilter(tags=FlowRunFilterTags(
all_=["a"]))`` dumps as ``{"tags": {"all_": ["a"]}}``, exactly as Prefect sends it.

The fields are those a Prefect 3.9 server accepts; a criterion that is never given is never
sent, so an older server only sees what a caller asked for.
"""

import enum
from uuid import UUID

from pydantic import Field

from prefect_trio_client.schemas.objects import ActionBaseModel, DateTime, StateType

__all__ = [
    "ArtifactCollectionFilter",
    "ArtifactCollectionFilterFlowRunId",
    "ArtifactCollectionFilterKey",
    "ArtifactCollectionFilterLatestId",
    "ArtifactCollectionFilterTaskRunId",
    "ArtifactCollectionFilterType",
    "ArtifactFilter",
    "ArtifactFilterFlowRunId",
    "ArtifactFilterId",
    "ArtifactFilterKey",
    "ArtifactFilterTaskRunId",
    "ArtifactFilterType",
    "BlockDocumentFilter",
    "BlockDocumentFilterBlockTypeId",
    "BlockDocumentFilterId",
    "BlockDocumentFilterIsAnonymous",
    "BlockDocumentFilterName",
    "BlockSchemaFilter",
    "BlockSchemaFilterBlockTypeId",
    "BlockSchemaFilterCapabilities",
    "BlockSchemaFilterId",
    "BlockSchemaFilterVersion",
    "BlockTypeFilter",
    "BlockTypeFilterName",
    "BlockTypeFilterSlug",
    "DeploymentFilter",
    "DeploymentFilterConcurrencyLimit",
    "DeploymentFilterId",
    "DeploymentFilterName",
    "DeploymentFilterPaused",
    "DeploymentFilterTags",
    "DeploymentFilterWorkQueueName",
    "DeploymentOrFlowNameFilter",
    "FlowFilter",
    "FlowFilterDeployment",
    "FlowFilterId",
    "FlowFilterName",
    "FlowFilterTags",
    "FlowRunFilter",
    "FlowRunFilterCreatedBy",
    "FlowRunFilterDeploymentId",
    "FlowRunFilterEndTime",
    "FlowRunFilterExpectedStartTime",
    "FlowRunFilterFlowVersion",
    "FlowRunFilterId",
    "FlowRunFilterIdempotencyKey",
    "FlowRunFilterName",
    "FlowRunFilterNextScheduledStartTime",
    "FlowRunFilterParentFlowRunId",
    "FlowRunFilterParentTaskRunId",
    "FlowRunFilterStartTime",
    "FlowRunFilterState",
    "FlowRunFilterStateName",
    "FlowRunFilterStateType",
    "FlowRunFilterTags",
    "FlowRunFilterWorkQueueName",
    "LogFilter",
    "LogFilterFlowRunId",
    "LogFilterLevel",
    "LogFilterName",
    "LogFilterTaskRunId",
    "LogFilterTextSearch",
    "LogFilterTimestamp",
    "Operator",
    "OperatorFilter",
    "TaskRunFilter",
    "TaskRunFilterEndTime",
    "TaskRunFilterExpectedStartTime",
    "TaskRunFilterFlowRunId",
    "TaskRunFilterId",
    "TaskRunFilterName",
    "TaskRunFilterStartTime",
    "TaskRunFilterState",
    "TaskRunFilterStateName",
    "TaskRunFilterStateType",
    "TaskRunFilterSubFlowRuns",
    "TaskRunFilterTags",
    "VariableFilter",
    "VariableFilterId",
    "VariableFilterName",
    "VariableFilterTags",
    "WorkPoolFilter",
    "WorkPoolFilterId",
    "WorkPoolFilterName",
    "WorkPoolFilterType",
    "WorkQueueFilter",
    "WorkQueueFilterId",
    "WorkQueueFilterName",
    "WorkerFilter",
    "WorkerFilterLastHeartbeatTime",
    "WorkerFilterStatus",
]


class Operator(str, enum.Enum):
    """How a filter combines its criteria."""

    and_ = "and_"
    or_ = "or_"


class OperatorFilter(ActionBaseModel):
    """A filter whose criteria are combined with ``operator`` (``and_`` unless given)."""

    operator: Operator = Operator.and_


# --------------------------------------------------------------------------- flows


class FlowFilterId(ActionBaseModel):
    """Filter by ``Flow.id``."""

    any_: list[UUID] | None = None
    not_any_: list[UUID] | None = None


class FlowFilterDeployment(OperatorFilter):
    """Filter flows by whether they have deployments."""

    is_null_: bool | None = None


class FlowFilterName(ActionBaseModel):
    """Filter by ``Flow.name`` (``like_`` is a case-insensitive substring match)."""

    any_: list[str] | None = None
    like_: str | None = None


class FlowFilterTags(OperatorFilter):
    """Filter by ``Flow.tags``: ``all_`` must be a subset of the flow's tags."""

    all_: list[str] | None = None
    is_null_: bool | None = None


class FlowFilter(OperatorFilter):
    """Only flows matching all (or, with ``or_``, any) of the criteria."""

    id: FlowFilterId | None = None
    deployment: FlowFilterDeployment | None = None
    name: FlowFilterName | None = None
    tags: FlowFilterTags | None = None


# --------------------------------------------------------------------------- flow runs


class FlowRunFilterId(ActionBaseModel):
    """Filter by ``FlowRun.id``."""

    any_: list[UUID] | None = None
    not_any_: list[UUID] | None = None


class FlowRunFilterName(ActionBaseModel):
    """Filter by ``FlowRun.name``."""

    any_: list[str] | None = None
    like_: str | None = None


class FlowRunFilterTags(OperatorFilter):
    """Filter by ``FlowRun.tags``."""

    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class FlowRunFilterDeploymentId(OperatorFilter):
    """Filter by ``FlowRun.deployment_id``."""

    any_: list[UUID] | None = None
    is_null_: bool | None = None


class FlowRunFilterWorkQueueName(OperatorFilter):
    """Filter by ``FlowRun.work_queue_name``."""

    any_: list[str] | None = None
    is_null_: bool | None = None


class FlowRunFilterStateType(ActionBaseModel):
    """Filter by ``FlowRun.state_type``."""

    any_: list[StateType] | None = None
    not_any_: list[StateType] | None = None


class FlowRunFilterStateName(ActionBaseModel):
    """Filter by ``FlowRun.state_name``."""

    any_: list[str] | None = None
    not_any_: list[str] | None = None


class FlowRunFilterState(OperatorFilter):
    """Filter by a flow run's state type and/or name."""

    type: FlowRunFilterStateType | None = None
    name: FlowRunFilterStateName | None = None


class FlowRunFilterFlowVersion(ActionBaseModel):
    """Filter by ``FlowRun.flow_version``."""

    any_: list[str] | None = None


class FlowRunFilterStartTime(ActionBaseModel):
    """Filter by ``FlowRun.start_time`` (bounds are inclusive)."""

    before_: DateTime | None = None
    after_: DateTime | None = None
    is_null_: bool | None = None


class FlowRunFilterEndTime(ActionBaseModel):
    """Filter by ``FlowRun.end_time`` (bounds are inclusive)."""

    before_: DateTime | None = None
    after_: DateTime | None = None
    is_null_: bool | None = None


class FlowRunFilterExpectedStartTime(ActionBaseModel):
    """Filter by ``FlowRun.expected_start_time``."""

    before_: DateTime | None = None
    after_: DateTime | None = None


class FlowRunFilterNextScheduledStartTime(ActionBaseModel):
    """Filter by ``FlowRun.next_scheduled_start_time``."""

    before_: DateTime | None = None
    after_: DateTime | None = None


class FlowRunFilterParentFlowRunId(OperatorFilter):
    """Only subflow runs of the given flow runs."""

    any_: list[UUID] | None = None


class FlowRunFilterParentTaskRunId(OperatorFilter):
    """Filter by ``FlowRun.parent_task_run_id``."""

    any_: list[UUID] | None = None
    is_null_: bool | None = None


class FlowRunFilterIdempotencyKey(ActionBaseModel):
    """Filter by ``FlowRun.idempotency_key``."""

    any_: list[str] | None = None
    not_any_: list[str] | None = None


class FlowRunFilterCreatedBy(OperatorFilter):
    """Filter by ``FlowRun.created_by`` (creator ids and types such as ``DEPLOYMENT``)."""

    id_: list[UUID] | None = None
    type_: list[str] | None = None
    is_null_: bool | None = None


class FlowRunFilter(OperatorFilter):
    """Only flow runs matching all (or, with ``or_``, any) of the criteria."""

    id: FlowRunFilterId | None = None
    name: FlowRunFilterName | None = None
    tags: FlowRunFilterTags | None = None
    deployment_id: FlowRunFilterDeploymentId | None = None
    work_queue_name: FlowRunFilterWorkQueueName | None = None
    state: FlowRunFilterState | None = None
    flow_version: FlowRunFilterFlowVersion | None = None
    start_time: FlowRunFilterStartTime | None = None
    end_time: FlowRunFilterEndTime | None = None
    expected_start_time: FlowRunFilterExpectedStartTime | None = None
    next_scheduled_start_time: FlowRunFilterNextScheduledStartTime | None = None
    parent_flow_run_id: FlowRunFilterParentFlowRunId | None = None
    parent_task_run_id: FlowRunFilterParentTaskRunId | None = None
    idempotency_key: FlowRunFilterIdempotencyKey | None = None
    created_by: FlowRunFilterCreatedBy | None = None


# --------------------------------------------------------------------------- task runs


class TaskRunFilterId(ActionBaseModel):
    """Filter by ``TaskRun.id``."""

    any_: list[UUID] | None = None


class TaskRunFilterName(ActionBaseModel):
    """Filter by ``TaskRun.name``."""

    any_: list[str] | None = None
    like_: str | None = None


class TaskRunFilterTags(OperatorFilter):
    """Filter by ``TaskRun.tags``."""

    all_: list[str] | None = None
    is_null_: bool | None = None


class TaskRunFilterStateType(ActionBaseModel):
    """Filter by ``TaskRun.state_type``."""

    any_: list[StateType] | None = None


class TaskRunFilterStateName(ActionBaseModel):
    """Filter by ``TaskRun.state_name``."""

    any_: list[str] | None = None


class TaskRunFilterState(OperatorFilter):
    """Filter by a task run's state type and/or name."""

    type: TaskRunFilterStateType | None = None
    name: TaskRunFilterStateName | None = None


class TaskRunFilterSubFlowRuns(ActionBaseModel):
    """Only (or never) task runs that stand for a subflow run."""

    exists_: bool | None = None


class TaskRunFilterStartTime(ActionBaseModel):
    """Filter by ``TaskRun.start_time``."""

    before_: DateTime | None = None
    after_: DateTime | None = None
    is_null_: bool | None = None


class TaskRunFilterEndTime(ActionBaseModel):
    """Filter by ``TaskRun.end_time``."""

    before_: DateTime | None = None
    after_: DateTime | None = None
    is_null_: bool | None = None


class TaskRunFilterExpectedStartTime(ActionBaseModel):
    """Filter by ``TaskRun.expected_start_time``."""

    before_: DateTime | None = None
    after_: DateTime | None = None


class TaskRunFilterFlowRunId(OperatorFilter):
    """Filter by ``TaskRun.flow_run_id``; ``is_null_`` selects runs outside any flow."""

    any_: list[UUID] | None = None
    is_null_: bool = False


class TaskRunFilter(OperatorFilter):
    """Only task runs matching all (or, with ``or_``, any) of the criteria."""

    id: TaskRunFilterId | None = None
    name: TaskRunFilterName | None = None
    tags: TaskRunFilterTags | None = None
    state: TaskRunFilterState | None = None
    start_time: TaskRunFilterStartTime | None = None
    end_time: TaskRunFilterEndTime | None = None
    expected_start_time: TaskRunFilterExpectedStartTime | None = None
    subflow_runs: TaskRunFilterSubFlowRuns | None = None
    flow_run_id: TaskRunFilterFlowRunId | None = None


# --------------------------------------------------------------------------- deployments


class DeploymentFilterId(ActionBaseModel):
    """Filter by ``Deployment.id``."""

    any_: list[UUID] | None = None
    not_any_: list[UUID] | None = None


class DeploymentFilterName(ActionBaseModel):
    """Filter by ``Deployment.name``."""

    any_: list[str] | None = None
    like_: str | None = None


class DeploymentOrFlowNameFilter(ActionBaseModel):
    """A substring match on the deployment's name or its flow's name."""

    like_: str | None = None


class DeploymentFilterPaused(ActionBaseModel):
    """Filter by ``Deployment.paused``."""

    eq_: bool | None = None


class DeploymentFilterTags(OperatorFilter):
    """Filter by ``Deployment.tags``."""

    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class DeploymentFilterWorkQueueName(ActionBaseModel):
    """Filter by ``Deployment.work_queue_name``."""

    any_: list[str] | None = None


class DeploymentFilterConcurrencyLimit(ActionBaseModel):
    """Deprecated by Prefect (ignored by the server); kept because Prefect still sends it."""

    ge_: int | None = None
    le_: int | None = None
    is_null_: bool | None = None


class DeploymentFilter(OperatorFilter):
    """Only deployments matching all (or, with ``or_``, any) of the criteria."""

    id: DeploymentFilterId | None = None
    name: DeploymentFilterName | None = None
    flow_or_deployment_name: DeploymentOrFlowNameFilter | None = None
    paused: DeploymentFilterPaused | None = None
    tags: DeploymentFilterTags | None = None
    work_queue_name: DeploymentFilterWorkQueueName | None = None
    concurrency_limit: DeploymentFilterConcurrencyLimit | None = None


# --------------------------------------------------------------------------- logs


class LogFilterName(ActionBaseModel):
    """Filter by ``Log.name``.

    Kept for Prefect's import path only: the server's ``LogFilter`` has no name criterion.
    """

    any_: list[str] | None = None


class LogFilterLevel(ActionBaseModel):
    """Filter by ``Log.level`` (``ge_`` / ``le_`` are inclusive)."""

    ge_: int | None = None
    le_: int | None = None


class LogFilterTimestamp(ActionBaseModel):
    """Filter by ``Log.timestamp``."""

    before_: DateTime | None = None
    after_: DateTime | None = None


class LogFilterFlowRunId(ActionBaseModel):
    """Filter by ``Log.flow_run_id``."""

    any_: list[UUID] | None = None


class LogFilterTaskRunId(ActionBaseModel):
    """Filter by ``Log.task_run_id``."""

    any_: list[UUID] | None = None
    is_null_: bool | None = None


class LogFilterTextSearch(ActionBaseModel):
    """Search log messages and names (``-word`` excludes, quotes make a phrase)."""

    query: str = Field(max_length=200)


class LogFilter(OperatorFilter):
    """Only logs matching all (or, with ``or_``, any) of the criteria."""

    level: LogFilterLevel | None = None
    timestamp: LogFilterTimestamp | None = None
    flow_run_id: LogFilterFlowRunId | None = None
    task_run_id: LogFilterTaskRunId | None = None
    text: LogFilterTextSearch | None = None


# --------------------------------------------------------------------------- variables


class VariableFilterId(ActionBaseModel):
    """Filter by ``Variable.id``."""

    any_: list[UUID] | None = None


class VariableFilterName(ActionBaseModel):
    """Filter by ``Variable.name`` (``like_`` may use SQL wildcards)."""

    any_: list[str] | None = None
    like_: str | None = None


class VariableFilterTags(OperatorFilter):
    """Filter by ``Variable.tags``."""

    all_: list[str] | None = None
    is_null_: bool | None = None


class VariableFilter(OperatorFilter):
    """Only variables matching all (or, with ``or_``, any) of the criteria."""

    id: VariableFilterId | None = None
    name: VariableFilterName | None = None
    tags: VariableFilterTags | None = None


# --------------------------------------------------------------------------- work pools, queues


class WorkPoolFilterId(ActionBaseModel):
    """Filter by ``WorkPool.id``."""

    any_: list[UUID] | None = None


class WorkPoolFilterName(ActionBaseModel):
    """Filter by ``WorkPool.name``."""

    any_: list[str] | None = None


class WorkPoolFilterType(ActionBaseModel):
    """Filter by ``WorkPool.type``."""

    any_: list[str] | None = None


class WorkPoolFilter(OperatorFilter):
    """Only work pools matching all (or, with ``or_``, any) of the criteria."""

    id: WorkPoolFilterId | None = None
    name: WorkPoolFilterName | None = None
    type: WorkPoolFilterType | None = None


class WorkQueueFilterId(ActionBaseModel):
    """Filter by ``WorkQueue.id``."""

    any_: list[UUID] | None = None


class WorkQueueFilterName(ActionBaseModel):
    """Filter by ``WorkQueue.name`` (``startswith_`` is case-insensitive)."""

    any_: list[str] | None = None
    startswith_: list[str] | None = None


class WorkQueueFilter(OperatorFilter):
    """Only work queues matching all (or, with ``or_``, any) of the criteria."""

    id: WorkQueueFilterId | None = None
    name: WorkQueueFilterName | None = None


# --------------------------------------------------------------------------- artifacts


class ArtifactFilterId(ActionBaseModel):
    """Filter by ``Artifact.id``."""

    any_: list[UUID] | None = None


class ArtifactFilterKey(ActionBaseModel):
    """Filter by ``Artifact.key`` (``exists_`` selects keyed or unkeyed artifacts)."""

    any_: list[str] | None = None
    like_: str | None = None
    exists_: bool | None = None


class ArtifactFilterFlowRunId(ActionBaseModel):
    """Filter by ``Artifact.flow_run_id``."""

    any_: list[UUID] | None = None


class ArtifactFilterTaskRunId(ActionBaseModel):
    """Filter by ``Artifact.task_run_id``."""

    any_: list[UUID] | None = None


class ArtifactFilterType(ActionBaseModel):
    """Filter by ``Artifact.type``."""

    any_: list[str] | None = None
    not_any_: list[str] | None = None


class ArtifactFilter(OperatorFilter):
    """Only artifacts matching all (or, with ``or_``, any) of the criteria."""

    id: ArtifactFilterId | None = None
    key: ArtifactFilterKey | None = None
    flow_run_id: ArtifactFilterFlowRunId | None = None
    task_run_id: ArtifactFilterTaskRunId | None = None
    type: ArtifactFilterType | None = None


# --------------------------------------------------------------------------- blocks


class BlockTypeFilterName(ActionBaseModel):
    """Filter by ``BlockType.name`` (``like_``: a case-insensitive substring)."""

    like_: str | None = None


class BlockTypeFilterSlug(ActionBaseModel):
    """Filter by ``BlockType.slug``."""

    any_: list[str] | None = None


class BlockTypeFilter(ActionBaseModel):
    """Only block types matching all of the criteria."""

    name: BlockTypeFilterName | None = None
    slug: BlockTypeFilterSlug | None = None


class BlockSchemaFilterBlockTypeId(ActionBaseModel):
    """Filter by ``BlockSchema.block_type_id``."""

    any_: list[UUID] | None = None


# --------------------------------------------------------------------------- issue 11: queues-misc


class WorkerFilterLastHeartbeatTime(ActionBaseModel):
    """Filter by ``Worker.last_heartbeat_time`` (bounds included)."""

    before_: DateTime | None = None
    after_: DateTime | None = None


class WorkerFilterStatus(ActionBaseModel):
    """Filter by ``Worker.status`` (``ONLINE``, ``OFFLINE``)."""

    any_: list[str] | None = None
    not_any_: list[str] | None = None


class WorkerFilter(OperatorFilter):
    """Only a pool's workers matching all (or, with ``or_``, any) of the criteria."""

    last_heartbeat_time: WorkerFilterLastHeartbeatTime | None = None
    status: WorkerFilterStatus | None = None


class ArtifactCollectionFilterLatestId(ActionBaseModel):
    """Filter by ``ArtifactCollection.latest_id``."""

    any_: list[UUID] | None = None


class BlockSchemaFilterId(ActionBaseModel):
    """Filter by ``BlockSchema.id``."""

    any_: list[UUID] | None = None


class BlockSchemaFilterCapabilities(ActionBaseModel):
    """Only schemas having all of these capabilities."""

    all_: list[str] | None = None


class BlockSchemaFilterVersion(ActionBaseModel):
    """Filter by ``BlockSchema.version``."""

    any_: list[str] | None = None


class BlockSchemaFilter(OperatorFilter):
    """Only block schemas matching all (or, with ``or_``, any) of the criteria."""

    block_type_id: BlockSchemaFilterBlockTypeId | None = None
    block_capabilities: BlockSchemaFilterCapabilities | None = None
    id: BlockSchemaFilterId | None = None
    version: BlockSchemaFilterVersion | None = None


class BlockDocumentFilterIsAnonymous(ActionBaseModel):
    """Filter by ``BlockDocument.is_anonymous``."""

    eq_: bool | None = None


class BlockDocumentFilterBlockTypeId(ActionBaseModel):
    """Filter by ``BlockDocument.block_type_id``."""

    any_: list[UUID] | None = None


class BlockDocumentFilterId(ActionBaseModel):
    """Filter by ``BlockDocument.id``."""

    any_: list[UUID] | None = None


class BlockDocumentFilterName(ActionBaseModel):
    """Filter by ``BlockDocument.name`` (``like_``: a case-insensitive substring)."""

    any_: list[str] | None = None
    like_: str | None = None


class BlockDocumentFilter(OperatorFilter):
    """Only block documents matching all (or, with ``or_``, any) of the criteria.

    Anonymous documents are left out unless ``is_anonymous`` is given (the server's
    default, applied there when the field is not sent).
    """

    id: BlockDocumentFilterId | None = None
    is_anonymous: BlockDocumentFilterIsAnonymous | None = Field(
        default_factory=lambda: BlockDocumentFilterIsAnonymous(eq_=False)
    )
    block_type_id: BlockDocumentFilterBlockTypeId | None = None
    name: BlockDocumentFilterName | None = None


class ArtifactCollectionFilterKey(ActionBaseModel):
    """Filter by ``ArtifactCollection.key``."""

    any_: list[str] | None = None
    like_: str | None = None
    exists_: bool | None = None


class ArtifactCollectionFilterFlowRunId(ActionBaseModel):
    """Filter by ``ArtifactCollection.flow_run_id``."""

    any_: list[UUID] | None = None


class ArtifactCollectionFilterTaskRunId(ActionBaseModel):
    """Filter by ``ArtifactCollection.task_run_id``."""

    any_: list[UUID] | None = None


class ArtifactCollectionFilterType(ActionBaseModel):
    """Filter by ``ArtifactCollection.type``."""

    any_: list[str] | None = None
    not_any_: list[str] | None = None


class ArtifactCollectionFilter(OperatorFilter):
    """Only the latest artifacts (one per key) matching all (or any) of the criteria."""

    latest_id: ArtifactCollectionFilterLatestId | None = None
    key: ArtifactCollectionFilterKey | None = None
    flow_run_id: ArtifactCollectionFilterFlowRunId | None = None
    task_run_id: ArtifactCollectionFilterTaskRunId | None = None
    type: ArtifactCollectionFilterType | None = None
