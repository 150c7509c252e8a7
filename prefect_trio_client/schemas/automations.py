"""Automations as Prefect 3.9 sends and reads them: triggers, actions, filters.

The names and JSON shapes are those of ``prefect.events.schemas.automations``,
``prefect.events.actions`` and ``prefect.events.filters``, so code ports by changing the
import. The wire rules:

- ``AutomationCore`` is what ``create_automation`` and ``update_automation`` send: every
  field, defaults included (as Prefect's client sends a create), and an unknown keyword is
  an error, so a typo fails before a request. ``Automation`` is what the server answers:
  the same fields plus ``id`` (and ``created`` / ``updated``), unknown fields ignored.
- Triggers are told apart by ``type`` (``event``, ``compound``, ``sequence``, ``metric``;
  without one, by shape, as Prefect does). Metric triggers are Prefect Cloud's: the
  open-source server answers 422 for them. A trigger type this client does not know is
  read as an `UnknownTrigger` that keeps every field, so one automation of a newer server
  never makes a whole listing fail; the same holds for actions (`UnknownAction`).
- Durations are ``timedelta`` in Python and seconds on the wire; event-name sets are sent
  sorted, so one automation always makes the same body.
"""

import enum
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal, get_args
from uuid import UUID

from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    field_validator,
    model_validator,
)

from prefect_trio_client.schemas.objects import (
    ActionBaseModel,
    DateTime,
    PrefectBaseModel,
    Seconds,
    StateType,
    _unsendable,
)

__all__ = [
    "Action",
    "ActionTypes",
    "ActionTypesOrUnknown",
    "Automation",
    "AutomationAction",
    "AutomationCore",
    "AutomationFilter",
    "AutomationFilterCreated",
    "AutomationFilterId",
    "AutomationFilterName",
    "AutomationFilterTags",
    "CallWebhook",
    "CancelFlowRun",
    "ChangeFlowRunState",
    "CompositeTrigger",
    "CompoundTrigger",
    "DeclareIncident",
    "DeleteFlowRun",
    "DeploymentAction",
    "DoNothing",
    "EventTrigger",
    "MetricTrigger",
    "MetricTriggerOperator",
    "MetricTriggerQuery",
    "PauseAutomation",
    "PauseDeployment",
    "PauseWorkPool",
    "PauseWorkQueue",
    "Posture",
    "PrefectMetric",
    "ResourceSpecification",
    "ResourceTrigger",
    "ResumeAutomation",
    "ResumeDeployment",
    "ResumeFlowRun",
    "ResumeWorkPool",
    "ResumeWorkQueue",
    "RunDeployment",
    "SendNotification",
    "SequenceTrigger",
    "SuspendFlowRun",
    "Trigger",
    "TriggerTypes",
    "UnknownAction",
    "UnknownTrigger",
    "WorkPoolAction",
    "WorkQueueAction",
]


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("a duration here cannot be negative")
    return value


def _sorted(values: set[str]) -> list[str]:
    return sorted(values)


_NonNegativeSeconds = Annotated[Seconds, AfterValidator(_not_negative)]
_EventNames = Annotated[set[str], PlainSerializer(_sorted, return_type=list[str])]

ResourceSpecification = dict[str, str | list[str]]
"""Labels a resource must have: each label's value, or a list of values (any may match);
a value may end in ``*``. ``{}`` matches every resource."""


# --------------------------------------------------------------------------- triggers


class Posture(str, enum.Enum):
    """How a trigger reacts: to events (Reactive), to their absence (Proactive), or to a
    metric (Metric)."""

    Reactive = "Reactive"
    Proactive = "Proactive"
    Metric = "Metric"


class Trigger(PrefectBaseModel):
    """The criteria that make an automation act."""

    type: str


class ResourceTrigger(Trigger):
    """A trigger that selects resources (and related resources) by their labels."""

    match: ResourceSpecification = Field(default_factory=dict)
    match_related: ResourceSpecification | list[ResourceSpecification] = Field(default_factory=dict)


_PROACTIVE_MINIMUM = timedelta(seconds=10)


class EventTrigger(ResourceTrigger):
    """Acts on the presence (Reactive) or absence (Proactive) of events in a period."""

    type: Literal["event"] = "event"
    after: _EventNames = Field(default_factory=set)
    expect: _EventNames = Field(default_factory=set)
    for_each: _EventNames = Field(default_factory=set)
    posture: Literal[Posture.Reactive, Posture.Proactive] = Posture.Reactive
    threshold: int = 1
    within: _NonNegativeSeconds = timedelta(0)

    @model_validator(mode="after")
    def _proactive_needs_a_period(self) -> "EventTrigger":
        """Prefect's rule: a Proactive trigger watches at least 10 s (0 means 10 s)."""
        if self.posture is Posture.Proactive:
            if self.within == timedelta(0):
                self.within = _PROACTIVE_MINIMUM
            elif self.within < _PROACTIVE_MINIMUM:
                raise ValueError(
                    "`within` for Proactive triggers must be greater than or equal to 10 seconds"
                )
        return self


class MetricTriggerOperator(str, enum.Enum):
    """How a metric is compared with its threshold."""

    LT = "<"
    LTE = "<="
    GT = ">"
    GTE = ">="


class PrefectMetric(str, enum.Enum):
    """The metrics a metric trigger may query."""

    lateness = "lateness"
    duration = "duration"
    successes = "successes"


_MINIMUM_METRIC_RANGE = timedelta(seconds=300)


class MetricTriggerQuery(PrefectBaseModel):
    """A metric query and the condition that breaches it."""

    # A metric Prefect Cloud added later is kept as its name, so an update sends it back.
    name: PrefectMetric | str = Field(union_mode="left_to_right")
    threshold: float
    operator: MetricTriggerOperator
    range: Seconds = _MINIMUM_METRIC_RANGE
    firing_for: Seconds = _MINIMUM_METRIC_RANGE

    @field_validator("range", "firing_for")
    @classmethod
    def _at_least_five_minutes(cls, value: timedelta) -> timedelta:
        if value < _MINIMUM_METRIC_RANGE:
            raise ValueError("The minimum range is 300 seconds (5 minutes)")
        return value


class MetricTrigger(ResourceTrigger):
    """Acts on the result of a metric query (Prefect Cloud only)."""

    type: Literal["metric"] = "metric"
    posture: Literal[Posture.Metric] = Posture.Metric
    metric: MetricTriggerQuery


class CompositeTrigger(Trigger):
    """A trigger made of other triggers, firing within a period."""

    triggers: list["TriggerTypes"]
    within: Seconds | None = None


class CompoundTrigger(CompositeTrigger):
    """Fires when ``require`` of its triggers (a number, ``"any"`` or ``"all"``) fired."""

    type: Literal["compound"] = "compound"
    require: int | Literal["any", "all"]

    @model_validator(mode="after")
    def _require_fits(self) -> "CompoundTrigger":
        if isinstance(self.require, int):
            if self.require < 1:
                raise ValueError("require must be at least 1")
            if self.require > len(self.triggers):
                raise ValueError("require must be less than or equal to the number of triggers")
        return self


class SequenceTrigger(CompositeTrigger):
    """Fires when its triggers fired in order."""

    type: Literal["sequence"] = "sequence"


class UnknownTrigger(Trigger):
    """A trigger type this client does not know (a newer server's): every field is kept,
    so updating the automation sends it back unchanged."""

    model_config = ConfigDict(extra="allow")

    @field_validator("type")
    @classmethod
    def _type_is_unknown(cls, value: str) -> str:
        if value in _TRIGGER_TYPES:
            raise ValueError(f"{value!r} is a known trigger type, not an UnknownTrigger")
        return value


_TRIGGER_TYPES = frozenset({"event", "metric", "compound", "sequence"})


def _trigger_kind(value: Any) -> str:
    """The trigger's ``type``; without one, Prefect's inference from its fields."""
    if not isinstance(value, dict):
        kind = getattr(value, "type", "event")
        return kind if kind in _TRIGGER_TYPES else "unknown"
    kind = value.get("type")
    if isinstance(kind, str):
        return kind if kind in _TRIGGER_TYPES else "unknown"
    if "triggers" in value:
        return "compound" if "require" in value else "sequence"
    return "metric" if value.get("posture") == Posture.Metric.value else "event"


TriggerTypes = Annotated[
    Annotated[EventTrigger, Tag("event")]
    | Annotated[MetricTrigger, Tag("metric")]
    | Annotated[CompoundTrigger, Tag("compound")]
    | Annotated[SequenceTrigger, Tag("sequence")]
    | Annotated[UnknownTrigger, Tag("unknown")],
    Discriminator(_trigger_kind),
]
"""Any trigger, told apart by ``type``."""

CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()


# --------------------------------------------------------------------------- actions


class Action(PrefectBaseModel):
    """Something an automation does when it triggers."""

    type: str


class DoNothing(Action):
    """Nothing (useful to test a trigger)."""

    type: Literal["do-nothing"] = "do-nothing"


_Source = Literal["selected", "inferred"]


def _selected_needs_id(source: str, object_id: UUID | None, field: str) -> None:
    """Prefect's rule: a selected object needs its id, an inferred one must not have one."""
    if (source == "selected") != bool(object_id):
        raise ValueError(f"{field} is " + ("not allowed" if object_id else "required"))


class DeploymentAction(Action):
    """An action on a deployment: the one selected by id, or the triggering event's."""

    source: _Source = "selected"
    deployment_id: UUID | None = None

    @model_validator(mode="after")
    def _deployment_given_when_selected(self) -> "DeploymentAction":
        _selected_needs_id(self.source, self.deployment_id, "deployment_id")
        return self


class RunDeployment(DeploymentAction):
    """Runs a deployment (its default parameters and job variables when None)."""

    type: Literal["run-deployment"] = "run-deployment"
    parameters: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    schedule_after: _NonNegativeSeconds = timedelta(0)


class PauseDeployment(DeploymentAction):
    """Pauses a deployment."""

    type: Literal["pause-deployment"] = "pause-deployment"


class ResumeDeployment(DeploymentAction):
    """Resumes a deployment."""

    type: Literal["resume-deployment"] = "resume-deployment"


class ChangeFlowRunState(Action):
    """Moves the triggering flow run to a state."""

    type: Literal["change-flow-run-state"] = "change-flow-run-state"
    name: str | None = None
    state: StateType
    message: str | None = None
    force: bool = False


class CancelFlowRun(Action):
    """Cancels the triggering flow run."""

    type: Literal["cancel-flow-run"] = "cancel-flow-run"


class DeleteFlowRun(Action):
    """Deletes the triggering flow run."""

    type: Literal["delete-flow-run"] = "delete-flow-run"


class ResumeFlowRun(Action):
    """Resumes the triggering (paused) flow run."""

    type: Literal["resume-flow-run"] = "resume-flow-run"


class SuspendFlowRun(Action):
    """Suspends the triggering flow run."""

    type: Literal["suspend-flow-run"] = "suspend-flow-run"


class CallWebhook(Action):
    """Calls the webhook of a block document, with a templated payload."""

    type: Literal["call-webhook"] = "call-webhook"
    block_document_id: UUID
    payload: str = ""


class SendNotification(Action):
    """Sends a notification through a notification block document."""

    type: Literal["send-notification"] = "send-notification"
    block_document_id: UUID
    subject: str = "Prefect automated notification"
    body: str


class WorkPoolAction(Action):
    """An action on a work pool: the one selected by id, or the triggering event's.

    Prefect checks no id rule here (it does for deployments, queues and automations)."""

    source: _Source = "selected"
    work_pool_id: UUID | None = None


class PauseWorkPool(WorkPoolAction):
    """Pauses a work pool."""

    type: Literal["pause-work-pool"] = "pause-work-pool"


class ResumeWorkPool(WorkPoolAction):
    """Resumes a work pool."""

    type: Literal["resume-work-pool"] = "resume-work-pool"


class WorkQueueAction(Action):
    """An action on a work queue: the one selected by id, or the triggering event's."""

    source: _Source = "selected"
    work_queue_id: UUID | None = None

    @model_validator(mode="after")
    def _queue_given_when_selected(self) -> "WorkQueueAction":
        _selected_needs_id(self.source, self.work_queue_id, "work_queue_id")
        return self


class PauseWorkQueue(WorkQueueAction):
    """Pauses a work queue."""

    type: Literal["pause-work-queue"] = "pause-work-queue"


class ResumeWorkQueue(WorkQueueAction):
    """Resumes a work queue."""

    type: Literal["resume-work-queue"] = "resume-work-queue"


class AutomationAction(Action):
    """An action on an automation: the one selected by id, or the triggering event's."""

    source: _Source = "selected"
    automation_id: UUID | None = None

    @model_validator(mode="after")
    def _automation_given_when_selected(self) -> "AutomationAction":
        _selected_needs_id(self.source, self.automation_id, "automation_id")
        return self


class PauseAutomation(AutomationAction):
    """Pauses an automation."""

    type: Literal["pause-automation"] = "pause-automation"


class ResumeAutomation(AutomationAction):
    """Resumes an automation."""

    type: Literal["resume-automation"] = "resume-automation"


class DeclareIncident(Action):
    """Declares an incident for the triggering event (Prefect Cloud only)."""

    type: Literal["declare-incident"] = "declare-incident"


ActionTypes = (
    DoNothing
    | RunDeployment
    | PauseDeployment
    | ResumeDeployment
    | ResumeFlowRun
    | CancelFlowRun
    | DeleteFlowRun
    | ChangeFlowRunState
    | PauseWorkQueue
    | ResumeWorkQueue
    | SendNotification
    | CallWebhook
    | PauseAutomation
    | ResumeAutomation
    | SuspendFlowRun
    | PauseWorkPool
    | ResumeWorkPool
    | DeclareIncident
)
"""Every action type this client knows (Prefect 3.9's list)."""

_ACTIONS: dict[str, type[Action]] = {
    kind.model_fields["type"].default: kind for kind in get_args(ActionTypes)
}


class UnknownAction(Action):
    """An action type this client does not know (a newer server's, Prefect Cloud's):
    every field is kept, so updating the automation sends the action back unchanged."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow")

    @field_validator("type")
    @classmethod
    def _type_is_unknown(cls, value: str) -> str:
        if value in _ACTIONS:
            raise ValueError(f"{value!r} is a known action type, not an UnknownAction")
        return value


def _action_kind(value: Any) -> str | None:
    """``known`` (then the ``type`` picks the class) or ``unknown`` (a type this client
    does not know); None (an error) when there is no ``type`` at all."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return None
    return "known" if kind in _ACTIONS else "unknown"


ActionTypesOrUnknown = Annotated[
    Annotated[ActionTypes, Field(discriminator="type"), Tag("known")]
    | Annotated[UnknownAction, Tag("unknown")],
    Discriminator(_action_kind),
]
"""Any action, told apart by ``type``; a type this client does not know reads as an
`UnknownAction`."""


# --------------------------------------------------------------------------- automations


class AutomationCore(PrefectBaseModel):
    """An automation as it is created or replaced: a trigger and the actions it runs."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    trigger: TriggerTypes
    actions: list[ActionTypesOrUnknown]
    actions_on_trigger: list[ActionTypesOrUnknown] = Field(default_factory=list)
    actions_on_resolve: list[ActionTypesOrUnknown] = Field(default_factory=list)
    owner_resource: str | None = None
    """The resource that owns the automation (``prefect.deployment.<id>``): deleting the
    resource's automations (``delete_resource_owned_automations``) deletes it. Set only at
    creation; the server never returns it."""

    @model_validator(mode="after")
    def _only_sendable_values(self) -> "AutomationCore":
        """NaN and infinity (in a threshold, in parameters) are not JSON: refuse them here."""
        for name in AutomationCore.model_fields:
            problem = _unsendable(getattr(self, name, None), name)
            if problem is not None:
                raise ValueError(problem)
        return self


class Automation(AutomationCore):
    """An automation as the server returns it."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    created: DateTime | None = None
    updated: DateTime | None = None


# --------------------------------------------------------------------------- filters


class AutomationFilterId(ActionBaseModel):
    """Filter by ``Automation.id``."""

    any_: list[UUID] | None = None


class AutomationFilterName(ActionBaseModel):
    """Filter by ``Automation.name`` (exact names)."""

    any_: list[str] | None = None


class AutomationFilterCreated(ActionBaseModel):
    """Filter by ``Automation.created`` (inclusive)."""

    before_: DateTime | None = None


class AutomationFilterTags(ActionBaseModel):
    """Filter by ``Automation.tags``: all of, any of, or none at all."""

    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class AutomationFilter(ActionBaseModel):
    """Only automations matching all of the criteria."""

    id: AutomationFilterId | None = None
    name: AutomationFilterName | None = None
    created: AutomationFilterCreated | None = None
    tags: AutomationFilterTags | None = None
