"""Orchestration: what happens when a state is proposed for a run.

`decide` is pure: given the run, its current state and the proposal, it answers ACCEPT
(the proposal becomes the run's state), REJECT (the run keeps, or is given, another
state: the answer carries it), ABORT (the transition makes no sense; nothing changes)
or WAIT (propose again after ``delay_seconds``). `record` then updates the run's
bookkeeping for the state actually written. Nothing here does I/O.

Rules, in the order they are checked (``force=True`` skips all of them; the
bookkeeping always applies):

1. **Duplicate transitions** (flow and task runs): a proposal whose
   ``state_details.transition_id`` equals the current state's is a retried request
   that already succeeded: REJECT with the current state, "This run has already made
   this state transition." (Prefect applies this to flow runs only.)
2. **Terminal states are final**: a run in COMPLETED, FAILED, CANCELLED or CRASHED
   does not leave it. Proposing CANCELLING, PAUSED or CRASHED is ABORTed ("Run is
   already in terminal state X.", as Prefect); anything else is REJECTed with the
   current state. This is stricter than Prefect 3, which lets runs leave terminal
   states unless a persisted result would be lost; here only ``force=True`` does.
3. **Flow runs**:
   - CANCELLING a SCHEDULED run with no infrastructure: REJECT with CANCELLED
     ("Scheduled flow run has no infrastructure to terminate.").
   - PENDING from PENDING, RUNNING, CANCELLING or CANCELLED is ABORTed: "This run is
     in a RUNNING state and cannot transition to a PENDING state." (a second worker
     must not submit the run again). A PENDING sub-state with a new name
     (Pending -> Submitting) is allowed.
   - PAUSED only from RUNNING (else REJECT, "Cannot pause flows that are not
     currently running."); a ``pause_key`` that already fired is REJECTed; a
     rescheduling pause needs a deployment (else ABORT).
   - Leaving PAUSED: only to RUNNING, SCHEDULED, CANCELLING or a terminal state; after
     ``pause_timeout`` the run is REJECTed into FAILED ("The flow run pause has timed
     out and can no longer resume.").
   - RUNNING -> FAILED with retries left (``empirical_policy.retries`` >=
     ``run_count``): REJECT with SCHEDULED "AwaitingRetry" at now + ``retry_delay``.
4. **Task runs**:
   - RUNNING needs the task's flow run to be RUNNING: ABORT "The enclosing flow must
     be running to begin task execution."; a PAUSED flow run REJECTs the task into
     PAUSED "NotReady".
   - RUNNING -> FAILED with retries left (and ``retriable`` not false): REJECT with
     "AwaitingRetry" after ``retry_delay`` (a list gives one delay per attempt; jitter
     is not applied). Entering RUNNING again is renamed "Retrying" (from AwaitingRetry)
     or "Rerunning".
5. **Both**: SCHEDULED -> PENDING keeps the scheduled time; RUNNING proposed before
   the scheduled time of a SCHEDULED/PENDING run is answered WAIT with the whole
   seconds left ("Scheduled time is in the future").

Bookkeeping (`record`), as Prefect's global policy: ``state_type``, ``state_name``,
``state_id`` and ``state`` follow the new state; entering RUNNING increments
``run_count`` (not when resuming from PAUSED) and sets ``start_time`` the first time;
entering a terminal state sets ``end_time`` (leaving one with ``force`` clears it);
leaving RUNNING adds the time spent to ``total_run_time``; SCHEDULED sets
``next_scheduled_start_time`` (cleared on leaving) and, on a run that has none,
``expected_start_time`` (otherwise the first state's time); a task's
``flow_run_run_count`` copies its flow run's ``run_count`` when it starts running.
State timestamps are the server's clock, kept strictly increasing per run. A subflow's
new states are copied (forced) onto the task run that stands for it, as in Prefect.
The HTTP answer is 201 when a state was written (ACCEPT, or a REJECT that gives the run
a new state) and 200 otherwise.

Concurrency rules (tag and deployment limits) are not enforced, so WAIT comes only
from scheduled times; global concurrency limits are enforced by their leases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import uuid4

from prefect_trio_client.schemas.objects import TERMINAL_STATES, State, StateDetails, StateType
from prefect_trio_client.schemas.responses import SetStateStatus
from prefect_trio_client.server._db import Doc
from prefect_trio_client.server._docs import state_doc
from prefect_trio_client.server._time import parse_iso

__all__ = ["Decision", "RunKind", "Transition", "decide", "estimates", "record", "stamp_after"]

RunKind = Literal["flow_run", "task_run"]


@dataclass(frozen=True)
class Transition:
    """A proposal to judge: the run, its current state, the proposed state.

    ``proposed`` already carries the server's id and timestamp. ``flow_run`` is the
    task run's flow run document (None for flow runs and for tasks outside a flow).
    """

    kind: RunKind
    run: Mapping[str, Any]
    initial: State | None
    proposed: State
    now: datetime
    force: bool = False
    flow_run: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Decision:
    """What to answer, and what (if anything) to write.

    ``state`` is the state to record (the proposal, possibly renamed, or a replacement
    for a REJECT); None records nothing and the answer carries the current state.
    ``policy`` holds changes to the run's ``empirical_policy`` made with the new state.
    """

    status: SetStateStatus
    state: State | None = None
    reason: str | None = None
    delay_seconds: int = 0
    policy: Mapping[str, Any] = field(default_factory=dict)


def _accept(state: State, **policy: Any) -> Decision:
    return Decision(SetStateStatus.ACCEPT, state, policy=policy)


def _reject(reason: str, state: State | None = None, **policy: Any) -> Decision:
    return Decision(SetStateStatus.REJECT, state, reason, policy=policy)


def _abort(reason: str) -> Decision:
    return Decision(SetStateStatus.ABORT, None, reason)


def _replacement(t: Transition, type: StateType, name: str, **details: Any) -> State:
    """A state the server writes instead of the proposal (same id and timestamp)."""
    proposed = t.proposed
    return State(
        id=proposed.id,
        type=type,
        name=name,
        timestamp=proposed.timestamp,
        message=proposed.message,
        data=proposed.data,
        state_details=_details(proposed.state_details, **details),
    )


def decide(t: Transition) -> Decision:
    """Judge a proposal (see the module docstring for the rules, in order)."""
    initial, proposed = t.initial, t.proposed
    if t.force:
        return _accept(proposed)
    if initial is None:
        if t.kind == "flow_run" and proposed.is_paused():
            return _abort("Cannot pause flows with no state.")
        return _accept(proposed)
    transition_id = proposed.state_details.transition_id
    if transition_id is not None and transition_id == initial.state_details.transition_id:
        return _reject("This run has already made this state transition.")
    if initial.type in TERMINAL_STATES:
        return _leave_terminal(t, initial)
    if t.kind == "flow_run":
        return _flow_rules(t, initial)
    return _task_rules(t, initial)


def _leave_terminal(t: Transition, initial: State) -> Decision:
    kind = initial.type.value
    if t.proposed.type in (StateType.CANCELLING, StateType.PAUSED, StateType.CRASHED):
        if t.kind == "flow_run":
            return _abort(f"Run is already in terminal state {kind}.")
        return _abort(f"Run is already {kind}.")
    return _reject(
        f"This run is already {kind}: a run leaves a terminal state only when the new"
        " state is proposed with force=True."
    )


def _flow_rules(t: Transition, initial: State) -> Decision:
    proposed = t.proposed
    if proposed.is_cancelling() and initial.is_scheduled() and not t.run.get("infrastructure_pid"):
        cancelled = _replacement(t, StateType.CANCELLED, "Cancelled")
        return _reject("Scheduled flow run has no infrastructure to terminate.", cancelled)
    if proposed.is_pending() and initial.type in (
        StateType.PENDING,
        StateType.RUNNING,
        StateType.CANCELLING,
        StateType.CANCELLED,
    ):
        renamed_sub_state = initial.is_pending() and proposed.name not in (initial.name, "Pending")
        if not renamed_sub_state:
            return _abort(
                f"This run is in a {initial.type.value} state and cannot transition to a"
                " PENDING state."
            )
        proposed = _with_details(proposed, scheduled_time=initial.state_details.scheduled_time)
    policy: dict[str, Any] = {}
    if proposed.is_paused():
        verdict = _pause(t, initial, proposed)
        if isinstance(verdict, Decision):
            return verdict
        policy.update(verdict)
    if initial.is_paused():
        refusal = _resume(t, initial, proposed)
        if refusal is not None:
            return refusal
    proposed = _copy_scheduled_time(initial, proposed)
    wait = _wait_for_scheduled_time(t, initial, proposed)
    if wait is not None:
        return wait
    if initial.is_running() and proposed.is_failed():
        retries = t.run.get("empirical_policy", {}).get("retries")
        if retries is not None and int(t.run.get("run_count", 0)) <= retries:
            delay = t.run.get("empirical_policy", {}).get("retry_delay") or 0
            retry = _awaiting_retry(t, float(delay))
            return _reject(
                "Retrying", retry, retry_type="in_process", resuming=False, pause_keys=[]
            )
        policy["retry_type"] = None
    return _accept(proposed, **policy)


def _pause(t: Transition, initial: State, proposed: State) -> Decision | dict[str, Any]:
    verb = "suspend" if proposed.name == "Suspended" else "pause"
    if not initial.is_running():
        return _reject(f"Cannot {verb} flows that are not currently running.")
    key = proposed.state_details.pause_key or str(uuid4())
    fired = t.run.get("empirical_policy", {}).get("pause_keys") or []
    if key in fired:
        return _reject(f"This {verb} has already fired.")
    if proposed.state_details.pause_reschedule:
        if t.run.get("parent_task_run_id"):
            return _abort(f"Cannot {verb} subflows.")
        if t.run.get("deployment_id") is None:
            return _abort(f"Cannot {verb} flows without a deployment.")
    return {"pause_keys": sorted({*fired, key})}


def _resume(t: Transition, initial: State, proposed: State) -> Decision | None:
    allowed = proposed.type in (
        StateType.RUNNING,
        StateType.SCHEDULED,
        StateType.CANCELLING,
        *TERMINAL_STATES,
    )
    if not allowed:
        return _reject(
            f"This run cannot transition to the {proposed.type.value} state from the"
            f" {initial.type.value} state."
        )
    verb = "suspend" if proposed.name == "Suspended" else "pause"
    shown = (proposed.name or proposed.type.value).lower()
    if initial.state_details.pause_reschedule and t.run.get("deployment_id") is None:
        return _reject(f"Cannot reschedule a {shown} flow run without a deployment.")
    if proposed.is_cancelling():
        return None
    timeout = initial.state_details.pause_timeout
    if timeout is not None and timeout < t.now:
        failed = _replacement(t, StateType.FAILED, "Failed")
        failed = failed.model_copy(update={"message": f"The flow was {shown} and never resumed."})
        return _reject(f"The flow run {verb} has timed out and can no longer resume.", failed)
    return None


def _task_rules(t: Transition, initial: State) -> Decision:
    proposed = t.proposed
    if proposed.is_running() and t.flow_run is not None:
        flow_state = t.flow_run.get("state")
        flow_type = None if flow_state is None else flow_state.get("type")
        if flow_type == StateType.PAUSED.value:
            assert flow_state is not None
            details = flow_state.get("state_details") or {}
            paused = _replacement(
                t,
                StateType.PAUSED,
                "NotReady",
                pause_timeout=details.get("pause_timeout"),
                pause_reschedule=bool(details.get("pause_reschedule")),
            )
            reason = (
                "The flow is paused, new tasks can execute after resuming flow run:"
                f" {t.flow_run['id']}."
            )
            return _reject(reason, paused)
        if flow_type != StateType.RUNNING.value:
            return _abort("The enclosing flow must be running to begin task execution.")
    proposed = _copy_scheduled_time(initial, proposed)
    wait = _wait_for_scheduled_time(t, initial, proposed)
    if wait is not None:
        return wait
    if initial.is_running() and proposed.is_failed():
        policy = t.run.get("empirical_policy", {})
        retries = policy.get("retries")
        run_count = int(t.run.get("run_count", 0))
        retriable = proposed.state_details.retriable is not False
        if retriable and retries is not None and run_count <= retries:
            delay = policy.get("retry_delay") or 0
            if isinstance(delay, list):
                delay = delay[min(max(run_count - 1, 0), len(delay) - 1)] if delay else 0
            return _reject("Retrying", _awaiting_retry(t, float(delay)))
    if proposed.is_running() and int(t.run.get("run_count", 0)) > 0:
        name = "Retrying" if initial.name == "AwaitingRetry" else "Rerunning"
        proposed = proposed.model_copy(update={"name": name})
    return _accept(proposed)


def _details(details: StateDetails, **changes: Any) -> StateDetails:
    """`details` with `changes`, validated (changes may be stored JSON text)."""
    return StateDetails.model_validate({**details.model_dump(exclude_unset=True), **changes})


def _with_details(state: State, **details: Any) -> State:
    return state.model_copy(update={"state_details": _details(state.state_details, **details)})


def _copy_scheduled_time(initial: State, proposed: State) -> State:
    if (
        initial.is_scheduled()
        and proposed.is_pending()
        and proposed.state_details.scheduled_time is None
    ):
        return _with_details(proposed, scheduled_time=initial.state_details.scheduled_time)
    return proposed


def _wait_for_scheduled_time(t: Transition, initial: State, proposed: State) -> Decision | None:
    if not proposed.is_running() or initial.type not in (StateType.SCHEDULED, StateType.PENDING):
        return None
    scheduled = initial.state_details.scheduled_time
    if scheduled is None:
        return None
    delay = scheduled - t.now
    seconds = math.floor(delay.total_seconds()) + round(delay.microseconds / 1e6)
    if seconds <= 0:
        return None
    return Decision(
        SetStateStatus.WAIT, None, "Scheduled time is in the future", delay_seconds=seconds
    )


def _awaiting_retry(t: Transition, delay: float) -> State:
    when = t.now + timedelta(seconds=delay)
    return _replacement(t, StateType.SCHEDULED, "AwaitingRetry", scheduled_time=when)


# --------------------------------------------------------------------------- bookkeeping


def record(
    run: Doc,
    kind: RunKind,
    initial: State | None,
    state: State,
    *,
    policy: Mapping[str, Any] | None = None,
    flow_run: Mapping[str, Any] | None = None,
) -> Doc:
    """Make `state` the run's state and update the run's times and counters in place.

    Returns the state's document (as stored in the run and in its history).
    """
    doc = state_doc(state)
    stamp = doc["timestamp"]
    run["state"] = doc
    run["state_id"] = doc["id"]
    run["state_type"] = doc["type"]
    run["state_name"] = doc["name"]
    run["updated"] = stamp
    empirical = dict(run.get("empirical_policy") or {})
    empirical.update(policy or {})
    resuming = bool(empirical.get("resuming")) or (initial is not None and initial.is_paused())
    if state.is_running():
        if kind == "task_run" or not resuming:
            run["run_count"] = int(run.get("run_count", 0)) + 1
        if run.get("start_time") is None:
            run["start_time"] = stamp
        if kind == "task_run" and flow_run is not None:
            run["flow_run_run_count"] = int(flow_run.get("run_count", 0))
    if kind == "flow_run":
        if state.is_running() or state.is_final():
            empirical["resuming"] = False
        elif initial is not None and initial.is_paused():
            empirical["resuming"] = True
    run["empirical_policy"] = empirical
    if initial is not None and initial.is_final() and not state.is_final():
        run["end_time"] = None
    if state.is_final() and run.get("end_time") is None:
        if run.get("start_time") is None:
            run["start_time"] = stamp
        run["end_time"] = stamp
    if initial is not None and initial.is_running():
        spent = (state.timestamp - initial.timestamp).total_seconds()
        run["total_run_time"] = float(run.get("total_run_time") or 0.0) + max(spent, 0.0)
    scheduled_time = doc["state_details"].get("scheduled_time")
    if run.get("expected_start_time") is None:
        run["expected_start_time"] = scheduled_time if state.is_scheduled() else stamp
    if initial is not None and initial.is_scheduled():
        run["next_scheduled_start_time"] = None
    if state.is_scheduled():
        run["next_scheduled_start_time"] = scheduled_time
    return doc


_RUNNING = StateType.RUNNING.value
_NOT_STARTED = frozenset({StateType.SCHEDULED.value, StateType.PENDING.value})
"""Enum values looked up once: `estimates` runs for every run of a listing's page."""


def estimates(run: Mapping[str, Any], now: datetime) -> dict[str, float]:
    """Prefect's computed run fields: run time so far and lateness of the start, in seconds."""
    run_time = float(run.get("total_run_time") or 0.0)
    state_type = run.get("state_type")
    if state_type == _RUNNING and (timestamp := (run.get("state") or {}).get("timestamp")):
        run_time += max((now - parse_iso(timestamp)).total_seconds(), 0.0)
    expected = run.get("expected_start_time")
    start = run.get("start_time")
    delta = 0.0
    if expected is not None:
        if start is not None:
            delta = max((parse_iso(start) - parse_iso(expected)).total_seconds(), 0.0)
        elif state_type in _NOT_STARTED:
            delta = max((now - parse_iso(expected)).total_seconds(), 0.0)
    return {"estimated_run_time": run_time, "estimated_start_time_delta": delta}


def stamp_after(previous: State | None, now: datetime) -> datetime:
    """A state timestamp: now, but strictly after the previous state's (clocks tick coarsely)."""
    if previous is not None and previous.timestamp >= now:
        return previous.timestamp + timedelta(microseconds=1)
    return now
