"""Which objects a filter request selects, across resources, and how it is paged.

A ``/flow_runs/filter`` body may also filter by the runs' flows, deployments, task
runs, work pools and queues; Prefect joins those tables, and so do these functions. A
filter given as an empty object still joins: ``"task_runs": {}`` keeps only flow runs
that have task runs, as in Prefect.

Each resource's filters become a `Selection`: an SQL condition from the compiler
(``_sql``) and, for what it could not say, a predicate from the interpreter
(``_filters``), checked on the documents SQL found. A joined filter is a subquery when SQL
says it all, and otherwise the ids the interpreter picked, as one JSON parameter. When
nothing is left to the interpreter, SQLite sorts, counts and pages with its indexes;
otherwise SQL still narrows and sorts, and the interpreter filters before the page is
cut. ``sql={}`` sends everything to the interpreter: the reference the property
tests compare against. Everything here runs in the database's worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, NonNegativeInt

from prefect_trio_client.schemas.filters import (
    ArtifactFilter,
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    LogFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from prefect_trio_client.server._db import Doc, Tx, loads
from prefect_trio_client.server._errors import ApiError
from prefect_trio_client.server._filters import (
    FieldValue,
    Predicate,
    SortKeys,
    always,
    compile_filter,
    deployment_predicate,
    flow_predicate,
    flow_run_predicate,
    log_predicate,
    sort_docs,
    task_run_predicate,
)
from prefect_trio_client.server._sql import (
    CATALOGUES,
    TRUE,
    Catalogue,
    Sql,
    all_of,
    order_by,
    split,
)
from prefect_trio_client.server._tables import (
    ARTIFACTS,
    DEPLOYMENTS,
    FLOW_RUNS,
    FLOWS,
    LOGS,
    TASK_RUNS,
    WORK_POOLS,
    WORK_QUEUES,
    Table,
)

__all__ = [
    "PageBody",
    "Row",
    "Selection",
    "StoredJson",
    "artifacts_matching",
    "deployments_matching",
    "flow_runs_matching",
    "flows_matching",
    "limit_of",
    "logs_matching",
    "queue_ids_matching",
    "task_runs_matching",
]


class PageBody(BaseModel):
    """The paging part of a filter body; other keys a client sends are ignored."""

    model_config = ConfigDict(extra="ignore")

    limit: int | None = None
    offset: NonNegativeInt | None = None


def limit_of(limit: int | None, default_limit: int) -> int:
    """Prefect's page size rule: absent means the default, which is also the maximum."""
    if limit is None:
        return default_limit
    if limit < 0:
        raise ApiError(422, "Invalid limit: must be greater than or equal to 0.")
    if limit > default_limit:
        raise ApiError(422, f"Invalid limit: must be less than or equal to {default_limit}.")
    return limit


Row = tuple[Any, ...]
"""A stored document's JSON text, then the other values a query asked for."""


@dataclass(frozen=True)
class StoredJson:
    """How a listing presents stored documents from their JSON text, without decoding them:
    the values it needs besides the text (SQL expressions on the table) and one item's JSON
    from a `Row` of them."""

    columns: tuple[str, ...]
    present: Callable[[Tx, Row], str]


@dataclass(frozen=True)
class Selection:
    """The documents of `table` that satisfy `where` (SQL) and then `rest` (Python)."""

    table: Table
    where: Sql = TRUE
    rest: Predicate = always
    catalogue: Catalogue | None = None
    """How SQL reads the table's fields, for sorting (None: sort in Python)."""

    def docs(
        self, tx: Tx, keys: SortKeys | None = None, offset: int = 0, limit: int | None = None
    ) -> list[Doc]:
        """The matching documents in the order of `keys` (none: oldest first), paged."""
        return [
            loads(row[0]) if doc is None else doc
            for doc, row in self._matches(tx, keys, offset, limit, ())
        ]

    def stored(
        self,
        tx: Tx,
        keys: SortKeys | None = None,
        offset: int = 0,
        limit: int | None = None,
        columns: Sequence[str] = (),
    ) -> list[Row]:
        """The page as `docs`, each match as stored: its JSON text, then the values of
        `columns` (SQL expressions on the table). What SQL selects alone is not decoded."""
        return [row for _, row in self._matches(tx, keys, offset, limit, columns)]

    def _matches(
        self,
        tx: Tx,
        keys: SortKeys | None,
        offset: int,
        limit: int | None,
        columns: Sequence[str],
    ) -> Sequence[tuple[Doc | None, Row]]:
        """The page's rows, with the document where the interpreter had to decode it."""
        name = self.table.name
        order = f"{name}.rowid" if keys is None else order_by(keys, self.catalogue)
        selected = ", ".join([f"{name}.doc", *columns])
        if self.rest is always and order is not None:
            positions = self._positions(order, _id_order(keys))
            return [(None, row) for row in self._page(tx, positions, offset, limit, selected)]
        query = f"SELECT {selected} FROM {name} WHERE {self.where.text}"
        if order is not None:
            query += f" ORDER BY {order}"
        found = [
            (doc, row)
            for row in tx.rows(query, self.where.params)
            if self.rest(doc := loads(row[0]))
        ]
        if order is None and keys is not None:
            rows = {id(doc): row for doc, row in found}
            found = [(doc, rows[id(doc)]) for doc in sort_docs([doc for doc, _ in found], keys)]
        return found[offset:] if limit is None else found[offset : offset + limit]

    def _positions(self, order: str, id_order: str | None) -> Sql:
        """The query of the page's rowids in `order`, ending in ``LIMIT ? OFFSET ?``."""
        name = self.table.name
        alone = self.where.alone
        if alone is not None and id_order is not None:
            # The side table is sorted by id: page it, then look up only the page's rows
            # (10k of 100k runs tagged: 10 ms for all of their ids, 0.2 ms for a page).
            return Sql(
                f"SELECT {name}.rowid FROM ({alone.text} ORDER BY id {id_order}"
                f" LIMIT ? OFFSET ?) AS page JOIN {name} ON {name}.id = page.id"
                f" ORDER BY {name}.id {id_order}",
                alone.params,
            )
        return Sql(
            f"SELECT {name}.rowid FROM {name} WHERE {self.where.text}"
            f" ORDER BY {order} LIMIT ? OFFSET ?",
            self.where.params,
        )

    def _page(
        self, tx: Tx, positions: Sql, offset: int, limit: int | None, selected: str
    ) -> list[Row]:
        """One page in SQL: the rows' positions first (a sort then carries no documents),
        then the page's rows."""
        name = self.table.name
        params = (*positions.params, -1 if limit is None else limit, offset)
        rowids = [rowid for (rowid,) in tx.rows(positions.text, params)]
        if not rowids:
            return []
        rows = {
            rowid: tuple(row)
            for rowid, *row in tx.rows(
                f"SELECT {name}.rowid, {selected} FROM {name}"
                f" WHERE {name}.rowid IN (SELECT value FROM json_each(?))",
                (json.dumps(rowids),),
            )
        }
        return [rows[rowid] for rowid in rowids]

    def count(self, tx: Tx) -> int:
        if self.rest is always:
            alone = self.where.alone
            if alone is not None:
                ((total,),) = tx.rows(f"SELECT count(*) FROM ({alone.text})", alone.params)
                return int(total)
            query = f"SELECT count(*) FROM {self.table.name} WHERE {self.where.text}"
            ((total,),) = tx.rows(query, self.where.params)
            return int(total)
        return len(self.docs(tx))

    def values(self, tx: Tx, column: str = "id") -> Sql:
        """A subquery of the matching documents' `column` (a key column), for ``IN``."""
        if self.rest is always:
            name = self.table.name
            return Sql(
                f"SELECT {name}.{column} FROM {name} WHERE {self.where.text}", self.where.params
            )
        found = sorted({str(doc[column]) for doc in self.docs(tx) if doc.get(column) is not None})
        return Sql("SELECT value FROM json_each(?)", (json.dumps(found),))


def _id_order(keys: SortKeys | None) -> str | None:
    """``ASC`` or ``DESC`` when `keys` sort by id alone, else None."""
    if keys is None or len(keys) != 1:
        return None
    getter, descending = keys[0]
    if not isinstance(getter, FieldValue) or getter.paths != ("id",):
        return None
    return "DESC" if descending else "ASC"


M = TypeVar("M", bound=BaseModel)
Catalogues = Mapping[str, Catalogue]
"""The tables SQL filters, by name (`CATALOGUES`); the others go to the interpreter."""


def _select(
    table: Table,
    model: M | None,
    interpret: Callable[[M], Predicate],
    joins: list[Sql],
    sql: Catalogues,
) -> Selection:
    catalogue = sql.get(table.name)
    where, left = split(model, catalogue)
    rest = always if left is None else interpret(left)
    return Selection(table, all_of([where, *joins]), rest, catalogue)


def _in(expression: str, query: Sql) -> Sql:
    return Sql(f"{expression} IN ({query.text})", query.params)


def queue_ids_matching(
    tx: Tx,
    work_pools: WorkPoolFilter | None,
    work_queues: WorkQueueFilter | None,
    *,
    sql: Catalogues = CATALOGUES,
) -> Sql:
    """A subquery of the ids of the work queues in matching pools that match the queue filter."""
    joins: list[Sql] = []
    if work_pools is not None:
        pools = _select(WORK_POOLS, work_pools, compile_filter, [], sql)
        joins.append(_in("work_queues.work_pool_id", pools.values(tx)))
    return _select(WORK_QUEUES, work_queues, compile_filter, joins, sql).values(tx)


def flow_runs_matching(
    tx: Tx,
    *,
    flows: FlowFilter | None = None,
    flow_runs: FlowRunFilter | None = None,
    task_runs: TaskRunFilter | None = None,
    deployments: DeploymentFilter | None = None,
    work_pools: WorkPoolFilter | None = None,
    work_queues: WorkQueueFilter | None = None,
    sql: Catalogues = CATALOGUES,
) -> Selection:
    """Flow runs matching every filter given (see the module docstring)."""
    joins: list[Sql] = []
    if flows is not None:
        found = flows_matching(tx, flows=flows, sql=sql)
        joins.append(_in("flow_runs.flow_id", found.values(tx)))
    if deployments is not None:
        found = deployments_matching(tx, deployments=deployments, sql=sql)
        joins.append(_in("flow_runs.deployment_id", found.values(tx)))
    if task_runs is not None:
        tasks = task_runs_matching(tx, task_runs=task_runs, sql=sql)
        joins.append(_in("flow_runs.id", tasks.values(tx, "flow_run_id")))
    if work_pools is not None or work_queues is not None:
        queues = queue_ids_matching(tx, work_pools, work_queues, sql=sql)
        joins.append(_in("flow_runs.work_queue_id", queues))
    return _select(FLOW_RUNS, flow_runs, lambda left: flow_run_predicate(left, tx), joins, sql)


def task_runs_matching(
    tx: Tx,
    *,
    flows: FlowFilter | None = None,
    flow_runs: FlowRunFilter | None = None,
    task_runs: TaskRunFilter | None = None,
    deployments: DeploymentFilter | None = None,
    sql: Catalogues = CATALOGUES,
) -> Selection:
    """Task runs matching every filter given (flow-level filters apply to their flow run)."""
    joins: list[Sql] = []
    if flows is not None or flow_runs is not None or deployments is not None:
        runs = flow_runs_matching(
            tx, flows=flows, flow_runs=flow_runs, deployments=deployments, sql=sql
        )
        joins.append(_in("task_runs.flow_run_id", runs.values(tx)))
    return _select(TASK_RUNS, task_runs, lambda left: task_run_predicate(left, tx), joins, sql)


def flows_matching(
    tx: Tx,
    *,
    flows: FlowFilter | None = None,
    flow_runs: FlowRunFilter | None = None,
    task_runs: TaskRunFilter | None = None,
    deployments: DeploymentFilter | None = None,
    work_pools: WorkPoolFilter | None = None,
    work_queues: WorkQueueFilter | None = None,
    sql: Catalogues = CATALOGUES,
) -> Selection:
    """Flows matching the flow filter that have matching runs and deployments."""
    joins: list[Sql] = []
    if flow_runs is not None or task_runs is not None:
        runs = flow_runs_matching(tx, flow_runs=flow_runs, task_runs=task_runs, sql=sql)
        joins.append(_in("flows.id", runs.values(tx, "flow_id")))
    if deployments is not None or work_pools is not None or work_queues is not None:
        found = deployments_matching(
            tx,
            deployments=deployments,
            work_pools=work_pools,
            work_queues=work_queues,
            sql=sql,
        )
        joins.append(_in("flows.id", found.values(tx, "flow_id")))
    return _select(FLOWS, flows, lambda left: flow_predicate(left, tx), joins, sql)


def deployments_matching(
    tx: Tx,
    *,
    flows: FlowFilter | None = None,
    flow_runs: FlowRunFilter | None = None,
    task_runs: TaskRunFilter | None = None,
    deployments: DeploymentFilter | None = None,
    work_pools: WorkPoolFilter | None = None,
    work_queues: WorkQueueFilter | None = None,
    sql: Catalogues = CATALOGUES,
) -> Selection:
    """Deployments matching the filter, of matching flows, with matching runs and queues."""
    joins: list[Sql] = []
    if flows is not None:
        found = flows_matching(tx, flows=flows, sql=sql)
        joins.append(_in("deployments.flow_id", found.values(tx)))
    if flow_runs is not None or task_runs is not None:
        runs = flow_runs_matching(tx, flow_runs=flow_runs, task_runs=task_runs, sql=sql)
        joins.append(_in("deployments.id", runs.values(tx, "deployment_id")))
    if work_pools is not None or work_queues is not None:
        queues = queue_ids_matching(tx, work_pools, work_queues, sql=sql)
        joins.append(_in("json_extract(deployments.doc, '$.work_queue_id')", queues))
    return _select(
        DEPLOYMENTS, deployments, lambda left: deployment_predicate(left, tx), joins, sql
    )


def logs_matching(tx: Tx, logs: LogFilter | None, *, sql: Catalogues = CATALOGUES) -> Selection:
    return _select(LOGS, logs, log_predicate, [], sql)


def artifacts_matching(
    tx: Tx,
    *,
    artifacts: ArtifactFilter | None = None,
    flow_runs: FlowRunFilter | None = None,
    task_runs: TaskRunFilter | None = None,
) -> list[Doc]:
    joins: list[Sql] = []
    if flow_runs is not None:
        runs = flow_runs_matching(tx, flow_runs=flow_runs)
        joins.append(_in("artifacts.flow_run_id", runs.values(tx)))
    if task_runs is not None:
        tasks = task_runs_matching(tx, task_runs=task_runs)
        joins.append(_in("artifacts.task_run_id", tasks.values(tx)))
    return _select(ARTIFACTS, artifacts, compile_filter, joins, {}).docs(tx)
