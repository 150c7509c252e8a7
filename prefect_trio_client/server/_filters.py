"""Filters, sorts and paging as Python predicates on the stored documents: the reference.

Prefect's filter language is regular (``any_``, ``all_``, ``like_``, ``is_null_``,
``before_``, ... combined by ``operator``), and the documents are stored as the API
returns them, so one small interpreter covers every filter model of ``schemas.filters``
as it grows, with Prefect's semantics written down once here. The large listings (flow
and task runs, flows, deployments, logs, work pools and queues) do not run it row by row:
``_sql`` compiles the same semantics to SQL for SQLite's indexes, and a property test
holds the two to the same answers. The interpreter still decides what the compiler cannot
say (a log text search, an attribute it has no field for: checked on the documents SQL
selected) and the smaller resources (artifacts, variables, automations, blocks, ...). It
runs in the database's worker thread, never on the event loop.

The criteria, as Prefect's server applies them:

- ``any_``: the value is one of these (a list field such as tags: shares one of them);
  ``not_any_``: the value is set and is none of these.
- ``all_``: the list field holds all of these. ``like_``: ``ILIKE '%x%'`` as Prefect's
  server runs it on SQLite (ASCII letters match either case, other letters only
  themselves; ``%`` and ``_`` in the text are wildcards). ``startswith_``: ``ILIKE 'x%'``.
- ``is_null_``: the value is null (a list field: empty); ``exists_``: it is not null.
- ``before_`` / ``after_`` / ``le_`` / ``ge_``: inclusive bounds; a null never matches.
- ``eq_``: equal. A filter's criteria are combined with its ``operator`` (``and_`` by
  default, ``or_``); a filter with no criteria matches everything.

Sorting follows SQLite: nulls first when ascending, last when descending; ties are
broken by id in the same direction (ids are time-ordered UUIDs). A sort by start time
is by ``coalesce(start_time, expected_start_time)``, as Prefect's.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from prefect_trio_client.schemas.filters import (
    DeploymentFilter,
    DeploymentOrFlowNameFilter,
    FlowFilter,
    FlowFilterDeployment,
    FlowRunFilter,
    FlowRunFilterCreatedBy,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterStartTime,
    LogFilter,
    LogFilterTextSearch,
    Operator,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
    TaskRunFilterSubFlowRuns,
)
from prefect_trio_client.schemas.sorting import (
    ArtifactSort,
    DeploymentSort,
    FlowRunSort,
    FlowSort,
    LogSort,
    TaskRunSort,
    VariableSort,
)
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._tables import DEPLOYMENTS, FLOW_RUNS, FLOWS, TASK_RUNS
from prefect_trio_client.server._time import iso

__all__ = [
    "ARTIFACT_SORTS",
    "DEPLOYMENT_SORTS",
    "FLOW_RUN_SORTS",
    "FLOW_SORTS",
    "LOG_SORTS",
    "TASK_RUN_SORTS",
    "VARIABLE_SORTS",
    "FieldValue",
    "Predicate",
    "SortKeys",
    "always",
    "both",
    "compile_filter",
    "deployment_predicate",
    "flow_predicate",
    "flow_run_predicate",
    "log_predicate",
    "page",
    "sort_docs",
    "task_run_predicate",
    "text_search",
    "wire",
]

Predicate = Callable[[Doc], bool]
Getter = Callable[[Doc], Any]
Test = Callable[[Any], bool]
Special = Callable[[Any], Predicate]


def always(doc: Doc) -> bool:
    return True


def both(*predicates: Predicate) -> Predicate:
    """All of the predicates (the ones that are `always` cost nothing)."""
    active = [p for p in predicates if p is not always]
    if not active:
        return always
    if len(active) == 1:
        return active[0]
    return lambda doc: all(p(doc) for p in active)


def _combine(predicates: list[Predicate], operator: Operator) -> Predicate:
    if not predicates:
        return always
    if operator is Operator.or_:
        return lambda doc: any(p(doc) for p in predicates)
    return both(*predicates)


def wire(value: Any) -> Any:
    """A filter value in the stored documents' terms (ids and times as text)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [wire(item) for item in value]
    return value


def _like(pattern: str) -> re.Pattern[str]:
    """SQL LIKE as a regex: ``%`` is any run, ``_`` one character; ASCII letters match
    either case, other letters only themselves (SQLite's LIKE, Prefect's ILIKE on SQLite)."""
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.ASCII | re.DOTALL)


def _is_null(value: Any) -> bool:
    return value is None or value == []


def _criterion(name: str, argument: Any) -> Test | None:
    """The test one criterion applies to a field's value (None: the criterion is a no-op)."""
    arg = wire(argument)
    if name == "any_":
        allowed = set(arg)
        return lambda v: bool(allowed.intersection(v)) if isinstance(v, list) else v in allowed
    if name == "not_any_":
        if not arg:
            return None
        excluded = set(arg)
        return lambda v: v is not None and v not in excluded
    if name == "all_":
        if not arg:
            return None
        required = set(arg)
        return lambda v: isinstance(v, list) and required.issubset(v)
    if name == "like_":
        if not arg:
            return None
        contains = _like(f"%{arg}%")
        return lambda v: isinstance(v, str) and contains.fullmatch(v) is not None
    if name == "startswith_":
        prefixes = [_like(f"{item}%") for item in arg]
        return lambda v: isinstance(v, str) and any(p.fullmatch(v) for p in prefixes)
    if name == "is_null_":
        return _is_null if arg else (lambda v: not _is_null(v))
    if name == "exists_":
        return (lambda v: v is not None) if arg else (lambda v: v is None)
    if name in ("before_", "le_"):
        return lambda v: v is not None and v <= arg
    if name in ("after_", "ge_"):
        return lambda v: v is not None and v >= arg
    if name == "eq_":
        return lambda v: v == arg
    raise ValueError(f"no rule for the filter criterion {name!r}")


def _field(path: str) -> Getter:
    if "." not in path:
        return lambda doc: doc.get(path)
    head, _, rest = path.partition(".")
    inner = _field(rest)
    return lambda doc: inner(doc.get(head) or {})


def criteria_predicate(criteria: BaseModel, getter: Getter) -> Predicate:
    """One field's criteria (``FlowRunFilterTags(...)``) as a predicate on documents."""
    tests: list[Test] = []
    for name in type(criteria).model_fields:
        argument = getattr(criteria, name)
        if name == "operator" or argument is None:
            continue
        test = _criterion(name, argument)
        if test is not None:
            tests.append(test)
    if not tests:
        return always
    if getattr(criteria, "operator", Operator.and_) is Operator.or_:
        return lambda doc: any(t(getter(doc)) for t in tests)
    return lambda doc: all(t(getter(doc)) for t in tests)


def compile_filter(
    model: BaseModel | None,
    *,
    fields: Mapping[str, str] | None = None,
    special: Mapping[str, Special] | None = None,
) -> Predicate:
    """A resource filter (``FlowRunFilter(...)``) as a predicate on its documents.

    Args:
        model: The filter; None matches everything.
        fields: Document paths for filter attributes named differently (``a.b`` nests).
        special: Attributes whose criteria need more than one field (joins, coalesce).
    """
    if model is None:
        return always
    fields = fields or {}
    special = special or {}
    predicates: list[Predicate] = []
    for name in type(model).model_fields:
        criteria = getattr(model, name)
        if name == "operator" or criteria is None:
            continue
        if name in special:
            predicates.append(special[name](criteria))
        else:
            predicates.append(criteria_predicate(criteria, _field(fields.get(name, name))))
    return _combine(predicates, getattr(model, "operator", Operator.and_))


# --------------------------------------------------------------------------- resources


def _state_filter(criteria: Any) -> Predicate:
    return compile_filter(criteria, fields={"type": "state_type", "name": "state_name"})


def flow_predicate(model: FlowFilter | None, tx: Tx) -> Predicate:
    def deployment(criteria: FlowFilterDeployment) -> Predicate:
        if criteria.is_null_ is None:
            return always
        with_deployments = {d["flow_id"] for d in tx.find(DEPLOYMENTS)}
        if criteria.is_null_:
            return lambda doc: doc["id"] not in with_deployments
        return lambda doc: doc["id"] in with_deployments

    return compile_filter(model, special={"deployment": deployment})


def flow_run_predicate(model: FlowRunFilter | None, tx: Tx) -> Predicate:
    def start_time(criteria: FlowRunFilterStartTime) -> Predicate:
        # Prefect compares coalesce(start_time, expected_start_time) with the bounds.
        bounds = criteria.model_copy(update={"is_null_": None})
        predicates = [criteria_predicate(bounds, _start)]
        if criteria.is_null_ is not None:
            nulls = criteria.model_copy(update={"before_": None, "after_": None})
            predicates.append(criteria_predicate(nulls, _field("start_time")))
        return both(*predicates)

    def parent_flow_run_id(criteria: FlowRunFilterParentFlowRunId) -> Predicate:
        if criteria.any_ is None:
            return always
        parents = {str(i) for i in criteria.any_}
        tasks = {t["id"] for t in tx.find(TASK_RUNS, flow_run_id=parents)}
        return lambda doc: doc.get("parent_task_run_id") in tasks

    def created_by(criteria: FlowRunFilterCreatedBy) -> Predicate:
        tests: list[Predicate] = []
        if criteria.id_ is not None:
            ids = {str(i) for i in criteria.id_}
            tests.append(lambda doc: (doc.get("created_by") or {}).get("id") in ids)
        if criteria.type_ is not None:
            types = set(criteria.type_)
            tests.append(lambda doc: (doc.get("created_by") or {}).get("type") in types)
        if criteria.is_null_ is not None:
            want_null = criteria.is_null_
            tests.append(lambda doc: (doc.get("created_by") is None) == want_null)
        return _combine(tests, criteria.operator)

    return compile_filter(
        model,
        special={
            "state": _state_filter,
            "start_time": start_time,
            "parent_flow_run_id": parent_flow_run_id,
            "created_by": created_by,
        },
    )


def task_run_predicate(model: TaskRunFilter | None, tx: Tx) -> Predicate:
    def subflow_runs(criteria: TaskRunFilterSubFlowRuns) -> Predicate:
        if criteria.exists_ is None:
            return always
        parents = {
            r["parent_task_run_id"]
            for r in tx.find(FLOW_RUNS)
            if r.get("parent_task_run_id") is not None
        }
        if criteria.exists_:
            return lambda doc: doc["id"] in parents
        return lambda doc: doc["id"] not in parents

    def flow_run_id(criteria: TaskRunFilterFlowRunId) -> Predicate:
        # Prefect: is_null_ True means "outside any flow"; False (the default) with no
        # ids means "inside some flow"; otherwise the ids decide.
        if criteria.is_null_ is True:
            return lambda doc: doc.get("flow_run_id") is None
        if criteria.any_ is None:
            return lambda doc: doc.get("flow_run_id") is not None
        ids = {str(i) for i in criteria.any_}
        return lambda doc: doc.get("flow_run_id") in ids

    return compile_filter(
        model,
        special={"state": _state_filter, "subflow_runs": subflow_runs, "flow_run_id": flow_run_id},
    )


def deployment_predicate(model: DeploymentFilter | None, tx: Tx) -> Predicate:
    def flow_or_deployment_name(criteria: DeploymentOrFlowNameFilter) -> Predicate:
        if not criteria.like_:
            return always
        contains = _like(f"%{criteria.like_}%")
        flows = {f["id"] for f in tx.find(FLOWS) if contains.fullmatch(f["name"])}
        return lambda doc: bool(contains.fullmatch(doc["name"])) or doc["flow_id"] in flows

    return compile_filter(
        model,
        special={
            "flow_or_deployment_name": flow_or_deployment_name,
            "concurrency_limit": lambda criteria: always,  # ignored by Prefect's server too
        },
    )


def text_search(query: str, text_of: Callable[[Doc], str]) -> Predicate:
    """Prefect's text search: words or "quoted phrases" (any may match), ``-word`` or
    ``!word`` excludes, ``+word`` is required; case-insensitive, in ``text_of(doc)``."""
    include: list[str] = []
    exclude: list[str] = []
    required: list[str] = []
    for quoted, word in re.findall(r'([-+!]?"[^"]*")|(\S+)', query):
        token = quoted or word
        prefix = token[0] if token[0] in "+-!" and len(token) > 1 else ""
        term = token[len(prefix) :].strip('"').lower()
        if not term:
            continue
        {"-": exclude, "!": exclude, "+": required}.get(prefix, include).append(term)

    def matches(doc: Doc) -> bool:
        text = text_of(doc).lower()
        if include and not any(term in text for term in include):
            return False
        if any(term in text for term in exclude):
            return False
        return all(term in text for term in required)

    return matches


def _text_search(criteria: LogFilterTextSearch) -> Predicate:
    """Log search, over the message and the logger name."""
    return text_search(
        criteria.query, lambda doc: f"{doc.get('message', '')} {doc.get('name', '')}"
    )


def log_predicate(model: LogFilter | None) -> Predicate:
    return compile_filter(model, special={"text": _text_search})


# --------------------------------------------------------------------------- sort, page

SortKeys = Sequence[tuple[Getter, bool]]
"""Sort keys, most significant first: (field getter, descending)."""


class FieldValue:
    """A sort key's value: the first of these document fields that is not null (Prefect's
    ``coalesce``). The SQL compiler reads `paths` to sort in SQLite; a sort key that is
    any other getter is sorted in Python."""

    def __init__(self, *paths: str) -> None:
        self.paths = paths
        self._getters = [_field(path) for path in paths]

    def __call__(self, doc: Doc) -> Any:
        for getter in self._getters:
            value = getter(doc)
            if value is not None:
                return value
        return None


_start = FieldValue("start_time", "expected_start_time")


def _by(path: str, descending: bool = False) -> list[tuple[Getter, bool]]:
    return [(FieldValue(path), descending)]


FLOW_SORTS: Mapping[FlowSort, SortKeys] = {
    FlowSort.CREATED_DESC: _by("created", True),
    FlowSort.UPDATED_DESC: _by("updated", True),
    FlowSort.NAME_ASC: _by("name"),
    FlowSort.NAME_DESC: _by("name", True),
}
FLOW_RUN_SORTS: Mapping[FlowRunSort, SortKeys] = {
    FlowRunSort.ID_DESC: _by("id", True),
    FlowRunSort.START_TIME_ASC: [(_start, False)],
    FlowRunSort.START_TIME_DESC: [(_start, True)],
    FlowRunSort.EXPECTED_START_TIME_ASC: _by("expected_start_time"),
    FlowRunSort.EXPECTED_START_TIME_DESC: _by("expected_start_time", True),
    FlowRunSort.NAME_ASC: _by("name"),
    FlowRunSort.NAME_DESC: _by("name", True),
    FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC: _by("next_scheduled_start_time"),
    FlowRunSort.END_TIME_DESC: _by("end_time", True),
}
TASK_RUN_SORTS: Mapping[TaskRunSort, SortKeys] = {
    TaskRunSort.ID_DESC: _by("id", True),
    TaskRunSort.EXPECTED_START_TIME_ASC: _by("expected_start_time"),
    TaskRunSort.EXPECTED_START_TIME_DESC: _by("expected_start_time", True),
    TaskRunSort.NAME_ASC: _by("name"),
    TaskRunSort.NAME_DESC: _by("name", True),
    TaskRunSort.NEXT_SCHEDULED_START_TIME_ASC: _by("next_scheduled_start_time"),
    TaskRunSort.END_TIME_DESC: _by("end_time", True),
}
DEPLOYMENT_SORTS: Mapping[DeploymentSort, SortKeys] = {
    DeploymentSort.CREATED_DESC: _by("created", True),
    DeploymentSort.UPDATED_DESC: _by("updated", True),
    DeploymentSort.NAME_ASC: _by("name"),
    DeploymentSort.NAME_DESC: _by("name", True),
}
LOG_SORTS: Mapping[LogSort, SortKeys] = {
    LogSort.TIMESTAMP_ASC: _by("timestamp"),
    LogSort.TIMESTAMP_DESC: _by("timestamp", True),
}
VARIABLE_SORTS: Mapping[VariableSort, SortKeys] = {
    VariableSort.CREATED_DESC: _by("created", True),
    VariableSort.UPDATED_DESC: _by("updated", True),
    VariableSort.NAME_DESC: _by("name", True),
    VariableSort.NAME_ASC: _by("name"),
}
ARTIFACT_SORTS: Mapping[ArtifactSort, SortKeys] = {
    ArtifactSort.CREATED_DESC: _by("created", True),
    ArtifactSort.UPDATED_DESC: _by("updated", True),
    ArtifactSort.ID_DESC: _by("id", True),
    ArtifactSort.KEY_DESC: _by("key", True),
    ArtifactSort.KEY_ASC: _by("key"),
}


def _sortable(value: Any) -> tuple[bool, Any]:
    return (value is not None, "" if value is None else value)


def sort_docs(docs: Iterable[Doc], keys: SortKeys) -> list[Doc]:
    """`docs` in the order of `keys`; ties go by id in the same direction (ids are
    time-ordered, so equal times list newest first in a descending sort)."""
    ordered = list(docs)
    tie_break: tuple[Getter, bool] = (FieldValue("id"), keys[0][1] if keys else False)
    for getter, descending in reversed([*keys, tie_break]):
        ordered.sort(key=_sort_key(getter), reverse=descending)
    return ordered


def _sort_key(getter: Getter) -> Callable[[Doc], tuple[bool, Any]]:
    return lambda doc: _sortable(getter(doc))


def page(docs: Sequence[Doc], offset: int, limit: int) -> list[Doc]:
    return list(docs[offset : offset + limit])
