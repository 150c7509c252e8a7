"""Response models beyond plain objects: above all the result of proposing a state.

``OrchestrationResult.details`` is a union told apart by its ``type`` field
(``accept_details``, ``reject_details``, ``abort_details``, ``wait_details``). The
lease, worker and deployment responses live in ``objects`` and are re-exported here
under the names Prefect's ``prefect.client.schemas.responses`` uses.
"""

import enum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BeforeValidator, Field

from prefect_trio_client.schemas.objects import (
    ConcurrencyLimitWithLeaseResponse,
    DateTime,
    Deployment,
    GlobalConcurrencyLimit,
    MinimalConcurrencyLimitResponse,
    PrefectBaseModel,
    Seconds,
    State,
    WorkerFlowRunResponse,
    _Lenient,
    _OpenStateType,
)

__all__ = [
    "ConcurrencyLimitWithLeaseResponse",
    "DeploymentResponse",
    "FlowRunSlotSummary",
    "GlobalConcurrencyLimitResponse",
    "MinimalConcurrencyLimitResponse",
    "OrchestrationResult",
    "SetStateStatus",
    "StateAbortDetails",
    "StateAcceptDetails",
    "StateRejectDetails",
    "StateResponseDetails",
    "StateWaitDetails",
    "WorkPoolConcurrencyStatus",
    "WorkQueueConcurrencyStatus",
    "WorkQueueConcurrencyStatusDetail",
    "WorkerFlowRunResponse",
]

DeploymentResponse = Deployment
"""Prefect's name for a deployment read from the API."""

GlobalConcurrencyLimitResponse = GlobalConcurrencyLimit
"""Prefect's name for a global concurrency limit read from the API."""


class SetStateStatus(str, enum.Enum):
    """What the server did with a proposed state."""

    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    ABORT = "ABORT"
    WAIT = "WAIT"


# A status a newer server added is kept, not an error (see ``objects``' docstring).
_OpenSetStateStatus = Annotated[SetStateStatus, _Lenient()]


class StateAcceptDetails(PrefectBaseModel):
    """The proposed state (or the server's amendment of it) is now the run's state."""

    type: Literal["accept_details"] = "accept_details"


class StateRejectDetails(PrefectBaseModel):
    """The server kept another state, returned in ``OrchestrationResult.state``."""

    type: Literal["reject_details"] = "reject_details"
    reason: str | None = None


class StateAbortDetails(PrefectBaseModel):
    """The transition makes no sense (for example RUNNING -> PENDING); do not retry it."""

    type: Literal["abort_details"] = "abort_details"
    reason: str | None = None


class StateWaitDetails(PrefectBaseModel):
    """Propose again after ``delay_seconds`` (for example while a slot is taken)."""

    type: Literal["wait_details"] = "wait_details"
    delay_seconds: int
    reason: str | None = None


StateResponseDetails = Annotated[
    StateAcceptDetails | StateWaitDetails | StateRejectDetails | StateAbortDetails,
    Field(discriminator="type"),
]
"""The details of an orchestration result, told apart by ``type``."""


class OrchestrationResult(PrefectBaseModel):
    """The answer to ``set_state`` and ``resume``: the status, why, and the run's state.

    ``state`` is the run's state after the call; it is ``None`` when nothing was
    recorded (an ABORT of a resume, for instance).
    """

    state: State | None = None
    status: _OpenSetStateStatus
    details: StateResponseDetails


# --------------------------------------------------------------------------- issue 11: queues-misc


def _zero_if_null(value: int | None) -> int:
    """Prefect Cloud may send ``active_slots: null``; it means no slot is taken."""
    return 0 if value is None else value


_ActiveSlots = Annotated[int, BeforeValidator(_zero_if_null)]


class FlowRunSlotSummary(PrefectBaseModel):
    """A flow run that holds a concurrency slot of a queue or pool."""

    id: UUID
    name: str
    state_type: _OpenStateType | None = None
    state_name: str | None = None
    start_time: DateTime | None = None
    state_timestamp: DateTime | None = None
    time_in_current_state: Seconds | None = None


class WorkQueueConcurrencyStatusDetail(PrefectBaseModel):
    """One queue of `WorkPoolConcurrencyStatus`, with (some of) its slot holders."""

    queue_id: UUID
    queue_name: str
    active_slots: _ActiveSlots
    concurrency_limit: int | None = None
    flow_runs: list[FlowRunSlotSummary] = Field(default_factory=list)
    flow_run_count: int | None = None


class _ConcurrencyStatusPage(PrefectBaseModel):
    """What both concurrency status answers have: slots in use, and a page (from 1)."""

    active_slots: _ActiveSlots
    concurrency_limit: int | None = None
    count: int
    limit: int
    pages: int
    page: int


class WorkPoolConcurrencyStatus(_ConcurrencyStatusPage):
    """A page of a pool's queues with their slot holders."""

    queues: list[WorkQueueConcurrencyStatusDetail] = Field(default_factory=list)


class WorkQueueConcurrencyStatus(_ConcurrencyStatusPage):
    """A page of the flow runs holding a queue's slots."""

    flow_runs: list[FlowRunSlotSummary] = Field(default_factory=list)
