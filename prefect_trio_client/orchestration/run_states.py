"""Proposing states to the orchestrator: one proposal, and the engine's WAIT loop.

Every proposal carries a fresh ``transition_id``, so a proposal the server has already
seen (a retried POST whose first answer was lost) is recognised and not applied twice.
Prefect checks it for flow runs only, and not with ``force`` (its forced policy skips the
rule), so only an unforced flow-run proposal is declared safe to re-send.

Any other proposal (a task run's, a forced one) whose outcome is unknown (its answer was
lost, or was a 500, 502 or 504) is not re-sent blindly: the run is read back, and the
server stores the proposal's ``transition_id`` with the state, so a run whose state
carries it has taken the proposal (the answer is ACCEPT); otherwise it is proposed again.
"""

from __future__ import annotations

import math
from typing import Literal
from uuid import UUID, uuid4

from pydantic_core import to_json

from prefect_trio_client.exceptions import Abort, StateWaitTimeout
from prefect_trio_client.orchestration._plan import Plan, Request, Sleep
from prefect_trio_client.orchestration._read_back import send_or_read_back
from prefect_trio_client.orchestration._wire import parse, url_path
from prefect_trio_client.schemas.actions import state_proposal
from prefect_trio_client.schemas.objects import FlowRun, State, TaskRun
from prefect_trio_client.schemas.responses import (
    OrchestrationResult,
    SetStateStatus,
    StateAbortDetails,
    StateAcceptDetails,
    StateRejectDetails,
    StateWaitDetails,
)

__all__ = ["WAIT_FLOOR", "propose_state", "set_flow_run_state", "set_task_run_state"]

RunCollection = Literal["flow_runs", "task_runs"]

#: The least time slept on a WAIT answer, whatever delay it gives (0, negative, NaN).
WAIT_FLOOR = 0.1


def _set_state(
    kind: RunCollection, run_id: UUID, state: State, force: bool
) -> Plan[OrchestrationResult]:
    run_field = "flow_run_id" if kind == "flow_runs" else "task_run_id"
    transition_id = uuid4()
    proposal = state_proposal(state, {"transition_id": transition_id, run_field: run_id})
    request = Request(
        "POST",
        url_path(kind, run_id, "set_state"),
        content=to_json({"state": proposal, "force": force}),  # the models' own serializers
        idempotent=kind == "flow_runs" and not force,
    )

    taken: list[State] = []

    def carried() -> Plan[bool]:
        recorded = yield from _recorded_state(kind, run_id)
        if recorded is None or recorded.state_details.transition_id != transition_id:
            return False
        taken.append(recorded)
        return True

    response = yield from send_or_read_back(request, carried)
    if response is None:  # the server took the proposal: the run's state carries its id
        return OrchestrationResult(
            state=taken[-1], status=SetStateStatus.ACCEPT, details=StateAcceptDetails()
        )
    return parse(OrchestrationResult, response)


def _recorded_state(kind: RunCollection, run_id: UUID) -> Plan[State | None]:
    """The run's current state, as the server stored it."""
    response = yield Request("GET", url_path(kind, run_id))
    if kind == "flow_runs":
        return parse(FlowRun, response).state
    return parse(TaskRun, response).state


def set_flow_run_state(
    flow_run_id: UUID, state: State, force: bool = False
) -> Plan[OrchestrationResult]:
    """Propose `state` for a flow run once; the result says ACCEPT, REJECT, ABORT or WAIT."""
    return (yield from _set_state("flow_runs", flow_run_id, state, force))


def set_task_run_state(
    task_run_id: UUID, state: State, force: bool = False
) -> Plan[OrchestrationResult]:
    """Propose `state` for a task run once; the result says ACCEPT, REJECT, ABORT or WAIT."""
    return (yield from _set_state("task_runs", task_run_id, state, force))


def propose_state(
    state: State,
    *,
    flow_run_id: UUID | None = None,
    task_run_id: UUID | None = None,
    force: bool = False,
    max_wait: float = 300.0,
) -> Plan[State]:
    """Propose `state` until the orchestrator decides, as a run engine does.

    ACCEPT returns the state the server recorded; REJECT returns the server's state
    instead (the run stays where the server says it is); WAIT sleeps the given delay (a
    cancellable sleep, at least `WAIT_FLOOR` seconds, so the waits always add up to
    `max_wait` in a bounded number of proposals) and proposes again; ABORT raises `Abort`.

    Args:
        state: The proposed state.
        flow_run_id: The flow run (give exactly one of the two ids).
        task_run_id: The task run.
        force: Ask the server to skip its orchestration rules.
        max_wait: The most time spent waiting on WAIT answers, in seconds.

    Raises:
        Abort: The server aborted the transition.
        StateWaitTimeout: The WAITs would add up to more than `max_wait`.
        ValueError: Not exactly one run id was given.
    """
    if (flow_run_id is None) == (task_run_id is None):
        raise ValueError("propose_state needs exactly one of flow_run_id and task_run_id")
    kind: RunCollection = "flow_runs" if flow_run_id is not None else "task_runs"
    run_id = flow_run_id if flow_run_id is not None else task_run_id
    assert run_id is not None
    waited = 0.0
    while True:
        result = yield from _set_state(kind, run_id, state, force)
        details = result.details
        if result.status is SetStateStatus.ABORT:
            reason = details.reason if isinstance(details, StateAbortDetails) else None
            raise Abort(reason or "the orchestrator aborted the state transition")
        if result.status is SetStateStatus.WAIT:
            delay = float(details.delay_seconds) if isinstance(details, StateWaitDetails) else 1.0
            if not math.isfinite(delay) or delay < WAIT_FLOOR:
                delay = WAIT_FLOOR  # "wait 0 s" must not become a flood of proposals
            if waited + delay > max_wait:
                raise StateWaitTimeout(
                    f"the orchestrator asked to wait {delay:g}s more for a {state.type.value} "
                    f"state after {waited:g}s of waiting; max_wait is {max_wait:g}s"
                )
            waited += delay
            yield Sleep(delay)
            continue
        if result.state is None:
            reason = details.reason if isinstance(details, StateRejectDetails) else None
            raise Abort(reason or f"the server answered {result.status.value} without a state")
        return result.state
