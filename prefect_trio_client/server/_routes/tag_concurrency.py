"""Tag-based (v1) concurrency limits, kept as Prefect 3 keeps them: a global limit named
``tag:<tag>`` whose slots task runs hold through leases that never expire (v1 clients do
not renew). The answers keep the v1 shapes: a limit lists the task runs holding it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import ConcurrencyLimitCreate
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import ApiError, not_found
from prefect_trio_client.server._http import (
    Reply,
    api_of,
    created,
    json_body,
    ok,
    route,
    validate,
)
from prefect_trio_client.server._limits import (
    acquire,
    active_slots,
    expire_leases,
    leases_on,
    new_lease,
    new_limit,
    occupy,
    release,
)
from prefect_trio_client.server._routes.concurrency import list_limits, minimal
from prefect_trio_client.server._tables import CONCURRENCY_LIMITS

__all__ = ["ROUTES"]

LIMIT_NOT_FOUND = "Concurrency limit not found"
PREFIX = "tag:"
V1_LEASE = timedelta(days=100 * 365).total_seconds()
"""Prefect's lease for a v1 slot: about a century, since v1 clients cannot renew."""
SLOT_WAIT_SECONDS = 10.0
"""Prefect's default Retry-After for a full tag limit (tag_concurrency_slot_wait_seconds)."""


class SlotBody(BaseModel):
    """Body of ``/concurrency_limits/increment`` and ``/decrement``."""

    model_config = ConfigDict(extra="ignore")

    names: list[str]
    task_run_id: UUID


class ResetBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    slot_override: list[UUID] | None = None


def _holder(task_run_id: UUID | str) -> dict[str, Any]:
    return {"type": "task_run", "id": str(task_run_id)}


def present(tx: Tx, limit: Doc) -> Doc:
    """A ``tag:`` limit in the v1 shape: the task runs holding its slots listed."""
    holders = [
        lease["holder"]["id"]
        for lease in leases_on(tx, limit)
        if (lease.get("holder") or {}).get("type") == "task_run"
    ]
    return {
        "id": limit["id"],
        "created": limit["created"],
        "updated": limit["updated"],
        "tag": limit["name"].removeprefix(PREFIX),
        "concurrency_limit": limit["limit"],
        "active_slots": holders,
    }


def _by_tag(tx: Tx, tag: str) -> Doc:
    limit = tx.first(CONCURRENCY_LIMITS, name=PREFIX + tag)
    if limit is None:
        raise not_found(LIMIT_NOT_FOUND)
    return limit


def _free(tx: Tx, limit: Doc) -> None:
    """Release every lease holding the limit (with their slots on other limits)."""
    for lease in leases_on(tx, limit):
        release(tx, lease)


async def create(request: Request) -> Response:
    body = validate(ConcurrencyLimitCreate, await json_body(request))

    def work(tx: Tx) -> Reply:
        expire_leases(tx)
        limit = tx.first(CONCURRENCY_LIMITS, name=PREFIX + body.tag)
        if limit is not None:  # an upsert, as in Prefect: 200 and the new number
            limit.update(limit=body.concurrency_limit, updated=tx.now_iso)
            tx.update(CONCURRENCY_LIMITS, limit)
            return created(present(tx, limit), is_new=False)
        limit = new_limit(tx, {"name": PREFIX + body.tag, "limit": body.concurrency_limit})
        tx.insert(CONCURRENCY_LIMITS, limit)
        return created(present(tx, limit))

    return await api_of(request).write(work)


async def read_by_tag(request: Request) -> Response:
    tag = str(request.path_params["tag"])

    def work(tx: Tx) -> Reply:
        expire_leases(tx)
        return ok(present(tx, _by_tag(tx, tag)))

    return await api_of(request).write(work)


async def filter_limits(request: Request) -> Response:
    return await list_limits(request, present, PREFIX)


async def reset(request: Request) -> Response:
    tag = str(request.path_params["tag"])
    body = validate(ResetBody, await json_body(request, {}))

    def work(tx: Tx) -> Reply:
        _free(tx, _by_tag(tx, tag))
        limit = _by_tag(tx, tag)  # as the releases left it
        for task_run_id in body.slot_override or []:
            # Prefect gives each listed run its slot even past the limit: the caller
            # says these runs are running.
            occupy(tx, limit, 1)
            new_lease(tx, [limit], 1, lease_duration=V1_LEASE, holder=_holder(task_run_id))
        return ok(None)

    return await api_of(request).write(work)


async def delete_by_tag(request: Request) -> Response:
    tag = str(request.path_params["tag"])

    def work(tx: Tx) -> Reply:
        limit = _by_tag(tx, tag)
        _free(tx, limit)
        tx.delete(CONCURRENCY_LIMITS, limit["id"])
        return ok(None)

    return await api_of(request).write(work)


async def increment(request: Request) -> Response:
    body = validate(SlotBody, await json_body(request))

    def work(tx: Tx) -> Reply:
        expire_leases(tx)
        tags = list(dict.fromkeys(body.names))
        found = {tag: tx.first(CONCURRENCY_LIMITS, name=PREFIX + tag) for tag in tags}
        limits = {tag: limit for tag, limit in found.items() if limit is not None}
        for tag, limit in limits.items():
            if limit["limit"] == 0:
                raise ApiError(
                    423,
                    f'The concurrency limit on tag "{tag}" is 0 and will deadlock if the task'
                    " tries to run again.",
                )
        active = {tag: limit for tag, limit in limits.items() if limit.get("active", True)}
        taken = list(active.values())
        if taken and acquire(tx, taken, 1) is not None:
            full = next(t for t, x in active.items() if active_slots(tx, x) >= x["limit"])
            raise ApiError(
                423,
                f"Concurrency limit for the {full} tag has been reached",
                headers={"Retry-After": str(SLOT_WAIT_SECONDS)},
            )
        if taken:
            new_lease(tx, taken, 1, lease_duration=V1_LEASE, holder=_holder(body.task_run_id))
        return ok([{"id": x["id"], "name": tag, "limit": x["limit"]} for tag, x in active.items()])

    return await api_of(request).write(work)


async def decrement(request: Request) -> Response:
    body = validate(SlotBody, await json_body(request))

    def work(tx: Tx) -> Reply:
        expire_leases(tx)
        tags = dict.fromkeys(body.names)
        limits = [tx.first(CONCURRENCY_LIMITS, name=PREFIX + tag) for tag in tags]
        found = [limit for limit in limits if limit is not None]
        holder = str(body.task_run_id)
        held: dict[str, Doc] = {}
        for limit in found:
            for lease in leases_on(tx, limit):
                if (lease.get("holder") or {}).get("id") == holder:
                    held[lease["id"]] = lease
        for lease in held.values():
            release(tx, lease)
        return ok(minimal(found))  # named ``tag:<tag>`` here, as Prefect does

    return await api_of(request).write(work)


ROUTES = [
    route("/concurrency_limits/", create, "POST"),
    route("/concurrency_limits/filter", filter_limits, "POST"),
    route("/concurrency_limits/increment", increment, "POST"),
    route("/concurrency_limits/decrement", decrement, "POST"),
    route("/concurrency_limits/tag/{tag}", read_by_tag, "GET"),
    route("/concurrency_limits/tag/{tag}", delete_by_tag, "DELETE"),
    route("/concurrency_limits/tag/{tag}/reset", reset, "POST"),
]
