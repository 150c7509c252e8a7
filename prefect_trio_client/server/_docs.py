"""Objects in their stored (and returned) JSON form.

The schemas' value objects (`StateDetails`, the run policies) dump only the fields that
were given, which is right for request bodies. A server answers with every field, as
Prefect does, so documents are written *dense*: the sparse parts are completed with
their defaults here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from prefect_trio_client.schemas.objects import (
    FlowRunPolicy,
    SparseBaseModel,
    State,
    StateDetails,
    TaskRunPolicy,
)
from prefect_trio_client.server._db import Doc

__all__ = [
    "FLOW_RUN_POLICY_DEFAULTS",
    "STATE_DETAILS_DEFAULTS",
    "TASK_RUN_BOOKKEEPING",
    "TASK_RUN_POLICY_DEFAULTS",
    "dense",
    "object_doc",
    "state_doc",
    "state_of",
]


def _all_defaults(model: type[SparseBaseModel]) -> Doc:
    complete = model.model_construct(_fields_set=set(model.model_fields))
    return complete.model_dump(mode="json")


STATE_DETAILS_DEFAULTS = _all_defaults(StateDetails)
FLOW_RUN_POLICY_DEFAULTS = _all_defaults(FlowRunPolicy)
TASK_RUN_POLICY_DEFAULTS = _all_defaults(TaskRunPolicy)
#: What a task run holds before any state is set on it, however it was created (by
#: `POST /task_runs/` or by the task-run recorder from events).
TASK_RUN_BOOKKEEPING: Doc = {
    "run_count": 0,
    "flow_run_run_count": 0,
    "expected_start_time": None,
    "next_scheduled_start_time": None,
    "start_time": None,
    "end_time": None,
    "total_run_time": 0.0,
}
_DEFAULTS: dict[type[SparseBaseModel], Doc] = {
    StateDetails: STATE_DETAILS_DEFAULTS,
    FlowRunPolicy: FLOW_RUN_POLICY_DEFAULTS,
    TaskRunPolicy: TASK_RUN_POLICY_DEFAULTS,
}


def dense(model: SparseBaseModel) -> Doc:
    """Every field of a sparse value object, as JSON."""
    defaults = _DEFAULTS.get(type(model))
    if defaults is None:
        defaults = _DEFAULTS[type(model)] = _all_defaults(type(model))
    return {**defaults, **model.model_dump(mode="json")}


def object_doc(model: BaseModel) -> Doc:
    """A read model as JSON (read models dump every field already)."""
    doc: Doc = model.model_dump(mode="json")
    return doc


def state_doc(state: State) -> Doc:
    """A state as the API returns it, every detail included."""
    doc = object_doc(state)
    doc["state_details"] = dense(state.state_details)
    return doc


def state_of(doc: Any) -> State | None:
    """The `State` a document holds (None for none)."""
    return None if doc is None else State.model_validate(doc)
