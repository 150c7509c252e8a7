"""Work pools, their queues (and Prefect's legacy queue routes), workers' heartbeats,
and the scheduled runs a worker polls for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python
from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import (
    WorkPoolCreate,
    WorkPoolUpdate,
    WorkQueueCreate,
    WorkQueueUpdate,
)
from prefect_trio_client.schemas.filters import WorkerFilter, WorkPoolFilter, WorkQueueFilter
from prefect_trio_client.schemas.objects import DateTime, StateType
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import ApiError, not_found
from prefect_trio_client.server._filters import compile_filter, page, sort_docs
from prefect_trio_client.server._http import (
    Reply,
    api_of,
    created,
    json_body,
    no_content,
    ok,
    path_id,
    route,
    validate,
)
from prefect_trio_client.server._ids import new_id
from prefect_trio_client.server._pools import (
    POOL_SLOT_STATES,
    QUEUE_NOT_FOUND,
    QUEUE_SLOT_STATES,
    default_agent_pool,
    new_pool,
    new_queue,
    pool_by_name,
    present_pool,
    present_queue,
    present_worker,
    queue_by_id,
    queue_in_pool,
    slot_summary,
)
from prefect_trio_client.server._queries import PageBody, limit_of
from prefect_trio_client.server._runs import present_run
from prefect_trio_client.server._tables import (
    DEPLOYMENTS,
    FLOW_RUNS,
    WORK_POOLS,
    WORK_QUEUES,
    WORKERS,
)
from prefect_trio_client.server._time import iso

__all__ = ["ROUTES"]

QUEUE_HEALTHY_POLL = timedelta(seconds=60)
"""How recently a queue must have been polled to be healthy (Prefect's default policy)."""
_BUSY = (StateType.PENDING.value, StateType.RUNNING.value, StateType.CANCELLING.value)


class WorkPoolsBody(PageBody):
    work_pools: WorkPoolFilter | None = None


class WorkQueuesBody(PageBody):
    work_queues: WorkQueueFilter | None = None


class HeartbeatBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    heartbeat_interval_seconds: int | None = None
    metadata: dict[str, Any] | None = None
    return_id: bool = False


class PoolRunsBody(BaseModel):
    """Body of ``/work_pools/{name}/get_scheduled_flow_runs``."""

    model_config = ConfigDict(extra="ignore")

    work_queue_names: list[str] | None = None
    scheduled_before: DateTime | None = None
    scheduled_after: DateTime | None = None
    limit: int | None = None


# --------------------------------------------------------------------------- pools


async def create_pool(request: Request) -> Response:
    body = validate(WorkPoolCreate, await json_body(request))
    if body.name.lower().startswith("prefect"):
        raise ApiError(403, "Work pools starting with 'Prefect' are reserved for internal use.")
    fields = {name: to_jsonable_python(getattr(body, name)) for name in WorkPoolCreate.model_fields}

    def work(tx: Tx) -> Reply:
        return created(present_pool(tx, new_pool(tx, fields)))

    return await api_of(request).write(work)


async def read_pool(request: Request) -> Response:
    name = request.path_params["name"]
    return await api_of(request).read(lambda tx: ok(present_pool(tx, pool_by_name(tx, name))))


async def update_pool(request: Request) -> Response:
    name = request.path_params["name"]
    body = validate(WorkPoolUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        pool = pool_by_name(tx, name)
        for field in body.model_fields_set:
            value = getattr(body, field)
            if value is None and field in (
                "is_paused",
                "storage_configuration",
                "base_job_template",
            ):
                continue
            pool[field] = to_jsonable_python(value)
        pool["updated"] = tx.now_iso
        tx.update(WORK_POOLS, pool)
        return no_content()

    return await api_of(request).write(work)


async def delete_pool(request: Request) -> Response:
    name = request.path_params["name"]

    def work(tx: Tx) -> Reply:
        pool = pool_by_name(tx, name)
        queue_ids = [q["id"] for q in tx.find(WORK_QUEUES, work_pool_id=pool["id"])]
        for run in tx.find(FLOW_RUNS, work_queue_id=queue_ids):
            run.update(work_queue_id=None, work_pool_id=None, work_pool_name=None)
            tx.update(FLOW_RUNS, run)
        tx.delete_where(WORK_QUEUES, work_pool_id=pool["id"])
        tx.delete_where(WORKERS, work_pool_id=pool["id"])
        tx.delete(WORK_POOLS, pool["id"])
        return no_content()

    return await api_of(request).write(work)


def _pools_matching(tx: Tx, body: WorkPoolsBody) -> list[Doc]:
    matches = compile_filter(body.work_pools)
    return sorted((p for p in tx.find(WORK_POOLS) if matches(p)), key=lambda p: p["name"])


async def filter_pools(request: Request) -> Response:
    api = api_of(request)
    body = validate(WorkPoolsBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)

    def work(tx: Tx) -> Reply:
        pools = page(_pools_matching(tx, body), body.offset or 0, limit)
        return ok([present_pool(tx, pool) for pool in pools])

    return await api.read(work)


async def count_pools(request: Request) -> Response:
    body = validate(WorkPoolsBody, await json_body(request, {}))
    return await api_of(request).read(lambda tx: ok(len(_pools_matching(tx, body))))


# --------------------------------------------------------------------------- workers


async def heartbeat(request: Request) -> Response:
    """Record a worker's heartbeat: 204, or 200 with the worker's id when asked."""
    pool_name = request.path_params["name"]
    body = validate(HeartbeatBody, await json_body(request))

    def work(tx: Tx) -> Reply:
        pool = pool_by_name(tx, pool_name)
        worker = tx.first(WORKERS, work_pool_id=pool["id"], name=body.name)
        if worker is None:
            worker = {
                "id": str(new_id()),
                "created": tx.now_iso,
                "name": body.name,
                "work_pool_id": pool["id"],
            }
            tx.insert(WORKERS, {**worker, "updated": tx.now_iso})
        worker.update(
            updated=tx.now_iso,
            last_heartbeat_time=tx.now_iso,
            heartbeat_interval_seconds=body.heartbeat_interval_seconds,
            status="ONLINE",
        )
        tx.update(WORKERS, worker)
        return ok(worker["id"]) if body.return_id else no_content()

    return await api_of(request).write(work)


class WorkersBody(PageBody):
    workers: WorkerFilter | None = None


async def filter_workers(request: Request) -> Response:
    api = api_of(request)
    pool_name = request.path_params["name"]
    body = validate(WorkersBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)
    matches = compile_filter(body.workers)

    def work(tx: Tx) -> Reply:
        pool = pool_by_name(tx, pool_name)
        workers = sorted(
            (present_worker(tx, w) for w in tx.find(WORKERS, work_pool_id=pool["id"])),
            key=lambda w: w.get("last_heartbeat_time") or "",
            reverse=True,
        )
        return ok(page([w for w in workers if matches(w)], body.offset or 0, limit))

    return await api.read(work)


async def scheduled_flow_runs(request: Request) -> Response:
    """Due runs of the pool's (or the named) queues, highest priority queue first,
    within the pool's and the queues' concurrency limits; paused pools and queues give
    nothing. Polling marks the queues and their deployments as ready."""
    api = api_of(request)
    pool_name = request.path_params["name"]
    body = validate(PoolRunsBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)
    before = None if body.scheduled_before is None else iso(body.scheduled_before)
    after = None if body.scheduled_after is None else iso(body.scheduled_after)

    def due(run: Doc) -> bool:
        when = run.get("next_scheduled_start_time")
        if run.get("state_type") != StateType.SCHEDULED.value or when is None:
            return False
        return (before is None or when <= before) and (after is None or when >= after)

    def work(tx: Tx) -> Reply:
        pool = pool_by_name(tx, pool_name)
        if body.work_queue_names:
            queues = [queue_in_pool(tx, pool, name) for name in body.work_queue_names]
        else:
            queues = tx.find(WORK_QUEUES, work_pool_id=pool["id"])
        chosen: list[Doc] = []
        if not pool.get("is_paused"):
            pool_room = _room(
                tx, pool.get("concurrency_limit"), tx.find(WORK_QUEUES, work_pool_id=pool["id"])
            )
            for queue in sorted(queues, key=lambda q: (q["priority"], q["name"])):
                if queue.get("is_paused"):
                    continue
                room = min(
                    pool_room,
                    _room(tx, queue.get("concurrency_limit"), [queue]),
                    limit - len(chosen),
                )
                runs = [r for r in tx.find(FLOW_RUNS, work_queue_id=queue["id"]) if due(r)]
                runs.sort(key=lambda r: r["next_scheduled_start_time"])
                taken = runs[: max(room, 0)]
                pool_room -= len(taken)
                chosen.extend(
                    {"work_pool_id": pool["id"], "work_queue_id": queue["id"], "run": r}
                    for r in taken
                )
        polled = {q["id"] for q in queues}
        for queue in queues:
            queue["last_polled"] = tx.now_iso
            tx.update(WORK_QUEUES, queue)
        for deployment in tx.find(DEPLOYMENTS):
            if deployment.get("work_queue_id") in polled:
                deployment["last_polled"] = tx.now_iso
                tx.update(DEPLOYMENTS, deployment)
        return ok(
            [
                {
                    "work_pool_id": item["work_pool_id"],
                    "work_queue_id": item["work_queue_id"],
                    "flow_run": present_run(tx, item["run"]),
                }
                for item in chosen
            ]
        )

    return await api.write(work)


def _room(tx: Tx, limit: int | None, queues: list[Doc]) -> int:
    """How many more runs may start under `limit`, given the busy runs of `queues`."""
    if limit is None:
        return 1 << 31
    busy = sum(
        1
        for run in tx.find(FLOW_RUNS, work_queue_id=[q["id"] for q in queues])
        if run.get("state_type") in _BUSY
    )
    return max(limit - busy, 0)


# --------------------------------------------------------------------------- queues


async def create_queue(request: Request) -> Response:
    pool_name = request.path_params["work_pool_name"]
    body = validate(WorkQueueCreate, await json_body(request))
    fields = {
        name: to_jsonable_python(getattr(body, name)) for name in WorkQueueCreate.model_fields
    }

    def work(tx: Tx) -> Reply:
        pool = pool_by_name(tx, pool_name)
        return created(present_queue(tx, {**new_queue(tx, pool, fields), "active_slots": 0}))

    return await api_of(request).write(work)


async def read_queue(request: Request) -> Response:
    pool_name = request.path_params["work_pool_name"]
    name = request.path_params["name"]

    def work(tx: Tx) -> Reply:
        queue = queue_in_pool(tx, pool_by_name(tx, pool_name), name)
        return ok(present_queue(tx, {**queue, "active_slots": 0}))

    return await api_of(request).read(work)


async def update_queue(request: Request) -> Response:
    pool_name = request.path_params["work_pool_name"]
    name = request.path_params["name"]
    body = validate(WorkQueueUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        pool = pool_by_name(tx, pool_name)
        _update_queue(tx, queue_in_pool(tx, pool, name), body)
        return no_content()

    return await api_of(request).write(work)


def _update_queue(tx: Tx, queue: Doc, body: WorkQueueUpdate) -> None:
    """Apply an update to a queue (a new name must be free in its pool: 409)."""
    given = body.model_fields_set
    renamed = "name" in given and body.name and body.name != queue["name"]
    if renamed and tx.first(WORK_QUEUES, work_pool_id=queue["work_pool_id"], name=body.name):
        raise ApiError(409, "A work queue with this name already exists.")
    for field in given:
        value = getattr(body, field)
        if value is None and field in ("name", "priority", "is_paused"):
            continue
        queue[field] = iso(value) if field == "last_polled" and value else to_jsonable_python(value)
    queue["updated"] = tx.now_iso
    tx.update(WORK_QUEUES, queue)


async def delete_queue(request: Request) -> Response:
    pool_name = request.path_params["work_pool_name"]
    name = request.path_params["name"]

    def work(tx: Tx) -> Reply:
        pool = pool_by_name(tx, pool_name)
        _delete_queue(tx, pool, queue_in_pool(tx, pool, name))
        return no_content()

    return await api_of(request).write(work)


def _delete_queue(tx: Tx, pool: Doc, queue: Doc) -> None:
    """Delete a queue (not its pool's default: 400); its runs keep their queue name."""
    if queue["id"] == pool.get("default_queue_id"):
        raise ApiError(400, "Can't delete a pool's default queue.")
    for run in tx.find(FLOW_RUNS, work_queue_id=queue["id"]):
        run["work_queue_id"] = None
        tx.update(FLOW_RUNS, run)
    tx.delete(WORK_QUEUES, queue["id"])


async def filter_pool_queues(request: Request) -> Response:
    api = api_of(request)
    pool_name = request.path_params["work_pool_name"]
    body = validate(WorkQueuesBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)

    def work(tx: Tx) -> Reply:
        pool = pool_by_name(tx, pool_name)
        matches = compile_filter(body.work_queues)
        queues = [q for q in tx.find(WORK_QUEUES, work_pool_id=pool["id"]) if matches(q)]
        queues.sort(key=lambda q: (q["priority"], q["name"]))
        return ok([present_queue(tx, q) for q in page(queues, body.offset or 0, limit)])

    return await api.read(work)


# --------------------------------------------------------------------------- legacy queues


async def create_legacy_queue(request: Request) -> Response:
    body = validate(WorkQueueCreate, await json_body(request))
    fields = {
        name: to_jsonable_python(getattr(body, name)) for name in WorkQueueCreate.model_fields
    }

    def work(tx: Tx) -> Reply:
        return created(present_queue(tx, new_queue(tx, default_agent_pool(tx), fields)))

    return await api_of(request).write(work)


async def read_legacy_queue_by_name(request: Request) -> Response:
    name = request.path_params["name"]

    def work(tx: Tx) -> Reply:
        pool = default_agent_pool(tx)
        queue = tx.first(WORK_QUEUES, work_pool_id=pool["id"], name=name)
        if queue is None:
            raise not_found(QUEUE_NOT_FOUND)
        return ok(present_queue(tx, queue))

    return await api_of(request).write(work)


async def read_legacy_queue(request: Request) -> Response:
    queue_id = path_id(request)

    def work(tx: Tx) -> Reply:
        queue = tx.get(WORK_QUEUES, queue_id)
        if queue is None:
            raise not_found(QUEUE_NOT_FOUND)
        return ok(present_queue(tx, queue))

    return await api_of(request).read(work)


async def filter_legacy_queues(request: Request) -> Response:
    api = api_of(request)
    body = validate(WorkQueuesBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)

    def work(tx: Tx) -> Reply:
        matches = compile_filter(body.work_queues)
        queues = sort_docs((q for q in tx.find(WORK_QUEUES) if matches(q)), [(_name, False)])
        return ok([present_queue(tx, q) for q in page(queues, body.offset or 0, limit)])

    return await api.read(work)


def _name(doc: Doc) -> Any:
    return doc["name"]


# --------------------------------------------------------------------------- issue 11: queues-misc


class StatusPageBody(BaseModel):
    """Body of the ``concurrency_status`` routes (``page`` counts from 1)."""

    model_config = ConfigDict(extra="ignore")

    page: int = Field(1, ge=1)
    limit: int | None = None
    flow_run_limit: int = Field(10, ge=0, le=200)


class QueueRunsBody(BaseModel):
    """Body of ``/work_queues/{id}/get_runs``."""

    model_config = ConfigDict(extra="ignore")

    limit: int | None = None
    scheduled_before: DateTime | None = None


async def update_legacy_queue(request: Request) -> Response:
    queue_id = path_id(request)
    body = validate(WorkQueueUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        _update_queue(tx, queue_by_id(tx, queue_id, f"Work Queue {queue_id} not found"), body)
        return no_content()

    return await api_of(request).write(work)


async def delete_legacy_queue(request: Request) -> Response:
    queue_id = path_id(request)

    def work(tx: Tx) -> Reply:
        queue = queue_by_id(tx, queue_id)
        pool = tx.get(WORK_POOLS, queue["work_pool_id"]) or {}
        _delete_queue(tx, pool, queue)
        return no_content()

    return await api_of(request).write(work)


async def queue_status(request: Request) -> Response:
    """Healthy when no run is Late and a worker polled in the last 60 seconds."""
    queue_id = path_id(request)

    def work(tx: Tx) -> Reply:
        queue = queue_by_id(tx, queue_id, f"Work queue with id {queue_id} not found")
        late = sum(
            1 for r in tx.find(FLOW_RUNS, work_queue_id=queue_id) if r.get("state_name") == "Late"
        )
        polled = queue.get("last_polled")
        recent = polled is not None and polled >= iso(tx.now - QUEUE_HEALTHY_POLL)
        policy = {
            "maximum_late_runs": 0,
            "maximum_seconds_since_last_polled": int(QUEUE_HEALTHY_POLL.total_seconds()),
        }
        return ok(
            {
                "healthy": late == 0 and recent,
                "late_runs_count": late,
                "last_polled": polled,
                "health_check_policy": policy,
            }
        )

    return await api_of(request).read(work)


def _slot_holders(tx: Tx, queue: Doc, states: frozenset[str]) -> list[Doc]:
    """Runs of the queue (by id, or by name when a run lost its queue id) in `states`."""
    runs = tx.find(FLOW_RUNS, work_queue_id=queue["id"])
    runs += [
        r
        for r in tx.find(FLOW_RUNS, work_queue_id=None)
        if r.get("work_queue_name") == queue["name"]
        and r.get("work_pool_id") in (None, queue["work_pool_id"])
    ]
    return sorted((r for r in runs if r.get("state_type") in states), key=lambda r: r["id"])


def _status_page(
    active: int, limited: Doc, number: int, limit: int, count: int, **items: list[Doc]
) -> Doc:
    """A concurrency status answer: slots in use under `limited`'s limit, and page
    `number` (from 1) of `count` items of `limit` each."""
    return {
        "active_slots": active,
        "concurrency_limit": limited.get("concurrency_limit"),
        **items,
        "count": count,
        "limit": limit,
        "pages": -(-count // limit) if limit > 0 else 0,
        "page": number,
    }


async def queue_concurrency_status(request: Request) -> Response:
    api = api_of(request)
    queue_id = path_id(request)
    body = validate(StatusPageBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)

    def work(tx: Tx) -> Reply:
        queue = queue_by_id(tx, queue_id, "Work queue not found.")
        holders = _slot_holders(tx, queue, QUEUE_SLOT_STATES)
        shown = page(holders, (body.page - 1) * limit, limit)
        runs = [slot_summary(r, tx.now) for r in shown]
        return ok(_status_page(len(holders), queue, body.page, limit, len(holders), flow_runs=runs))

    return await api.read(work)


async def pool_concurrency_status(request: Request) -> Response:
    api = api_of(request)
    pool_name = request.path_params["name"]
    body = validate(StatusPageBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)

    def work(tx: Tx) -> Reply:
        pool = tx.first(WORK_POOLS, name=pool_name)
        if pool is None:
            raise not_found(f"Work pool {pool_name!r} not found.")
        queues = sorted(
            tx.find(WORK_QUEUES, work_pool_id=pool["id"]), key=lambda q: (q["priority"], q["name"])
        )
        holders = {
            q["id"]: [
                r
                for r in tx.find(FLOW_RUNS, work_queue_id=q["id"])
                if r.get("state_type") in POOL_SLOT_STATES
            ]
            for q in queues
        }
        details = [
            {
                "queue_id": q["id"],
                "queue_name": q["name"],
                "active_slots": len(holders[q["id"]]),
                "concurrency_limit": q.get("concurrency_limit"),
                "flow_runs": [
                    slot_summary(r, tx.now)
                    for r in sorted(holders[q["id"]], key=lambda r: r["id"])[: body.flow_run_limit]
                ],
                "flow_run_count": len(holders[q["id"]]),
            }
            for q in page(queues, (body.page - 1) * limit, limit)
        ]
        active = sum(len(runs) for runs in holders.values())
        return ok(_status_page(active, pool, body.page, limit, len(queues), queues=details))

    return await api.read(work)


async def queue_runs(request: Request) -> Response:
    """The queue's due Scheduled runs, soonest first, within its concurrency limit (none
    while it is paused); reading them marks the queue polled."""
    api = api_of(request)
    queue_id = path_id(request)
    body = validate(QueueRunsBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)

    def work(tx: Tx) -> Reply:
        queue = queue_by_id(tx, queue_id, f"Work queue with id {queue_id} not found")
        before = iso(body.scheduled_before) if body.scheduled_before is not None else tx.now_iso
        due = sorted(
            (
                r
                for r in tx.find(FLOW_RUNS, work_queue_id=queue_id)
                if r.get("state_type") == StateType.SCHEDULED.value
                and (r.get("next_scheduled_start_time") or before) <= before
            ),
            key=lambda r: r.get("next_scheduled_start_time") or "",
        )
        room = 0 if queue.get("is_paused") else _room(tx, queue.get("concurrency_limit"), [queue])
        queue["last_polled"] = tx.now_iso
        tx.update(WORK_QUEUES, queue)
        return ok([present_run(tx, r) for r in due[: min(room, limit)]])

    return await api.write(work)


ROUTES = [
    route("/work_pools/", create_pool, "POST"),
    route("/work_pools/filter", filter_pools, "POST"),
    route("/work_pools/count", count_pools, "POST"),
    route("/work_pools/{name}", read_pool, "GET"),
    route("/work_pools/{name}", update_pool, "PATCH"),
    route("/work_pools/{name}", delete_pool, "DELETE"),
    route("/work_pools/{name}/workers/heartbeat", heartbeat, "POST"),
    route("/work_pools/{name}/workers/filter", filter_workers, "POST"),
    route("/work_pools/{name}/get_scheduled_flow_runs", scheduled_flow_runs, "POST"),
    route("/work_pools/{work_pool_name}/queues", create_queue, "POST"),
    route("/work_pools/{work_pool_name}/queues/filter", filter_pool_queues, "POST"),
    route("/work_pools/{work_pool_name}/queues/{name}", read_queue, "GET"),
    route("/work_pools/{work_pool_name}/queues/{name}", update_queue, "PATCH"),
    route("/work_pools/{work_pool_name}/queues/{name}", delete_queue, "DELETE"),
    route("/work_queues/", create_legacy_queue, "POST"),
    route("/work_queues/filter", filter_legacy_queues, "POST"),
    route("/work_queues/name/{name}", read_legacy_queue_by_name, "GET"),
    route("/work_queues/{id:uuid}", read_legacy_queue, "GET"),
    # issue 11: queues-misc
    route("/work_queues/{id:uuid}", update_legacy_queue, "PATCH"),
    route("/work_queues/{id:uuid}", delete_legacy_queue, "DELETE"),
    route("/work_queues/{id:uuid}/status", queue_status, "GET"),
    route("/work_queues/{id:uuid}/concurrency_status", queue_concurrency_status, "POST"),
    route("/work_queues/{id:uuid}/get_runs", queue_runs, "POST"),
    route("/work_pools/{name}/concurrency_status", pool_concurrency_status, "POST"),
]
