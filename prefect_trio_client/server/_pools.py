"""Work pools, their queues and workers: lookups, creation and live status.

Kept apart from the routes because flow runs and deployments resolve queues too.
Status is computed when an object is read (from heartbeat and poll times), so nothing
has to run in the background to age it: a worker is ONLINE while its last heartbeat
is newer than three heartbeat intervals, a queue is READY while it was polled in the
last 60 seconds, a pool is READY while one of its workers is ONLINE.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import ApiError, not_found
from prefect_trio_client.server._ids import new_id
from prefect_trio_client.server._tables import WORK_POOLS, WORK_QUEUES, WORKERS
from prefect_trio_client.server._time import iso, parse_iso

__all__ = [
    "DEFAULT_AGENT_POOL",
    "POOL_SLOT_STATES",
    "QUEUE_SLOT_STATES",
    "default_agent_pool",
    "new_pool",
    "new_queue",
    "pool_by_name",
    "present_pool",
    "present_queue",
    "present_worker",
    "queue_by_id",
    "queue_in_pool",
    "slot_summary",
]

DEFAULT_AGENT_POOL = "default-agent-pool"
"""Where queues made without a pool live (Prefect's name)."""

DEFAULT_HEARTBEAT_SECONDS = 30
QUEUE_POLL_FRESHNESS = timedelta(seconds=60)


def pool_by_name(tx: Tx, name: str) -> Doc:
    """The pool, or 404 with Prefect's text."""
    pool = tx.first(WORK_POOLS, name=name)
    if pool is None:
        raise not_found(f'Work pool "{name}" not found.')
    return pool


def queue_in_pool(tx: Tx, pool: Doc, name: str, *, create: bool = False) -> Doc:
    """The pool's queue of that name (made on demand when `create`), or 404."""
    queue = tx.first(WORK_QUEUES, work_pool_id=pool["id"], name=name)
    if queue is None:
        if not create:
            raise not_found(f"Work pool queue '{pool['name']}/{name}' not found.")
        queue = new_queue(tx, pool, {"name": name})
    return queue


def new_pool(tx: Tx, fields: Mapping[str, Any]) -> Doc:
    """A new pool and its "default" queue. Raises 409 when the name is taken."""
    if tx.first(WORK_POOLS, name=fields["name"]) is not None:
        raise ApiError(409, "A work pool with this name already exists.")
    pool: Doc = {
        "id": str(new_id()),
        "created": tx.now_iso,
        "updated": tx.now_iso,
        "name": fields["name"],
        "description": fields.get("description"),
        "type": fields.get("type", "prefect-agent"),
        "base_job_template": fields.get("base_job_template") or {},
        "is_paused": bool(fields.get("is_paused", False)),
        "concurrency_limit": fields.get("concurrency_limit"),
        "status": "NOT_READY",
        "default_queue_id": None,
        "storage_configuration": fields.get("storage_configuration")
        or {
            "bundle_upload_step": None,
            "bundle_execution_step": None,
            "default_result_storage_block_id": None,
        },
        "active_slots": 0,
    }
    tx.insert(WORK_POOLS, pool)
    default = new_queue(
        tx, pool, {"name": "default", "description": "The work pool's default queue."}
    )
    pool["default_queue_id"] = default["id"]
    tx.update(WORK_POOLS, pool)
    return pool


def new_queue(tx: Tx, pool: Doc, fields: Mapping[str, Any]) -> Doc:
    """A new queue in `pool`; without a priority it goes last. 409 when the name is taken."""
    siblings = tx.find(WORK_QUEUES, work_pool_id=pool["id"])
    if any(q["name"] == fields["name"] for q in siblings):
        raise ApiError(409, "A work queue with this name already exists.")
    priority = fields.get("priority")
    if priority is None:
        priority = max((int(q["priority"]) for q in siblings), default=0) + 1
    queue: Doc = {
        "id": str(new_id()),
        "created": tx.now_iso,
        "updated": tx.now_iso,
        "name": fields["name"],
        "description": fields.get("description") or "",
        "is_paused": bool(fields.get("is_paused", False)),
        "concurrency_limit": fields.get("concurrency_limit"),
        "priority": priority,
        "work_pool_id": pool["id"],
        "filter": fields.get("filter"),
        "last_polled": None,
        "work_pool_name": pool["name"],
        "status": "NOT_READY",
        "active_slots": None,
    }
    tx.insert(WORK_QUEUES, queue)
    return queue


def default_agent_pool(tx: Tx) -> Doc:
    """Prefect's pool for queues made without one, created the first time it is needed."""
    pool = tx.first(WORK_POOLS, name=DEFAULT_AGENT_POOL)
    if pool is None:
        pool = new_pool(tx, {"name": DEFAULT_AGENT_POOL, "type": "prefect-agent"})
    return pool


def _worker_online(tx: Tx, worker: Doc) -> bool:
    beat: str | None = worker.get("last_heartbeat_time")
    if beat is None:
        return False
    interval = worker.get("heartbeat_interval_seconds") or DEFAULT_HEARTBEAT_SECONDS
    return beat >= iso(tx.now - timedelta(seconds=3 * interval))


def present_worker(tx: Tx, worker: Doc) -> Doc:
    return {**worker, "status": "ONLINE" if _worker_online(tx, worker) else "OFFLINE"}


def present_pool(tx: Tx, pool: Doc) -> Doc:
    if pool.get("is_paused"):
        status = "PAUSED"
    elif any(_worker_online(tx, w) for w in tx.find(WORKERS, work_pool_id=pool["id"])):
        status = "READY"
    else:
        status = "NOT_READY"
    return {**pool, "status": status}


def present_queue(tx: Tx, queue: Doc) -> Doc:
    polled = queue.get("last_polled")
    if queue.get("is_paused"):
        status = "PAUSED"
    elif polled is not None and polled >= iso(tx.now - QUEUE_POLL_FRESHNESS):
        status = "READY"
    else:
        status = "NOT_READY"
    return {**queue, "status": status}


# --------------------------------------------------------------------------- issue 11: queues-misc

QUEUE_NOT_FOUND = "work queue not found"

#: States whose runs hold a slot, as Prefect's two schedulers count them: a pool's
#: scheduler counts Pending and Running, a queue's also Cancelling.
POOL_SLOT_STATES = frozenset({"PENDING", "RUNNING"})
QUEUE_SLOT_STATES = frozenset({"PENDING", "RUNNING", "CANCELLING"})


def queue_by_id(tx: Tx, queue_id: str, detail: str = QUEUE_NOT_FOUND) -> Doc:
    """The queue, or 404 with `detail` (Prefect's texts differ from route to route)."""
    queue = tx.get(WORK_QUEUES, queue_id)
    if queue is None:
        raise not_found(detail)
    return queue


def slot_summary(run: Doc, now: datetime) -> Doc:
    """A slot-holding run as Prefect's ``FlowRunSlotSummary``."""
    stamp = (run.get("state") or {}).get("timestamp")
    since = None if stamp is None else (now - parse_iso(stamp)).total_seconds()
    return {
        "id": run["id"],
        "name": run["name"],
        "state_type": run.get("state_type"),
        "state_name": run.get("state_name"),
        "start_time": run.get("start_time"),
        "state_timestamp": stamp,
        "time_in_current_state": since,
    }
