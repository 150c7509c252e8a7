"""The SQLite schema: one table per resource, each row a JSON document plus its keys.

Every table has ``id`` and ``doc`` (the object exactly as the API returns it, as JSON)
and a few key columns copied out of the document, which carry the unique constraints
(a flow's name, a run's idempotency key, ...) and the indexes that lookups use. Filters
run in SQL (see ``_sql``; ``_filters`` is the reference): a field with a key column is
read there, any other through SQLite's ``json_extract`` on the document, so adding a
filter never needs a migration; an index does. The runs' tags are mirrored by triggers
into side tables (``flow_run_tags``, ``task_run_tags``: one row per tag and run) so tag
filters use an index.

`MIGRATIONS` is append-only: entry ``n`` takes a database from ``PRAGMA user_version``
``n`` to ``n + 1``. Never edit an entry that has shipped; add one.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from prefect_trio_client.server._system_blocks import SYSTEM_BLOCKS

__all__ = [
    "ARTIFACTS",
    "AUTOMATIONS",
    "AUTOMATION_RELATED_RESOURCES",
    "BLOCK_DOCUMENTS",
    "BLOCK_SCHEMAS",
    "BLOCK_TYPES",
    "CONCURRENCY_LEASES",
    "CONCURRENCY_LIMITS",
    "CSRF_TOKENS",
    "DEPLOYMENTS",
    "EVENTS",
    "FLOWS",
    "FLOW_RUNS",
    "FLOW_RUN_INPUTS",
    "FLOW_RUN_STATES",
    "LOGS",
    "MIGRATIONS",
    "RUN_LISTED_FIELDS",
    "SERVER_SETTINGS",
    "TASK_RUNS",
    "TASK_RUN_STATES",
    "VARIABLES",
    "WORKERS",
    "WORK_POOLS",
    "WORK_QUEUES",
    "Table",
]


@dataclass(frozen=True)
class Table:
    """A table's name and the key columns copied from each document's top level."""

    name: str
    keys: tuple[str, ...] = ()


FLOWS = Table("flows", ("name",))
RUN_LISTED_FIELDS = (
    "name",
    "state_type",
    "state_name",
    "expected_start_time",
    "next_scheduled_start_time",
    "start_time",
    "end_time",
)
"""Fields of a run that listings filter and sort on, kept as indexed key columns (issue 12);
migration 7 adds them (a field added here needs a migration of its own)."""
FLOW_RUNS = Table(
    "flow_runs",
    (
        "flow_id",
        "deployment_id",
        "idempotency_key",
        "parent_task_run_id",
        "work_queue_id",
        *RUN_LISTED_FIELDS,
    ),
)
FLOW_RUN_STATES = Table("flow_run_states", ("run_id",))
TASK_RUNS = Table("task_runs", ("flow_run_id", "task_key", "dynamic_key", *RUN_LISTED_FIELDS))
TASK_RUN_STATES = Table("task_run_states", ("run_id",))
DEPLOYMENTS = Table("deployments", ("flow_id", "name"))
LOGS = Table("logs", ("flow_run_id", "task_run_id"))
VARIABLES = Table("variables", ("name",))
WORK_POOLS = Table("work_pools", ("name",))
WORK_QUEUES = Table("work_queues", ("work_pool_id", "name"))
WORKERS = Table("workers", ("work_pool_id", "name"))
CONCURRENCY_LIMITS = Table("concurrency_limits", ("name",))
CONCURRENCY_LEASES = Table("concurrency_leases", ("expiration",))
ARTIFACTS = Table("artifacts", ("key", "flow_run_id", "task_run_id"))
CSRF_TOKENS = Table("csrf_tokens", ("client",))
BLOCK_TYPES = Table("block_types", ("name", "slug"))
BLOCK_SCHEMAS = Table("block_schemas", ("block_type_id", "checksum"))
BLOCK_DOCUMENTS = Table("block_documents", ("block_type_id", "name"))


# --------------------------------------------------------------------------- blocks

_SYSTEM_BLOCKS_INSTALLED = "2026-01-01T00:00:00.000000Z"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _insert(table: Table, doc: dict[str, Any]) -> str:
    columns = ["id", *table.keys, "doc"]
    values = [doc["id"], *(doc.get(key) for key in table.keys)]
    texts = [_sql_text(str(v)) for v in values]
    texts.append(_sql_text(json.dumps(doc, separators=(",", ":"), ensure_ascii=False)))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(texts)})"


def _system_block_rows() -> tuple[str, ...]:
    """Prefect's protected block types and their schemas, with ids fixed by slug."""
    rows: list[str] = []
    for block in SYSTEM_BLOCKS:
        slug = block["block_type"]["slug"]
        type_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"prefect-block-type:{slug}"))
        stamps = {"created": _SYSTEM_BLOCKS_INSTALLED, "updated": _SYSTEM_BLOCKS_INSTALLED}
        rows.append(_insert(BLOCK_TYPES, {"id": type_id, **stamps, **block["block_type"]}))
        schema_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"prefect-block-schema:{slug}"))
        schema = {"id": schema_id, **stamps, "block_type_id": type_id, **block["block_schema"]}
        rows.append(_insert(BLOCK_SCHEMAS, schema))
    return tuple(rows)


# automations
AUTOMATIONS = Table("automations", ("name",))
AUTOMATION_RELATED_RESOURCES = Table(
    "automation_related_resources", ("automation_id", "resource_id")
)
"""Which resources an automation relates to (its owner; deployments its actions run),
one row per pair, with whether the resource owns it."""
FLOW_RUN_INPUTS = Table("flow_run_inputs", ("flow_run_id", "key"))  # issue 11: queues-misc
# issue 11: events
EVENTS = Table("events", ("occurred", "event", "resource_id"))
SERVER_SETTINGS = Table("server_settings")
"""Settings the API itself keeps, one document per setting (``default_result_storage``)."""
"""Events as the API returns them (``ReceivedEvent``); ``occurred`` is Prefect's fixed-width
UTC text, so ranges and order by time are ranges and order of the text."""


# --------------------------------------------------------------------------- issue 12: scale


def _run_tags(runs: str, tags: str) -> tuple[str, ...]:
    """A side table of `runs`' tags (text items of the ``tags`` list), kept by triggers."""
    mirror = (
        f"INSERT OR IGNORE INTO {tags} (tag, run_id) SELECT value, new.id"
        " FROM json_each(new.doc, '$.tags')"
        " WHERE type = 'text' AND json_type(new.doc, '$.tags') = 'array';"
    )
    return (
        f"CREATE TABLE {tags} (tag TEXT NOT NULL, run_id TEXT NOT NULL,"
        " PRIMARY KEY (tag, run_id)) WITHOUT ROWID",
        f"CREATE INDEX ix_{tags}_run ON {tags} (run_id)",
        f"INSERT OR IGNORE INTO {tags} (tag, run_id) SELECT json_each.value, {runs}.id"
        f" FROM {runs}, json_each({runs}.doc, '$.tags')"
        f" WHERE json_each.type = 'text' AND json_type({runs}.doc, '$.tags') = 'array'",
        f"CREATE TRIGGER tr_{tags}_insert AFTER INSERT ON {runs} BEGIN {mirror} END",
        f"CREATE TRIGGER tr_{tags}_update AFTER UPDATE OF doc ON {runs}"
        " WHEN json_extract(old.doc, '$.tags') IS NOT json_extract(new.doc, '$.tags')"
        f" BEGIN DELETE FROM {tags} WHERE run_id = old.id; {mirror} END",
        f"CREATE TRIGGER tr_{tags}_delete AFTER DELETE ON {runs}"
        f" BEGIN DELETE FROM {tags} WHERE run_id = old.id; END",
    )


def _listings_in_sql() -> tuple[str, ...]:
    """Migration 6 -> 7: the runs' listed fields as indexed columns, tags in side tables."""
    listed = (  # as RUN_LISTED_FIELDS was when this migration shipped
        "name",
        "state_type",
        "state_name",
        "expected_start_time",
        "next_scheduled_start_time",
        "start_time",
        "end_time",
    )
    statements: list[str] = []
    for runs, tags in (("flow_runs", "flow_run_tags"), ("task_runs", "task_run_tags")):
        statements += [f"ALTER TABLE {runs} ADD COLUMN {name} TEXT" for name in listed]
        filled = ", ".join(f"{name} = json_extract(doc, '$.{name}')" for name in listed)
        statements.append(f"UPDATE {runs} SET {filled}")
        # Each ends in id: a listing sorted by the field, ties by id, walks the index.
        statements += [f"CREATE INDEX ix_{runs}_{name} ON {runs} ({name}, id)" for name in listed]
        statements += _run_tags(runs, tags)
    statements.append("CREATE INDEX ix_task_runs_flow_run ON task_runs (flow_run_id, id)")
    started = "coalesce(start_time, expected_start_time)"  # sorts by start time
    statements.append(f"CREATE INDEX ix_flow_runs_start ON flow_runs ({started}, id)")
    statements.append("CREATE INDEX ix_flow_runs_flow ON flow_runs (flow_id, id)")
    return tuple(statements)


MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 0 -> 1: the first schema.
    (
        "CREATE TABLE flows (id TEXT PRIMARY KEY, name TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_flows_name ON flows (name)",
        "CREATE TABLE flow_runs (id TEXT PRIMARY KEY, flow_id TEXT NOT NULL,"
        " deployment_id TEXT, idempotency_key TEXT, parent_task_run_id TEXT,"
        " work_queue_id TEXT, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_flow_runs_idempotency ON flow_runs (flow_id, idempotency_key)",
        "CREATE INDEX ix_flow_runs_deployment ON flow_runs (deployment_id)",
        "CREATE INDEX ix_flow_runs_parent_task ON flow_runs (parent_task_run_id)",
        "CREATE INDEX ix_flow_runs_work_queue ON flow_runs (work_queue_id)",
        "CREATE TABLE flow_run_states (id TEXT PRIMARY KEY, run_id TEXT NOT NULL,"
        " doc TEXT NOT NULL)",
        "CREATE INDEX ix_flow_run_states_run ON flow_run_states (run_id)",
        "CREATE TABLE task_runs (id TEXT PRIMARY KEY, flow_run_id TEXT, task_key TEXT NOT NULL,"
        " dynamic_key TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_task_runs_key ON task_runs (flow_run_id, task_key, dynamic_key)",
        "CREATE TABLE task_run_states (id TEXT PRIMARY KEY, run_id TEXT NOT NULL,"
        " doc TEXT NOT NULL)",
        "CREATE INDEX ix_task_run_states_run ON task_run_states (run_id)",
        "CREATE TABLE deployments (id TEXT PRIMARY KEY, flow_id TEXT NOT NULL,"
        " name TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_deployments_name ON deployments (flow_id, name)",
        "CREATE TABLE logs (id TEXT PRIMARY KEY, flow_run_id TEXT, task_run_id TEXT,"
        " doc TEXT NOT NULL)",
        "CREATE INDEX ix_logs_flow_run ON logs (flow_run_id)",
        "CREATE INDEX ix_logs_task_run ON logs (task_run_id)",
        "CREATE TABLE variables (id TEXT PRIMARY KEY, name TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_variables_name ON variables (name)",
        "CREATE TABLE work_pools (id TEXT PRIMARY KEY, name TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_work_pools_name ON work_pools (name)",
        "CREATE TABLE work_queues (id TEXT PRIMARY KEY, work_pool_id TEXT NOT NULL,"
        " name TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_work_queues_name ON work_queues (work_pool_id, name)",
        "CREATE TABLE workers (id TEXT PRIMARY KEY, work_pool_id TEXT NOT NULL,"
        " name TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_workers_name ON workers (work_pool_id, name)",
        "CREATE TABLE concurrency_limits (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_concurrency_limits_name ON concurrency_limits (name)",
        "CREATE TABLE concurrency_leases (id TEXT PRIMARY KEY, expiration TEXT NOT NULL,"
        " doc TEXT NOT NULL)",
        "CREATE INDEX ix_concurrency_leases_expiration ON concurrency_leases (expiration)",
        "CREATE TABLE artifacts (id TEXT PRIMARY KEY, key TEXT, flow_run_id TEXT,"
        " task_run_id TEXT, doc TEXT NOT NULL)",
        "CREATE INDEX ix_artifacts_key ON artifacts (key)",
        "CREATE TABLE csrf_tokens (id TEXT PRIMARY KEY, client TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_csrf_tokens_client ON csrf_tokens (client)",
    ),
    # 1 -> 2: blocks (types, schemas, documents), with Prefect's protected system types.
    (
        "CREATE TABLE block_types (id TEXT PRIMARY KEY, name TEXT NOT NULL, slug TEXT NOT NULL,"
        " doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_block_types_name ON block_types (name)",
        "CREATE UNIQUE INDEX uq_block_types_slug ON block_types (slug)",
        "CREATE TABLE block_schemas (id TEXT PRIMARY KEY, block_type_id TEXT NOT NULL,"
        " checksum TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE INDEX ix_block_schemas_type ON block_schemas (block_type_id)",
        "CREATE INDEX ix_block_schemas_checksum ON block_schemas (checksum)",
        "CREATE TABLE block_documents (id TEXT PRIMARY KEY, block_type_id TEXT NOT NULL,"
        " name TEXT, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_block_documents_name ON block_documents (block_type_id, name)",
        *_system_block_rows(),
    ),
    # 2 -> 3: automations.
    (
        "CREATE TABLE automations (id TEXT PRIMARY KEY, name TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE INDEX ix_automations_name ON automations (name)",
        "CREATE TABLE automation_related_resources (id TEXT PRIMARY KEY,"
        " automation_id TEXT NOT NULL, resource_id TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_automation_related_resources"
        " ON automation_related_resources (automation_id, resource_id)",
        "CREATE INDEX ix_automation_related_resources_resource"
        " ON automation_related_resources (resource_id)",
    ),
    # 3 -> 4: flow run inputs, one per key of a run.
    (
        "CREATE TABLE flow_run_inputs (id TEXT PRIMARY KEY, flow_run_id TEXT NOT NULL,"
        " key TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_flow_run_inputs_key ON flow_run_inputs (flow_run_id, key)",
    ),
    # 4 -> 5: events (issue 11: events).
    (
        "CREATE TABLE events (id TEXT PRIMARY KEY, occurred TEXT NOT NULL, event TEXT NOT NULL,"
        " resource_id TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE INDEX ix_events_occurred ON events (occurred, id)",
        "CREATE INDEX ix_events_resource ON events (resource_id, occurred)",
    ),
    # 5 -> 6: settings the API keeps (the default result storage).
    ("CREATE TABLE server_settings (id TEXT PRIMARY KEY, doc TEXT NOT NULL)",),
    # ---------------------------------------------------------------- issue 12: scale
    # 6 -> 7: listings in SQL. The runs' listed fields become indexed key columns (filled
    # from the documents), and their tags go to side tables kept by triggers.
    _listings_in_sql(),
)
