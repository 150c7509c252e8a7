"""The SQLite schema: one table per resource, each row a JSON document plus its keys.

Every table has ``id`` and ``doc`` (the object exactly as the API returns it, as JSON)
and a few key columns copied out of the document, which carry the unique constraints
(a flow's name, a run's idempotency key, ...) and the indexes that lookups use. Filters
run on the documents (see ``_filters``), so adding a filter never needs a migration.

`MIGRATIONS` is append-only: entry ``n`` takes a database from ``PRAGMA user_version``
``n`` to ``n + 1``. Never edit an entry that has shipped; add one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ARTIFACTS",
    "CONCURRENCY_LEASES",
    "CONCURRENCY_LIMITS",
    "CSRF_TOKENS",
    "DEPLOYMENTS",
    "FLOWS",
    "FLOW_RUNS",
    "FLOW_RUN_INPUTS",
    "FLOW_RUN_STATES",
    "LOGS",
    "MIGRATIONS",
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
FLOW_RUNS = Table(
    "flow_runs",
    ("flow_id", "deployment_id", "idempotency_key", "parent_task_run_id", "work_queue_id"),
)
FLOW_RUN_STATES = Table("flow_run_states", ("run_id",))
TASK_RUNS = Table("task_runs", ("flow_run_id", "task_key", "dynamic_key"))
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
FLOW_RUN_INPUTS = Table("flow_run_inputs", ("flow_run_id", "key"))  # issue 11: queues-misc


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
    # 1 -> 2 (issue 11, queues-misc): flow run inputs, one per key of a run.
    (
        "CREATE TABLE flow_run_inputs (id TEXT PRIMARY KEY, flow_run_id TEXT NOT NULL,"
        " key TEXT NOT NULL, doc TEXT NOT NULL)",
        "CREATE UNIQUE INDEX uq_flow_run_inputs_key ON flow_run_inputs (flow_run_id, key)",
    ),
)
