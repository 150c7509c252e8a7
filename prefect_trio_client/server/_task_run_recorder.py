"""The task-run recorder: task runs written from the events a client's engine sends.

Prefect 3's engine builds task runs locally and reports them only as events
(``prefect.task-run.<state>`` with ``prefect.orchestration: client``); Prefect's server
writes them with its task-run recorder service. This is that service, run in the
transaction that stores the event (through ``/events/in`` or ``POST /events``), with the
rules of Prefect 3.9.1's ``task_run_recorder``:

- the task run's id is the resource's; its flow run is the related resource in the role
  ``flow-run``; its fields are the payload's ``task_run`` (only those sent); its state is
  the payload's ``validated_state`` with the event's id and ``occurred`` as its id and
  timestamp;
- an existing task run is found by its natural key (flow run, task key, dynamic key), else
  by id, and keeps its id; it is updated only by a state newer than the one it holds, so
  events arriving out of order leave the latest state on the run;
- every state is added to the run's history once (an id already there is skipped), so the
  history holds every state whatever the order. An event id already stored never reaches
  the recorder (`store_events` skips it), which makes recording idempotent;
- an event whose flow run does not exist is discarded (Prefect's insert fails on the
  foreign key, and the recorder logs and drops it).
"""

from __future__ import annotations

import logging
from uuid import UUID

from pydantic import ValidationError

from prefect_trio_client.schemas.objects import State, TaskRun
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._docs import (
    TASK_RUN_BOOKKEEPING,
    TASK_RUN_POLICY_DEFAULTS,
    state_doc,
)
from prefect_trio_client.server._tables import FLOW_RUNS, TASK_RUN_STATES, TASK_RUNS

__all__ = ["is_client_task_run_event", "record_task_run_event"]

logger = logging.getLogger("prefect_trio_client.server")

_TASK_RUN = "prefect.task-run."
_FLOW_RUN = "prefect.flow-run."
#: What a new task run holds before the payload's fields are laid over it.
_NEW_RUN: Doc = {
    "cache_key": None,
    "cache_expiration": None,
    "task_version": None,
    "tags": [],
    "labels": {},
    "task_inputs": {},
    **TASK_RUN_BOOKKEEPING,
}
#: Payload fields the recorder never takes from the client (Prefect excludes them too).
_NOT_FROM_PAYLOAD = frozenset(
    {"id", "created", "updated", "state", "state_id", "state_type", "state_name"}
    | {"estimated_run_time", "estimated_start_time_delta", "flow_run_id"}
)


def is_client_task_run_event(event: Doc) -> bool:
    """Whether Prefect's recorder would take `event`."""
    return str(event.get("event", "")).startswith("prefect.task-run") and (
        (event.get("resource") or {}).get("prefect.orchestration") == "client"
    )


def record_task_run_event(tx: Tx, event: Doc) -> None:
    """Write the task run and state `event` reports (module docstring); a malformed event
    is logged and skipped, never an error for the sender."""
    try:
        task_run_id, flow_run_id, fields, state = _read(event)
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        logger.warning("task-run recorder: discarding event %s: %s", event.get("id"), exc)
        return
    if flow_run_id is not None and tx.get(FLOW_RUNS, flow_run_id) is None:
        logger.warning(
            "task-run recorder: discarding event %s: flow run %s does not exist",
            event.get("id"),
            flow_run_id,
        )
        return
    existing = None
    if flow_run_id is not None:
        existing = tx.first(
            TASK_RUNS,
            flow_run_id=flow_run_id,
            task_key=fields["task_key"],
            dynamic_key=fields["dynamic_key"],
        )
    if existing is None:
        existing = tx.get(TASK_RUNS, task_run_id)
    run_id = existing["id"] if existing is not None else task_run_id
    state.state_details.task_run_id = UUID(run_id)
    doc = state_doc(state)
    if existing is None:
        run: Doc = {
            "id": run_id,
            "created": tx.now_iso,
            "name": fields["name"],
            "task_key": fields["task_key"],
            "dynamic_key": fields["dynamic_key"],
            "empirical_policy": dict(TASK_RUN_POLICY_DEFAULTS),
            **_NEW_RUN,
        }
        tx.insert(TASK_RUNS, _updated(run, fields, flow_run_id, doc, tx))
    elif (existing.get("state") or {}).get("timestamp", "") < doc["timestamp"]:
        tx.update(TASK_RUNS, _updated(dict(existing), fields, flow_run_id, doc, tx))
    if tx.get(TASK_RUN_STATES, doc["id"]) is None:
        tx.insert(TASK_RUN_STATES, doc, run_id=run_id)


def _read(event: Doc) -> tuple[str, str | None, Doc, State]:
    """The task run id, flow run id, task-run fields and state an event carries.

    Raises:
        ValueError: The resource is not a task run, or the payload misses a part.
    """
    resource_id = str(event["resource"]["prefect.resource.id"])
    if not resource_id.startswith(_TASK_RUN):
        raise ValueError(f"resource {resource_id!r} is not a task run")
    task_run_id = str(UUID(resource_id.removeprefix(_TASK_RUN)))
    flow_run_id: str | None = None
    for related in event.get("related") or []:
        if related.get("prefect.resource.role") == "flow-run":
            flow_run_id = str(UUID(str(related["prefect.resource.id"]).removeprefix(_FLOW_RUN)))
            break
    payload = event["payload"]
    given = {k: v for k, v in dict(payload["task_run"]).items() if k not in _NOT_FROM_PAYLOAD}
    # validated as Prefect's server validates them, then kept in the stored JSON form
    checked = TaskRun.model_validate({"id": task_run_id, **given})
    fields = {
        key: value
        for key, value in checked.model_dump(mode="json").items()
        if key in given and key != "empirical_policy"
    }
    if "empirical_policy" in given:
        fields["empirical_policy"] = {
            **TASK_RUN_POLICY_DEFAULTS,
            **checked.empirical_policy.model_dump(mode="json"),
        }
    validated = dict(payload["validated_state"])
    details = dict(validated.get("state_details") or {})
    details.update(task_run_id=task_run_id, flow_run_id=flow_run_id)
    state = State.model_validate(
        {
            **validated,
            "id": event["id"],
            "timestamp": event["occurred"],
            "state_details": details,
        }
    )
    return task_run_id, flow_run_id, fields, state


def _updated(run: Doc, fields: Doc, flow_run_id: str | None, state: Doc, tx: Tx) -> Doc:
    run.update(fields)
    run.update(
        flow_run_id=flow_run_id,
        updated=tx.now_iso,
        state=state,
        state_id=state["id"],
        state_type=state["type"],
        state_name=state["name"],
    )
    return run
