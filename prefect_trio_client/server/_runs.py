"""Flow and task runs in the store: creation, state changes and their history.

Shared by the flow run, task run and deployment routes. Every function runs inside one
transaction (``Tx``), so a run, its first state and its history row are written
together or not at all. The rules live in ``_orchestration``; this module feeds them the
stored documents and writes back what they decide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prefect_trio_client.schemas.actions import FlowRunCreate, StateCreate, TaskRunCreate
from prefect_trio_client.schemas.objects import State, StateType
from prefect_trio_client.schemas.responses import SetStateStatus
from prefect_trio_client.server._db import Doc, Tx, dumps, loads
from prefect_trio_client.server._docs import (
    TASK_RUN_BOOKKEEPING,
    TASK_RUN_POLICY_DEFAULTS,
    dense,
    state_of,
)
from prefect_trio_client.server._errors import INTEGRITY_DETAIL, ApiError, not_found
from prefect_trio_client.server._events import record_state_change
from prefect_trio_client.server._http import Reply
from prefect_trio_client.server._ids import new_id, run_name
from prefect_trio_client.server._orchestration import (
    Decision,
    RunKind,
    Transition,
    decide,
    estimates,
    record,
    stamp_after,
)
from prefect_trio_client.server._pools import pool_by_name, queue_in_pool
from prefect_trio_client.server._queries import Row, StoredJson
from prefect_trio_client.server._tables import (
    DEPLOYMENTS,
    FLOW_RUN_INPUTS,
    FLOW_RUN_STATES,
    FLOW_RUNS,
    FLOWS,
    TASK_RUN_STATES,
    TASK_RUNS,
    WORK_POOLS,
    WORK_QUEUES,
    Table,
)
from prefect_trio_client.server._time import iso

__all__ = [
    "FLOW_RUN_NOT_FOUND",
    "PRESENT_STORED_RUN",
    "TASK_RUN_NOT_FOUND",
    "create_flow_run",
    "create_task_run",
    "delete_flow_run",
    "delete_task_run",
    "present_run",
    "read_states",
    "require_flow",
    "resume_flow_run",
    "set_state",
]

FLOW_RUN_NOT_FOUND = "Flow run not found"
TASK_RUN_NOT_FOUND = "Task not found"
"""Prefect's text for an unknown task run on GET and DELETE (sic)."""

_TABLES: dict[RunKind, tuple[Table, Table, str]] = {
    "flow_run": (FLOW_RUNS, FLOW_RUN_STATES, FLOW_RUN_NOT_FOUND),
    "task_run": (TASK_RUNS, TASK_RUN_STATES, "Task run not found"),
}


def present_run(tx: Tx, run: Doc) -> Doc:
    """A run as the API returns it: the stored document plus the computed estimates."""
    return {**run, **estimates(run, tx.now)}


_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_TOTAL = ',"total_run_time":'
_ESTIMATED = ',"estimated_run_time":'
_STORED_TIMES = re.compile(
    f"{_TOTAL}(?P<total>{_NUMBER}){_ESTIMATED}{_NUMBER}"
    f',"estimated_start_time_delta":{_NUMBER}(?=[,}}])'
)
"""Where a stored run's text holds the times `estimates` replaces: every run is created with
these three keys in this order (`create_flow_run`, `create_task_run`), and updates keep it."""


def _present_stored_run(tx: Tx, row: Row) -> str:
    """`present_run` on a run's stored JSON text, as the same bytes ``dumps`` would give,
    without decoding it: the estimates replace the stored ones where they stand.

    The key ``,"estimated_run_time":`` can only appear in the text as an object's key (a
    quote inside a string is escaped), so when it appears once it is the run's own; any
    other text (the key also in some nested object, another order) is decoded instead.
    """
    text, state_type, expected, start, running_since = row
    found = None
    at = text.find(_ESTIMATED)
    if at >= 0 and text.find(_ESTIMATED, at + 1) < 0:
        # A match holds the one estimate, so it starts at the last total before it:
        # matched there, not searched for through the whole text.
        begin = text.rfind(_TOTAL, 0, at)
        found = _STORED_TIMES.match(text, begin) if begin >= 0 else None
    if found is None:
        return dumps(present_run(tx, loads(text)))
    total = found["total"]
    times = {
        "total_run_time": float(total),
        "state_type": state_type,
        "expected_start_time": expected,
        "start_time": start,
        "state": {"timestamp": running_since},
    }
    computed = estimates(times, tx.now)
    return (
        f'{text[: found.start()]},"total_run_time":{total}'
        f"{_ESTIMATED}{float.__repr__(computed['estimated_run_time'])}"
        f',"estimated_start_time_delta":{float.__repr__(computed["estimated_start_time_delta"])}'
        f"{text[found.end() :]}"
    )


PRESENT_STORED_RUN = StoredJson(
    (
        "state_type",
        "expected_start_time",
        "start_time",
        "CASE WHEN state_type = 'RUNNING' THEN json_extract(doc, '$.state.timestamp') END",
    ),
    _present_stored_run,
)
"""`present_run` for listings of flow or task runs, from the stored text (see ``_listing``)."""


def _mint(
    tx: Tx,
    proposal: StateCreate,
    previous: State | None,
    *,
    flow_run_id: str | None,
    task_run_id: str | None = None,
) -> State:
    """The server's State for a proposal: a new id, the server's time, the run ids."""
    details = proposal.state_details.model_dump(exclude_unset=True)
    details["flow_run_id"] = flow_run_id
    if task_run_id is not None:
        details["task_run_id"] = task_run_id
    if proposal.type is StateType.SCHEDULED and details.get("scheduled_time") is None:
        details["scheduled_time"] = tx.now
    return State.model_validate(
        {
            "id": new_id(),
            "type": proposal.type,
            "name": proposal.name,
            "message": proposal.message,
            "data": proposal.data,
            "timestamp": stamp_after(previous, tx.now),
            "state_details": details,
        }
    )


def _write_state(
    tx: Tx,
    kind: RunKind,
    run: Doc,
    initial: State | None,
    state: State,
    *,
    policy: Mapping[str, Any] | None = None,
    flow_run: Mapping[str, Any] | None = None,
    new: bool = False,
) -> Doc:
    table, history, _ = _TABLES[kind]
    doc = record(run, kind, initial, state, policy=policy, flow_run=flow_run)
    if new:
        tx.insert(table, run)
    else:
        tx.update(table, run)
    tx.insert(history, doc, run_id=run["id"])
    record_state_change(tx, kind, run, initial, state)  # issue 11: events, same transaction
    if kind == "flow_run" and run.get("parent_task_run_id"):
        _mirror_to_parent_task(tx, run, state)
    return doc


def _mirror_to_parent_task(tx: Tx, flow_run: Doc, state: State) -> None:
    """A subflow's state is copied to the task run that stands for it (as Prefect does)."""
    parent = tx.get(TASK_RUNS, flow_run["parent_task_run_id"])
    if parent is None:
        return
    initial = state_of(parent.get("state"))
    details = state.state_details.model_dump(exclude_unset=True)
    details.update(
        child_flow_run_id=flow_run["id"],
        flow_run_id=parent.get("flow_run_id"),
        task_run_id=parent["id"],
        transition_id=None,
    )
    mirrored = State.model_validate(
        {
            "id": new_id(),
            "type": state.type,
            "name": state.name,
            "message": state.message,
            "data": state.data,
            "timestamp": stamp_after(initial, state.timestamp),
            "state_details": details,
        }
    )
    _write_state(tx, "task_run", parent, initial, mirrored)


def _details(decision: Decision) -> Doc:
    if decision.status is SetStateStatus.ACCEPT:
        return {"type": "accept_details"}
    if decision.status is SetStateStatus.WAIT:
        return {
            "type": "wait_details",
            "delay_seconds": decision.delay_seconds,
            "reason": decision.reason,
        }
    kind = "reject_details" if decision.status is SetStateStatus.REJECT else "abort_details"
    return {"type": kind, "reason": decision.reason}


def set_state(
    tx: Tx, kind: RunKind, run_id: str, proposal: StateCreate, *, force: bool = False
) -> Reply:
    """Propose a state for a run: Prefect's ``OrchestrationResult``, 201 when a state
    was written and 200 when the run kept its state."""
    table, _, missing = _TABLES[kind]
    run = tx.get(table, run_id)
    if run is None:
        raise not_found(missing)
    flow_run: Doc | None = None
    if kind == "task_run" and run.get("flow_run_id"):
        flow_run = tx.get(FLOW_RUNS, run["flow_run_id"])
    initial = state_of(run.get("state"))
    proposed = _mint(
        tx,
        proposal,
        initial,
        flow_run_id=run["id"] if kind == "flow_run" else run.get("flow_run_id"),
        task_run_id=run["id"] if kind == "task_run" else None,
    )
    decision = decide(
        Transition(kind, run, initial, proposed, tx.now, force=force, flow_run=flow_run)
    )
    return _answer(tx, kind, run, initial, decision, flow_run)


def _answer(
    tx: Tx,
    kind: RunKind,
    run: Doc,
    initial: State | None,
    decision: Decision,
    flow_run: Doc | None = None,
) -> Reply:
    if decision.state is None:
        content = {"state": run.get("state"), "status": decision.status.value}
        return Reply(200, {**content, "details": _details(decision)})
    doc = _write_state(
        tx, kind, run, initial, decision.state, policy=decision.policy, flow_run=flow_run
    )
    content = {"state": doc, "status": decision.status.value, "details": _details(decision)}
    return Reply(201, content)


def resume_flow_run(tx: Tx, run_id: str) -> Reply:
    """Resume a PAUSED flow run: RUNNING, or SCHEDULED "Resuming" for a pause that
    reschedules; ABORT with state null when the run is not paused (Prefect's answer)."""
    run = tx.get(FLOW_RUNS, run_id)
    if run is None:
        raise not_found(FLOW_RUN_NOT_FOUND)
    initial = state_of(run.get("state"))
    if initial is None or not initial.is_paused():
        return Reply(
            200,
            {
                "state": None,
                "status": SetStateStatus.ABORT.value,
                "details": {
                    "type": "abort_details",
                    "reason": "Cannot resume a flow run that is not paused.",
                },
            },
        )
    if initial.state_details.pause_reschedule:
        proposal = StateCreate(type=StateType.SCHEDULED, name="Resuming")
    else:
        proposal = StateCreate(type=StateType.RUNNING)
    proposed = _mint(tx, proposal, initial, flow_run_id=run_id)
    decision = decide(Transition("flow_run", run, initial, proposed, tx.now))
    return _answer(tx, "flow_run", run, initial, decision)


def read_states(tx: Tx, kind: RunKind, run_id: str) -> list[Doc]:
    """A run's states, oldest first by timestamp, as Prefect orders them (task-run events
    may arrive out of order); an unknown run has none, as in Prefect."""
    _, history, _ = _TABLES[kind]
    return sorted(tx.find(history, run_id=run_id), key=lambda state: state["timestamp"])


# --------------------------------------------------------------------------- creation


def create_flow_run(
    tx: Tx, body: FlowRunCreate, *, deployment: Doc | None = None
) -> tuple[Doc, bool]:
    """A new flow run (PENDING unless the body gives a state), or the existing run of
    the same flow with the same ``idempotency_key``; the flag says whether it is new.

    With a `deployment`, the run inherits its work queue (unless the body names a pool).
    """
    flow = require_flow(tx, str(body.flow_id))
    if body.idempotency_key is not None:
        existing = tx.first(FLOW_RUNS, flow_id=flow["id"], idempotency_key=body.idempotency_key)
        if existing is not None:
            return existing, False
    if deployment is None and body.deployment_id is not None:
        deployment = tx.get(DEPLOYMENTS, str(body.deployment_id))
        if deployment is None:
            raise ApiError(409, INTEGRITY_DETAIL)
    pool: Doc | None = None
    queue: Doc | None = None
    if body.work_pool_name:
        pool = pool_by_name(tx, body.work_pool_name)
        if body.work_queue_name:
            queue = queue_in_pool(tx, pool, body.work_queue_name)
        else:
            queue = tx.get(WORK_QUEUES, pool["default_queue_id"])
    elif deployment is not None and deployment.get("work_queue_id"):
        queue = tx.get(WORK_QUEUES, deployment["work_queue_id"])
        if queue is not None:
            pool = tx.get(WORK_POOLS, queue["work_pool_id"])
            if pool is not None and body.work_queue_name not in (None, queue["name"]):
                queue = queue_in_pool(tx, pool, str(body.work_queue_name))
    labels: dict[str, Any] = {**(flow.get("labels") or {}), "prefect.flow.id": flow["id"]}
    if deployment is not None:
        labels.update(deployment.get("labels") or {})
        labels["prefect.deployment.id"] = deployment["id"]
    labels.update(body.labels)
    run: Doc = {
        "id": str(new_id()),
        "created": tx.now_iso,
        "updated": tx.now_iso,
        "name": body.name or run_name(),
        "flow_id": flow["id"],
        "state_id": None,
        "deployment_id": None if deployment is None else deployment["id"],
        "deployment_version": None if deployment is None else deployment.get("version"),
        "work_queue_id": None if queue is None else queue["id"],
        "work_queue_name": queue["name"] if queue is not None else body.work_queue_name,
        "flow_version": body.flow_version,
        "parameters": body.parameters,
        "idempotency_key": body.idempotency_key,
        "context": body.context,
        "empirical_policy": dense(body.empirical_policy),
        "tags": list(body.tags),
        "labels": labels,
        "parent_task_run_id": _text(body.parent_task_run_id),
        "state_type": None,
        "state_name": None,
        "run_count": 0,
        "expected_start_time": None,
        "next_scheduled_start_time": None,
        "start_time": None,
        "end_time": None,
        "total_run_time": 0.0,
        "estimated_run_time": 0.0,
        "estimated_start_time_delta": 0.0,
        "auto_scheduled": False,
        "infrastructure_document_id": _text(body.infrastructure_document_id),
        "infrastructure_pid": None,
        "created_by": None,
        "work_pool_id": None if pool is None else pool["id"],
        "work_pool_name": None if pool is None else pool["name"],
        "state": None,
        "job_variables": body.job_variables,
    }
    proposal = body.state or StateCreate(type=StateType.PENDING)
    first = _mint(tx, proposal, None, flow_run_id=run["id"])
    _write_state(tx, "flow_run", run, None, first, new=True)
    return run, True


def delete_flow_run(tx: Tx, run_id: str) -> bool:
    """Delete a flow run with its states and task runs (Prefect's cascade)."""
    if not tx.delete(FLOW_RUNS, run_id):
        return False
    tx.delete_where(FLOW_RUN_STATES, run_id=run_id)
    tx.delete_where(FLOW_RUN_INPUTS, flow_run_id=run_id)
    for task in tx.find(TASK_RUNS, flow_run_id=run_id):
        delete_task_run(tx, task["id"])
    return True


def delete_task_run(tx: Tx, run_id: str) -> bool:
    """Delete a task run with its states."""
    if not tx.delete(TASK_RUNS, run_id):
        return False
    tx.delete_where(TASK_RUN_STATES, run_id=run_id)
    return True


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def create_task_run(tx: Tx, body: TaskRunCreate) -> tuple[Doc, bool]:
    """A new task run, or the existing one with the same flow run, task key and dynamic
    key (or the same id); the flag says whether it is new."""
    flow_run_id = None if body.flow_run_id is None else str(body.flow_run_id)
    flow_run: Doc | None = None
    if flow_run_id is not None:
        flow_run = tx.get(FLOW_RUNS, flow_run_id)
        if flow_run is None:
            raise ApiError(409, INTEGRITY_DETAIL)
        existing = tx.first(
            TASK_RUNS, flow_run_id=flow_run_id, task_key=body.task_key, dynamic_key=body.dynamic_key
        )
        if existing is not None:
            return existing, False
    if body.id is not None:
        same_id = tx.get(TASK_RUNS, str(body.id))
        if same_id is not None:
            return same_id, False
    run_id = str(body.id) if body.id is not None else str(new_id())
    labels: dict[str, Any] = {}
    if flow_run is not None:
        labels.update(flow_run.get("labels") or {})
    labels.update(body.labels)
    if flow_run_id is not None:
        labels["prefect.flow-run.id"] = flow_run_id
    run: Doc = {
        "id": run_id,
        "created": tx.now_iso,
        "updated": tx.now_iso,
        "name": body.name or run_name(),
        "flow_run_id": flow_run_id,
        "task_key": body.task_key,
        "dynamic_key": body.dynamic_key,
        "cache_key": body.cache_key,
        "cache_expiration": _json_time(body.cache_expiration),
        "task_version": body.task_version,
        "empirical_policy": {**TASK_RUN_POLICY_DEFAULTS, **dense(body.empirical_policy)},
        "tags": list(body.tags),
        "labels": labels,
        "state_id": None,
        "task_inputs": {
            key: [item.model_dump(mode="json") for item in inputs]
            for key, inputs in body.task_inputs.items()
        },
        "state_type": None,
        "state_name": None,
        **TASK_RUN_BOOKKEEPING,
        "estimated_run_time": 0.0,
        "estimated_start_time_delta": 0.0,
        "state": None,
    }
    proposal = body.state or StateCreate(type=StateType.PENDING)
    first = _mint(tx, proposal, None, flow_run_id=flow_run_id, task_run_id=run_id)
    _write_state(tx, "task_run", run, None, first, flow_run=flow_run, new=True)
    return run, True


def _json_time(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def require_flow(tx: Tx, flow_id: str) -> Doc:
    """The flow a new run or deployment refers to; 409 as Prefect when it is missing."""
    flow = tx.get(FLOWS, flow_id)
    if flow is None:
        raise ApiError(409, INTEGRITY_DETAIL)
    return flow
