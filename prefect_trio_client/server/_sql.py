"""Prefect's filters and sorts as SQL, so SQLite selects, counts and pages with indexes.

The interpreter in ``_filters`` is the reference: this compiler says the same thing in
SQL for the fields whose stored shape it knows (a table's `Catalogue`), and a criterion it
cannot say raises `Unsupported`. `split` then hands that field (or, under ``or_``, the
whole filter) back to the interpreter, which checks it on the documents SQL selected:
correct first, fast where it can be. A property test holds the two to the same answers.

Why it agrees with the interpreter:

- SQL's NULL is "no match", as the interpreter's checks on a missing value are; the
  compiler never negates a condition that can be NULL (``not_any_`` and ``is_null_`` are
  written with ``IS [NOT] NULL``), so three-valued logic cannot flip an answer.
- Text compares by code point in both (SQLite's BINARY collation on UTF-8); times are
  fixed-width ISO text, so their order is the text's.
- ``like_`` / ``startswith_`` are SQLite's LIKE: ``%`` and ``_`` are wildcards, ASCII
  letters match either case (the interpreter's regex does the same).
- Sorting: SQLite puts NULL first ascending and last descending, as ``sort_docs`` does;
  ties go by id in the first key's direction.

Every condition is uncorrelated (subqueries name their own table), so a condition works
wherever it is nested. The runs' tags are read from the side tables ``flow_run_tags`` and
``task_run_tags`` (see ``_tables``), other tables' tags with ``json_each``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from prefect_trio_client.schemas.filters import (
    DeploymentOrFlowNameFilter,
    FlowFilterDeployment,
    FlowRunFilterCreatedBy,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterStartTime,
    Operator,
    TaskRunFilterFlowRunId,
    TaskRunFilterSubFlowRuns,
)
from prefect_trio_client.server._filters import FieldValue, SortKeys, wire
from prefect_trio_client.server._tables import RUN_LISTED_FIELDS

__all__ = [
    "CATALOGUES",
    "FALSE",
    "TRUE",
    "Catalogue",
    "Kind",
    "Sql",
    "Unsupported",
    "all_of",
    "any_of",
    "order_by",
    "split",
    "values_in",
]


M = TypeVar("M", bound=BaseModel)


class Unsupported(Exception):
    """The compiler cannot say this criterion in SQL; the interpreter checks it."""


@dataclass(frozen=True)
class Sql:
    """A condition (or subquery) and its parameters."""

    text: str
    params: tuple[Any, ...] = ()
    alone: Sql | None = None
    """When this condition is the whole WHERE of its table: a query of the matching rows'
    ids (one row each, column ``id``) that reads only a side table (a tag's runs), so a
    count or a page by id need not look each one up in the table (a tenth of 100k runs:
    7 ms against 0.3 ms). `all_of` and `any_of` keep it only for a lone part."""


TRUE = Sql("1")
FALSE = Sql("0")


def all_of(parts: Iterable[Sql]) -> Sql:
    active = [p for p in parts if p != TRUE]
    if not active:
        return TRUE
    if len(active) == 1:
        return active[0]
    return Sql(
        " AND ".join(f"({p.text})" for p in active), tuple(x for p in active for x in p.params)
    )


def any_of(parts: Iterable[Sql]) -> Sql:
    listed = list(parts)
    if not listed:
        return FALSE
    if TRUE in listed:
        return TRUE
    if len(listed) == 1:
        return listed[0]
    return Sql(
        " OR ".join(f"({p.text})" for p in listed), tuple(x for p in listed for x in p.params)
    )


_INLINE = 50
"""Up to this many values are bound one by one; more go as one JSON array parameter."""


def values_in(expression: str, values: Sequence[Any]) -> Sql:
    """`expression` is one of `values` (none: false)."""
    if not values:
        return FALSE
    if len(values) <= _INLINE:
        return Sql(f"{expression} IN ({', '.join('?' * len(values))})", tuple(values))
    return Sql(f"{expression} IN (SELECT value FROM json_each(?))", (json.dumps(list(values)),))


def in_query(expression: str, query: Sql) -> Sql:
    return Sql(f"{expression} IN ({query.text})", query.params)


class Kind(enum.Enum):
    """What a catalogued field holds in every stored document (or null, or nothing)."""

    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    TAGS = "tags"
    """A list of strings."""


@dataclass(frozen=True)
class Field:
    """How SQL reads one document field: an expression and the field's kind."""

    sql: str
    kind: Kind
    tags_table: str | None = None
    """For the runs' tags: the side table with one (tag, run_id) row per tag."""


Special = Callable[[Any], Sql]


@dataclass(frozen=True)
class Catalogue:
    """One table's fields as SQL; filter attributes not listed here go to `special`."""

    table: str
    fields: Mapping[str, Field]
    special: Mapping[str, Special] = field(default_factory=dict)


def _column(table: str, name: str, kind: Kind = Kind.TEXT) -> Field:
    return Field(f"{table}.{name}", kind)


def _json(table: str, path: str, kind: Kind = Kind.TEXT) -> Field:
    return Field(f"json_extract({table}.doc, '$.{path}')", kind)


# --------------------------------------------------------------------------- criteria


def _criterion(name: str, argument: Any, target: Field) -> Sql | None:
    """One criterion on one field, as ``_filters._criterion`` decides it (None: no-op)."""
    arg = wire(argument)
    expression, kind = target.sql, target.kind
    if kind is Kind.TAGS:
        return _tags_criterion(name, arg, target)
    if name == "any_":
        return values_in(expression, arg)
    if name == "not_any_":
        if not arg:
            return None
        allowed = values_in(expression, arg)
        return Sql(f"{expression} IS NOT NULL AND NOT ({allowed.text})", allowed.params)
    if name in ("like_", "startswith_") and kind is Kind.TEXT:
        if name == "like_":
            return None if not arg else Sql(f"{expression} LIKE ?", (f"%{arg}%",))
        return any_of(Sql(f"{expression} LIKE ?", (f"{prefix}%",)) for prefix in arg)
    if name == "is_null_":
        return Sql(f"{expression} IS {'' if arg else 'NOT '}NULL")
    if name == "exists_":
        return Sql(f"{expression} IS {'NOT ' if arg else ''}NULL")
    if name in ("before_", "le_"):
        return Sql(f"{expression} <= ?", (arg,))
    if name in ("after_", "ge_"):
        return Sql(f"{expression} >= ?", (arg,))
    if name == "eq_":
        return Sql(f"{expression} = ?", (arg,))
    raise Unsupported(f"{name} on a {kind.value} field")


def _tags_criterion(name: str, arg: Any, target: Field) -> Sql | None:
    tags_table = target.tags_table
    if name == "any_":
        if not arg:
            return FALSE
        if tags_table is not None:
            tagged = _tagged(tags_table, values_in("tag", arg), distinct=len(arg) > 1)
            return _lone_tags(target.sql, tagged)
        found = values_in("json_each.value", arg)
        return Sql(
            f"EXISTS (SELECT 1 FROM json_each({target.sql}) WHERE {found.text})", found.params
        )
    if name == "all_":
        if not arg:
            return None
        required = sorted(set(arg))
        if tags_table is not None and len(required) == 1:
            return _lone_tags(target.sql, _tagged(tags_table, Sql("tag = ?", (required[0],))))
        if tags_table is not None:
            return all_of(
                in_query(target.sql, _tagged(tags_table, Sql("tag = ?", (tag,))))
                for tag in required
            )
        each = [
            Sql(f"EXISTS (SELECT 1 FROM json_each({target.sql}) WHERE json_each.value = ?)", (tag,))
            for tag in required
        ]
        return all_of([Sql(f"json_type({target.sql}) = 'array'"), *each])
    if name == "is_null_":
        if tags_table is not None:
            # Tags hold strings only, so "no row in the side table" is "null or empty".
            negation = "NOT " if arg else ""
            return Sql(f"{target.sql} {negation}IN (SELECT run_id FROM {tags_table})")
        return Sql(f"coalesce(json_array_length({target.sql}), 0) {'=' if arg else '>'} 0")
    raise Unsupported(f"{name} on a list field")


def _tagged(tags_table: str, condition: Sql, *, distinct: bool = False) -> Sql:
    select = "SELECT DISTINCT" if distinct else "SELECT"
    return Sql(f"{select} run_id AS id FROM {tags_table} WHERE {condition.text}", condition.params)


def _lone_tags(ids: str, tagged: Sql) -> Sql:
    """`ids` among the runs `tagged` picks; alone, the side table answers by itself (its
    triggers keep a row only for a stored run)."""
    return Sql(f"{ids} IN ({tagged.text})", tagged.params, alone=tagged)


def criteria_sql(criteria: BaseModel, target: Field) -> Sql:
    """One field's criteria (``FlowRunFilterTags(...)``), as ``criteria_predicate``."""
    tests: list[Sql] = []
    for name in type(criteria).model_fields:
        argument = getattr(criteria, name)
        if name == "operator" or argument is None:
            continue
        test = _criterion(name, argument, target)
        if test is not None:
            tests.append(test)
    if not tests:
        return TRUE
    if getattr(criteria, "operator", Operator.and_) is Operator.or_:
        return any_of(tests)
    return all_of(tests)


def _field_sql(name: str, criteria: Any, catalogue: Catalogue) -> Sql:
    if name in catalogue.special:
        return catalogue.special[name](criteria)
    target = catalogue.fields.get(name)
    if target is None:
        raise Unsupported(f"{catalogue.table}.{name}")
    return criteria_sql(criteria, target)


def model_sql(model: BaseModel, catalogue: Catalogue) -> Sql:
    """A whole filter model in SQL, as ``compile_filter``.

    Raises:
        Unsupported: Some criterion has no SQL form.
    """
    parts = [
        _field_sql(name, getattr(model, name), catalogue)
        for name in type(model).model_fields
        if name != "operator" and getattr(model, name) is not None
    ]
    if not parts:
        return TRUE
    if getattr(model, "operator", Operator.and_) is Operator.or_:
        return any_of(parts)
    return all_of(parts)


def split(model: M | None, catalogue: Catalogue | None) -> tuple[Sql, M | None]:
    """`model` as an SQL condition plus what SQL left to the interpreter (None: nothing).

    Under ``and_`` each field goes to SQL if it can; the rest stays in a copy of the
    model with the compiled fields cleared. Under ``or_`` it is all or nothing. Without a
    catalogue, everything is left to the interpreter.
    """
    if model is None:
        return TRUE, None
    if catalogue is None:
        return TRUE, model
    if getattr(model, "operator", Operator.and_) is Operator.or_:
        try:
            return model_sql(model, catalogue), None
        except Unsupported:
            return TRUE, model
    parts: list[Sql] = []
    compiled: list[str] = []
    left = False
    for name in type(model).model_fields:
        criteria = getattr(model, name)
        if name == "operator" or criteria is None:
            continue
        try:
            parts.append(_field_sql(name, criteria, catalogue))
            compiled.append(name)
        except Unsupported:
            left = True
    rest = model.model_copy(update=dict.fromkeys(compiled)) if left else None
    return all_of(parts), rest


# --------------------------------------------------------------------------- sorting


def order_by(keys: SortKeys, catalogue: Catalogue | None) -> str | None:
    """An ``ORDER BY`` list for `keys` with ties by id (None: sort in Python)."""
    if catalogue is None:
        return None
    terms: list[str] = []
    for getter, descending in [*keys, (FieldValue("id"), keys[0][1] if keys else False)]:
        if not isinstance(getter, FieldValue):
            return None
        fields = [catalogue.fields.get(path) for path in getter.paths]
        if any(f is None or f.kind is Kind.TAGS for f in fields):
            return None
        expressions = [f.sql for f in fields if f is not None]
        value = expressions[0] if len(expressions) == 1 else f"coalesce({', '.join(expressions)})"
        terms.append(f"{value} {'DESC' if descending else 'ASC'}")
        if getter.paths == ("id",):
            break  # ids are unique: nothing after them orders anything
    return ", ".join(terms)


# --------------------------------------------------------------------------- catalogues


def _state(table: str) -> Special:
    fields = {"type": _column(table, "state_type"), "name": _column(table, "state_name")}
    catalogue = Catalogue(table, fields)
    return lambda criteria: model_sql(criteria, catalogue)


def _runs_fields(table: str, tags_table: str) -> dict[str, Field]:
    return {
        **{name: _column(table, name) for name in ("id", *RUN_LISTED_FIELDS)},
        "tags": Field(f"{table}.id", Kind.TAGS, tags_table),
        "created": _json(table, "created"),
        "updated": _json(table, "updated"),
    }


def _start_time(criteria: FlowRunFilterStartTime) -> Sql:
    # Prefect compares coalesce(start_time, expected_start_time) with the bounds.
    started = Field("coalesce(flow_runs.start_time, flow_runs.expected_start_time)", Kind.TEXT)
    parts = [criteria_sql(criteria.model_copy(update={"is_null_": None}), started)]
    if criteria.is_null_ is not None:
        nulls = criteria.model_copy(update={"before_": None, "after_": None})
        parts.append(criteria_sql(nulls, _column("flow_runs", "start_time")))
    return all_of(parts)


def _parent_flow_run_id(criteria: FlowRunFilterParentFlowRunId) -> Sql:
    if criteria.any_ is None:
        return TRUE
    parents = values_in("task_runs.flow_run_id", wire(criteria.any_))
    tasks = Sql(f"SELECT task_runs.id FROM task_runs WHERE {parents.text}", parents.params)
    return in_query("flow_runs.parent_task_run_id", tasks)


def _created_by(criteria: FlowRunFilterCreatedBy) -> Sql:
    tests: list[Sql] = []
    if criteria.id_ is not None:
        tests.append(
            values_in("json_extract(flow_runs.doc, '$.created_by.id')", wire(criteria.id_))
        )
    if criteria.type_ is not None:
        tests.append(values_in("json_extract(flow_runs.doc, '$.created_by.type')", criteria.type_))
    if criteria.is_null_ is not None:
        negation = "" if criteria.is_null_ else "NOT "
        tests.append(Sql(f"json_extract(flow_runs.doc, '$.created_by') IS {negation}NULL"))
    if not tests:
        return TRUE
    return any_of(tests) if criteria.operator is Operator.or_ else all_of(tests)


FLOW_RUNS_SQL = Catalogue(
    "flow_runs",
    {
        **_runs_fields("flow_runs", "flow_run_tags"),
        **{
            name: _column("flow_runs", name)
            for name in (
                "flow_id",
                "deployment_id",
                "idempotency_key",
                "parent_task_run_id",
                "work_queue_id",
            )
        },
        "work_queue_name": _json("flow_runs", "work_queue_name"),
        "flow_version": _json("flow_runs", "flow_version"),
    },
    {
        "state": _state("flow_runs"),
        "start_time": _start_time,
        "parent_flow_run_id": _parent_flow_run_id,
        "created_by": _created_by,
    },
)


def _subflow_runs(criteria: TaskRunFilterSubFlowRuns) -> Sql:
    if criteria.exists_ is None:
        return TRUE
    parents = (
        "SELECT flow_runs.parent_task_run_id FROM flow_runs"
        " WHERE flow_runs.parent_task_run_id IS NOT NULL"
    )
    return Sql(f"task_runs.id {'' if criteria.exists_ else 'NOT '}IN ({parents})")


def _task_flow_run_id(criteria: TaskRunFilterFlowRunId) -> Sql:
    # As the interpreter: is_null_ true is "outside any flow"; no ids is "in some flow".
    if criteria.is_null_ is True:
        return Sql("task_runs.flow_run_id IS NULL")
    if criteria.any_ is None:
        return Sql("task_runs.flow_run_id IS NOT NULL")
    return values_in("task_runs.flow_run_id", wire(criteria.any_))


TASK_RUNS_SQL = Catalogue(
    "task_runs",
    {
        **_runs_fields("task_runs", "task_run_tags"),
        "flow_run_id": _column("task_runs", "flow_run_id"),
    },
    {
        "state": _state("task_runs"),
        "subflow_runs": _subflow_runs,
        "flow_run_id": _task_flow_run_id,
    },
)


def _flow_deployment(criteria: FlowFilterDeployment) -> Sql:
    if criteria.is_null_ is None:
        return TRUE
    negation = "NOT " if criteria.is_null_ else ""
    return Sql(f"flows.id {negation}IN (SELECT deployments.flow_id FROM deployments)")


FLOWS_SQL = Catalogue(
    "flows",
    {
        "id": _column("flows", "id"),
        "name": _column("flows", "name"),
        "tags": Field("flows.doc, '$.tags'", Kind.TAGS),
        "created": _json("flows", "created"),
        "updated": _json("flows", "updated"),
    },
    {"deployment": _flow_deployment},
)


def _flow_or_deployment_name(criteria: DeploymentOrFlowNameFilter) -> Sql:
    if not criteria.like_:
        return TRUE
    pattern = f"%{criteria.like_}%"
    return Sql(
        "deployments.name LIKE ?"
        " OR deployments.flow_id IN (SELECT flows.id FROM flows WHERE flows.name LIKE ?)",
        (pattern, pattern),
    )


DEPLOYMENTS_SQL = Catalogue(
    "deployments",
    {
        "id": _column("deployments", "id"),
        "name": _column("deployments", "name"),
        "flow_id": _column("deployments", "flow_id"),
        "paused": _json("deployments", "paused", Kind.BOOL),
        "tags": Field("deployments.doc, '$.tags'", Kind.TAGS),
        "work_queue_name": _json("deployments", "work_queue_name"),
        "created": _json("deployments", "created"),
        "updated": _json("deployments", "updated"),
    },
    {
        "flow_or_deployment_name": _flow_or_deployment_name,
        "concurrency_limit": lambda criteria: TRUE,  # ignored by Prefect's server too
    },
)

LOGS_SQL = Catalogue(
    "logs",
    {
        "id": _column("logs", "id"),
        "flow_run_id": _column("logs", "flow_run_id"),
        "task_run_id": _column("logs", "task_run_id"),
        "level": _json("logs", "level", Kind.NUMBER),
        "timestamp": _json("logs", "timestamp"),
    },
)  # the text search stays with the interpreter (its case folding is Python's)

WORK_POOLS_SQL = Catalogue(
    "work_pools",
    {
        "id": _column("work_pools", "id"),
        "name": _column("work_pools", "name"),
        "type": _json("work_pools", "type"),
    },
)

WORK_QUEUES_SQL = Catalogue(
    "work_queues",
    {
        "id": _column("work_queues", "id"),
        "name": _column("work_queues", "name"),
        "work_pool_id": _column("work_queues", "work_pool_id"),
    },
)

CATALOGUES: Mapping[str, Catalogue] = {
    catalogue.table: catalogue
    for catalogue in (
        FLOW_RUNS_SQL,
        TASK_RUNS_SQL,
        FLOWS_SQL,
        DEPLOYMENTS_SQL,
        LOGS_SQL,
        WORK_POOLS_SQL,
        WORK_QUEUES_SQL,
    )
}
"""The compiled tables by name; a table not here is filtered by the interpreter."""
