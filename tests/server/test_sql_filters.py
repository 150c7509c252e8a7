"""The SQL compiler (``_sql``) against the interpreter (``_filters``), its reference.

Random documents, random filters of every model the compiled listings take, random
sorts, offsets and limits: the ids, their order and the counts must be the same through
SQL as through the interpreter alone (``sql={}``), and the same again when the compiler
is denied random fields (so the interpreter checks those on what SQL selected).
"""

from __future__ import annotations

import sqlite3
import types
import typing
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, assume, given, settings
from pydantic import BaseModel

from prefect_trio_client.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    LogFilter,
    Operator,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from prefect_trio_client.schemas.objects import StateType
from prefect_trio_client.schemas.sorting import FlowRunSort
from prefect_trio_client.server._db import Doc, Tx, _migrate, loads
from prefect_trio_client.server._filters import (
    DEPLOYMENT_SORTS,
    FLOW_RUN_SORTS,
    FLOW_SORTS,
    LOG_SORTS,
    TASK_RUN_SORTS,
)
from prefect_trio_client.server._queries import (
    Selection,
    deployments_matching,
    flow_runs_matching,
    flows_matching,
    logs_matching,
    task_runs_matching,
)
from prefect_trio_client.server._sql import CATALOGUES, Catalogue, split
from prefect_trio_client.server._tables import (
    DEPLOYMENTS,
    FLOW_RUNS,
    FLOWS,
    LOGS,
    TASK_RUNS,
    WORK_POOLS,
    WORK_QUEUES,
)
from prefect_trio_client.server._time import iso


def _ids(prefix: int, count: int) -> list[str]:
    return [str(uuid.UUID(int=(prefix << 64) + n)) for n in range(count)]


FLOW_IDS = _ids(1, 3)
DEPLOYMENT_IDS = _ids(2, 3)
RUN_IDS = _ids(3, 10)
TASK_IDS = _ids(4, 10)
POOL_IDS = _ids(5, 2)
QUEUE_IDS = _ids(6, 3)
ALL_IDS = [*FLOW_IDS, *DEPLOYMENT_IDS, *RUN_IDS, *TASK_IDS, *POOL_IDS, *QUEUE_IDS]

WORDS = ["a", "A", "ab", "b_c", "x%y", "é", "É", "\u212a", "k", "Late", "Completed", ""]
"""Texts for names, tags and filter values: case pairs in and outside ASCII (the Kelvin
sign folds to k in Unicode, not in SQLite), and LIKE's wildcards."""
TIMES = [datetime(2030, 1, 1, tzinfo=timezone.utc) + timedelta(hours=h) for h in (0, 1, 1, 5)]
TIME_TEXTS = [iso(t) for t in TIMES]
KEYS = [f"key-{n}" for n in range(3)]

texts = st.sampled_from(WORDS)
times = st.none() | st.sampled_from(TIME_TEXTS)
tags = st.none() | st.lists(texts, max_size=3)


# --------------------------------------------------------------------------- documents


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, list[Doc]]:
    """Flows, deployments, work pools and queues, flow runs, task runs and logs."""
    flow_names = draw(st.permutations(WORDS))
    flows = [
        {
            "id": i,
            "name": flow_names[n],
            "tags": draw(tags),
            "created": draw(st.sampled_from(TIME_TEXTS)),
        }
        for n, i in enumerate(FLOW_IDS)
    ]
    pools = [{"id": i, "name": f"pool-{n}", "type": draw(texts)} for n, i in enumerate(POOL_IDS)]
    queues = [
        {"id": i, "name": draw(texts) + str(n), "work_pool_id": draw(st.sampled_from(POOL_IDS))}
        for n, i in enumerate(QUEUE_IDS)
    ]
    deployments = [
        {
            "id": i,
            "name": draw(texts) + str(n),
            "flow_id": draw(st.sampled_from(FLOW_IDS)),
            "paused": draw(st.booleans()),
            "tags": draw(tags),
            "work_queue_id": draw(st.none() | st.sampled_from(QUEUE_IDS)),
            "work_queue_name": draw(st.none() | texts),
            "created": draw(st.sampled_from(TIME_TEXTS)),
            "updated": draw(st.sampled_from(TIME_TEXTS)),
        }
        for n, i in enumerate(DEPLOYMENT_IDS)
    ]
    run_ids = draw(st.lists(st.sampled_from(RUN_IDS), unique=True, max_size=len(RUN_IDS)))
    task_ids = draw(st.lists(st.sampled_from(TASK_IDS), unique=True, max_size=len(TASK_IDS)))
    flow_runs = [{**_run(draw), **_flow_run(draw, n), "id": i} for n, i in enumerate(run_ids)]
    task_runs = [
        {
            **_run(draw),
            "id": i,
            "flow_run_id": draw(st.none() | st.sampled_from(RUN_IDS)),
            "task_key": f"task-{n}",
            "dynamic_key": "0",
        }
        for n, i in enumerate(task_ids)
    ]
    logs = [
        {
            "id": i,
            "name": draw(texts),
            "message": draw(texts),
            "level": draw(st.sampled_from([10, 20, 40])),
            "timestamp": draw(st.sampled_from(TIME_TEXTS)),
            "flow_run_id": draw(st.none() | st.sampled_from(RUN_IDS)),
            "task_run_id": draw(st.none() | st.sampled_from(TASK_IDS)),
        }
        for i in _ids(7, draw(st.integers(0, 6)))
    ]
    return {
        FLOWS.name: flows,
        WORK_POOLS.name: pools,
        WORK_QUEUES.name: queues,
        DEPLOYMENTS.name: deployments,
        FLOW_RUNS.name: flow_runs,
        TASK_RUNS.name: task_runs,
        LOGS.name: logs,
    }


def _run(draw: st.DrawFn) -> Doc:
    """The fields flow and task runs share."""
    return {
        "name": draw(texts),
        "tags": draw(tags),
        "state_type": draw(st.none() | st.sampled_from([t.value for t in StateType])),
        "state_name": draw(st.none() | texts),
        "expected_start_time": draw(times),
        "next_scheduled_start_time": draw(times),
        "start_time": draw(times),
        "end_time": draw(times),
    }


def _flow_run(draw: st.DrawFn, n: int) -> Doc:
    creator = st.fixed_dictionaries(
        {"id": st.sampled_from(ALL_IDS), "type": st.sampled_from(["USER", "DEPLOYMENT"])}
    )
    return {
        "flow_id": draw(st.sampled_from(FLOW_IDS)),
        "deployment_id": draw(st.none() | st.sampled_from(DEPLOYMENT_IDS)),
        "work_queue_id": draw(st.none() | st.sampled_from(QUEUE_IDS)),
        "work_queue_name": draw(st.none() | texts),
        "flow_version": draw(st.none() | texts),
        "parent_task_run_id": draw(st.none() | st.sampled_from(TASK_IDS)),
        "idempotency_key": draw(st.none() | st.just(KEYS[n % len(KEYS)] + str(n))),
        "created_by": draw(st.none() | creator),
    }


# --------------------------------------------------------------------------- filters


def _value(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of one filter attribute's type, from the pools the documents use."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return st.one_of(*(_value(option) for option in options))
    if origin is typing.Annotated:
        return _value(typing.get_args(annotation)[0])
    if origin is list:
        return st.lists(_value(typing.get_args(annotation)[0]), max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return filters(annotation)
    if annotation is uuid.UUID:
        return st.sampled_from(ALL_IDS).map(uuid.UUID)
    if annotation is StateType:
        return st.sampled_from(StateType)
    if annotation is Operator:
        return st.sampled_from(Operator)
    if annotation is datetime:
        return st.sampled_from(TIMES)
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.sampled_from([10, 20, 30, 40])
    if annotation is str:
        return st.sampled_from([*WORDS, *KEYS, "key-1", "USER"])
    raise AssertionError(f"no strategy for {annotation!r}")


def filters(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    """Instances of a filter model, each optional attribute set or not."""
    strategies = {name: _value(info.annotation) for name, info in model.model_fields.items()}
    if "query" in strategies:  # the log text search: words from the pool
        strategies["query"] = st.lists(texts, max_size=3).map(" ".join)
    required = {n: s for n, s in strategies.items() if model.model_fields[n].is_required()}
    optional = {n: s for n, s in strategies.items() if n not in required}
    return st.fixed_dictionaries(required, optional=optional).map(lambda kw: model(**kw))


def maybe(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    return st.none() | filters(model)


# --------------------------------------------------------------------------- harness


@pytest.fixture(scope="module")
def connection() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    _migrate(connection)
    yield connection
    connection.close()


@contextmanager
def stored(connection: sqlite3.Connection, world: Mapping[str, list[Doc]]) -> Iterator[Tx]:
    """A transaction holding `world`, rolled back afterwards."""
    connection.execute("BEGIN")
    try:
        tx = Tx(connection, TIMES[0])
        tables = {t.name: t for t in (FLOWS, WORK_POOLS, WORK_QUEUES, DEPLOYMENTS)}
        tables |= {t.name: t for t in (FLOW_RUNS, TASK_RUNS, LOGS)}
        for name, docs in world.items():
            for doc in docs:
                tx.insert(tables[name], doc)
        yield tx
    finally:
        connection.execute("ROLLBACK")


def hobbled(dropped: set[str]) -> dict[str, Catalogue]:
    """The catalogues without the `dropped` fields and special attributes."""
    return {
        name: Catalogue(
            c.table,
            {k: v for k, v in c.fields.items() if k not in dropped},
            {k: v for k, v in c.special.items() if k not in dropped},
        )
        for name, c in CATALOGUES.items()
    }


FIELD_NAMES = sorted(
    {name for c in CATALOGUES.values() for name in (*c.fields, *c.special) if name != "id"}
)


def same(
    tx: Tx, select: Any, kwargs: dict[str, Any], keys: Any, offset: int, limit: int, drop: set[str]
) -> None:
    reference: Selection = select(tx, sql={}, **kwargs)
    found = reference.docs(tx, keys, offset, limit)
    expected = [d["id"] for d in found]
    expected_count = reference.count(tx)
    for sql in (CATALOGUES, hobbled(drop)):
        selection: Selection = select(tx, sql=sql, **kwargs)
        assert [d["id"] for d in selection.docs(tx, keys, offset, limit)] == expected
        assert selection.count(tx) == expected_count
        # Listings answer with the stored text (see _listing): the same page, as stored.
        texts = [text for text, *_ in selection.stored(tx, keys, offset, limit)]
        assert [loads(text) for text in texts] == found


pages = {
    "offset": st.integers(0, 4),
    "limit": st.integers(0, 12),
    "drop": st.sets(st.sampled_from(FIELD_NAMES)),
}
relaxed = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


RUN_FILTERS = ("flows", "flow_runs", "task_runs", "deployments")
RESOURCES: dict[str, tuple[Any, Mapping[Any, Any], tuple[str, ...]]] = {
    "flow_runs": (flow_runs_matching, FLOW_RUN_SORTS, (*RUN_FILTERS, "work_pools", "work_queues")),
    "task_runs": (task_runs_matching, TASK_RUN_SORTS, RUN_FILTERS),
    "flows": (flows_matching, FLOW_SORTS, (*RUN_FILTERS, "work_pools", "work_queues")),
    "deployments": (
        deployments_matching,
        DEPLOYMENT_SORTS,
        ("flows", "flow_runs", "deployments", "work_pools", "work_queues"),
    ),
}
"""Each compiled listing: how it selects, its sorts, and the filters its body takes."""
FILTER_MODELS: dict[str, type[BaseModel]] = {
    "flows": FlowFilter,
    "flow_runs": FlowRunFilter,
    "task_runs": TaskRunFilter,
    "deployments": DeploymentFilter,
    "work_pools": WorkPoolFilter,
    "work_queues": WorkQueueFilter,
}


@pytest.mark.parametrize("resource", sorted(RESOURCES))
@relaxed
@given(world=worlds(), data=st.data(), **pages)
def test_listings_through_sql_as_through_the_interpreter(
    connection: sqlite3.Connection,
    resource: str,
    world: dict[str, list[Doc]],
    data: st.DataObject,
    offset: int,
    limit: int,
    drop: set[str],
) -> None:
    select, sorts, accepted = RESOURCES[resource]
    sort = data.draw(st.sampled_from(sorted(sorts)), label="sort")
    kwargs = {name: data.draw(maybe(FILTER_MODELS[name]), label=name) for name in accepted}
    with stored(connection, world) as tx:
        same(tx, select, kwargs, sorts[sort], offset, limit, drop)


tag_lists = st.lists(texts, max_size=3)
lone_tags = st.one_of(
    tag_lists.map(lambda any_: {"any_": any_}),
    texts.map(lambda tag: {"all_": [tag]}),
    st.lists(texts, min_size=2, max_size=3).map(lambda all_: {"all_": all_}),
)
"""Tag criteria alone: a lone tag condition is counted from the side table (``_sql``)."""


@pytest.mark.parametrize("resource", ["flow_runs", "task_runs"])
@relaxed
@given(world=worlds(), criteria=lone_tags, data=st.data(), **pages)
def test_a_filter_on_tags_alone_counts_and_pages_as_the_interpreter(
    connection: sqlite3.Connection,
    resource: str,
    world: dict[str, list[Doc]],
    criteria: dict[str, Any],
    data: st.DataObject,
    offset: int,
    limit: int,
    drop: set[str],
) -> None:
    assume(resource == "flow_runs" or "any_" not in criteria)  # task runs: all_ only
    select, sorts, _ = RESOURCES[resource]
    by_id = next(iter(sorts))  # ID_DESC: paged from the side table (see _queries)
    sort = data.draw(st.just(by_id) | st.sampled_from(sorted(sorts)), label="sort")
    model = FILTER_MODELS[resource].model_validate({"tags": criteria})
    with stored(connection, world) as tx:
        same(tx, select, {resource: model}, sorts[sort], offset, limit, drop)


@relaxed
@given(world=worlds(), sort=st.sampled_from(list(LOG_SORTS)), logs=maybe(LogFilter), **pages)
def test_logs_through_sql_as_through_the_interpreter(
    connection: sqlite3.Connection,
    world: dict[str, list[Doc]],
    sort: Any,
    logs: LogFilter | None,
    offset: int,
    limit: int,
    drop: set[str],
) -> None:
    def select(tx: Tx, *, sql: Any, logs: LogFilter | None) -> Selection:
        return logs_matching(tx, logs, sql=sql)

    with stored(connection, world) as tx:
        same(tx, select, {"logs": logs}, LOG_SORTS[sort], offset, limit, drop)


@settings(max_examples=100, deadline=None)
@given(
    flow_runs=filters(FlowRunFilter),
    task_runs=filters(TaskRunFilter),
    flows=filters(FlowFilter),
    deployments=filters(DeploymentFilter),
)
def test_the_client_filters_of_the_large_tables_compile_whole(
    flow_runs: FlowRunFilter,
    task_runs: TaskRunFilter,
    flows: FlowFilter,
    deployments: DeploymentFilter,
) -> None:
    """Nothing of these filters is left to the interpreter: listings page in SQLite."""
    for table, model in (
        (FLOW_RUNS, flow_runs),
        (TASK_RUNS, task_runs),
        (FLOWS, flows),
        (DEPLOYMENTS, deployments),
    ):
        assert split(model, CATALOGUES[table.name])[1] is None


def test_a_log_text_search_is_left_to_the_interpreter_and_the_rest_to_sql() -> None:
    model = LogFilter.model_validate({"level": {"ge_": 20}, "text": {"query": "error"}})
    where, left = split(model, CATALOGUES[LOGS.name])
    assert "level" in where.text
    assert left == LogFilter.model_validate({"text": {"query": "error"}})


LIKE_ALPHABET = "aAkK\u212asS\u017f\u00e9\u00c9_%"
"""Letters with their ASCII and non-ASCII case partners (Kelvin sign, long s), and the
wildcards."""


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(st.text(LIKE_ALPHABET, max_size=4), min_size=1, max_size=3, unique=True),
    like=st.text(LIKE_ALPHABET, max_size=3),
    prefixes=st.lists(st.text(LIKE_ALPHABET, max_size=2), max_size=2),
)
def test_like_and_startswith_match_as_the_interpreter(
    connection: sqlite3.Connection, names: list[str], like: str, prefixes: list[str]
) -> None:
    queues = [
        {"id": i, "name": name, "work_pool_id": POOL_IDS[0]}
        for i, name in zip(QUEUE_IDS, names, strict=False)
    ]
    deployments = [
        {"id": i, "name": name, "flow_id": FLOW_IDS[0]}
        for i, name in zip(DEPLOYMENT_IDS, names, strict=False)
    ]
    world = {WORK_QUEUES.name: queues, DEPLOYMENTS.name: deployments}
    deployments_filter = DeploymentFilter.model_validate({"name": {"like_": like}})
    queues_filter = WorkQueueFilter.model_validate({"name": {"startswith_": prefixes}})
    with stored(connection, world) as tx:
        kwargs = {"deployments": deployments_filter, "work_queues": queues_filter}
        same(tx, deployments_matching, {"deployments": deployments_filter}, [], 0, 10, set())
        same(tx, deployments_matching, kwargs, [], 0, 10, set())


NULL_CASES = [
    {"state": {"type": {"not_any_": ["FAILED"]}}},
    {"state": {"name": {"not_any_": ["Late"]}}},
    {"idempotency_key": {"not_any_": ["key-0"]}},
    {"tags": {"is_null_": True}},
    {"tags": {"is_null_": False}},
    {"parent_task_run_id": {"is_null_": True}},
    {"start_time": {"is_null_": False, "before_": "2030-01-01T03:00:00Z"}},
    {"end_time": {"before_": "2031-01-01T00:00:00Z"}},
    {"created_by": {"is_null_": True}},
    {"created_by": {"type_": ["USER"], "operator": "or_", "is_null_": True}},
    {"operator": "or_", "tags": {"any_": ["a"]}, "state": {"type": {"not_any_": ["FAILED"]}}},
]


@pytest.mark.parametrize("case", NULL_CASES)
def test_nulls_match_as_in_the_interpreter(connection: sqlite3.Connection, case: Any) -> None:
    """Criteria on missing values, where SQL's NULL logic could differ: runs with every
    field null, missing, empty or set."""
    run = {"flow_id": FLOW_IDS[0], "state_type": "FAILED", "state_name": "Late"}
    full = {**run, "tags": ["a"], "idempotency_key": "key-0", "created_by": {"type": "USER"}}
    full |= {"start_time": TIME_TEXTS[0], "end_time": TIME_TEXTS[1]}
    runs: list[Doc] = [
        {"id": RUN_IDS[0], "flow_id": FLOW_IDS[0]},
        {"id": RUN_IDS[1], **run, "tags": [], "state_type": None, "state_name": None},
        {"id": RUN_IDS[2], **full},
        {"id": RUN_IDS[3], **full, "parent_task_run_id": TASK_IDS[0], "idempotency_key": None},
        {"id": RUN_IDS[4], **full, "tags": None, "idempotency_key": "key-1"},
    ]
    model = FlowRunFilter.model_validate(case)
    with stored(connection, {FLOW_RUNS.name: runs}) as tx:
        same(
            tx,
            flow_runs_matching,
            {"flow_runs": model},
            FLOW_RUN_SORTS[FlowRunSort.ID_DESC],
            0,
            9,
            set(),
        )
