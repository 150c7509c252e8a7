"""Global concurrency limits (v2) and their leases (see ``_limits`` for the semantics)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt
from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect_trio_client.schemas.objects import ConcurrencyLeaseHolder
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import INTEGRITY_DETAIL, ApiError, not_found
from prefect_trio_client.server._filters import page
from prefect_trio_client.server._http import (
    Reply,
    api_of,
    created,
    json_body,
    no_content,
    ok,
    route,
    validate,
    validate_as,
)
from prefect_trio_client.server._limits import (
    acquire,
    expire_leases,
    give_back,
    new_limit,
    present_limit,
    release,
    take_slots,
)
from prefect_trio_client.server._queries import PageBody, limit_of
from prefect_trio_client.server._tables import CONCURRENCY_LEASES, CONCURRENCY_LIMITS
from prefect_trio_client.server._time import iso

__all__ = ["ROUTES", "list_limits", "minimal"]

LIMIT_NOT_FOUND = "Concurrency Limit not found"
_LEASE_SECONDS = Field(300.0, ge=60, le=60 * 60 * 24)


class IncrementBody(BaseModel):
    """Body of ``increment-with-lease`` (Prefect's bounds: a lease lasts 1 min to 1 day)."""

    model_config = ConfigDict(extra="ignore")

    slots: PositiveInt
    names: list[str] = Field(min_length=1)
    mode: Literal["concurrency", "rate_limit"] = "concurrency"
    lease_duration: float = _LEASE_SECONDS
    holder: ConcurrencyLeaseHolder | None = None


class DecrementBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lease_id: UUID


class RenewBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lease_duration: float = _LEASE_SECONDS


def _limit(tx: Tx, id_or_name: str) -> Doc:
    try:
        limit = tx.get(CONCURRENCY_LIMITS, str(UUID(id_or_name)))
    except ValueError:
        limit = tx.first(CONCURRENCY_LIMITS, name=id_or_name)
    if limit is None:
        raise not_found(LIMIT_NOT_FOUND)
    return limit


async def create(request: Request) -> Response:
    body = validate(GlobalConcurrencyLimitCreate, await json_body(request))

    def work(tx: Tx) -> Reply:
        if tx.first(CONCURRENCY_LIMITS, name=body.name) is not None:
            raise ApiError(409, INTEGRITY_DETAIL)
        limit = new_limit(
            tx,
            {
                "name": body.name,
                "limit": body.limit,
                "active": body.active,
                "active_slots": body.active_slots,
                "slot_decay_per_second": body.slot_decay_per_second,
            },
        )
        tx.insert(CONCURRENCY_LIMITS, limit)
        return created(limit)

    return await api_of(request).write(work)


async def read(request: Request) -> Response:
    key = str(request.path_params["id_or_name"])

    def work(tx: Tx) -> Reply:
        expire_leases(tx)
        return ok(present_limit(tx, _limit(tx, key)))

    return await api_of(request).write(work)


async def update(request: Request) -> Response:
    key = str(request.path_params["id_or_name"])
    body = validate(GlobalConcurrencyLimitUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        limit = _limit(tx, key)
        for name in body.model_fields_set:
            value = getattr(body, name)
            if value is None:
                continue
            renamed = name == "name" and value != limit["name"]
            if renamed and tx.first(CONCURRENCY_LIMITS, name=value) is not None:
                raise ApiError(409, INTEGRITY_DETAIL)
            limit[name] = value
        limit["updated"] = tx.now_iso
        tx.update(CONCURRENCY_LIMITS, limit)
        return no_content()

    return await api_of(request).write(work)


async def delete(request: Request) -> Response:
    key = str(request.path_params["id_or_name"])

    def work(tx: Tx) -> Reply:
        tx.delete(CONCURRENCY_LIMITS, _limit(tx, key)["id"])
        return no_content()

    return await api_of(request).write(work)


async def list_limits(
    request: Request, show: Callable[[Tx, Doc], Doc], prefix: str = ""
) -> Response:
    """A page of the limits whose names start with `prefix`, by name, each as `show`
    presents it (the global and the tag listings)."""
    api = api_of(request)
    body = validate(PageBody, await json_body(request, {}))
    limit = limit_of(body.limit, api.config.default_limit)

    def work(tx: Tx) -> Reply:
        expire_leases(tx)
        found = [doc for doc in tx.find(CONCURRENCY_LIMITS) if doc["name"].startswith(prefix)]
        found.sort(key=lambda doc: doc["name"])
        return ok([show(tx, doc) for doc in page(found, body.offset or 0, limit)])

    return await api.write(work)


async def filter_limits(request: Request) -> Response:
    return await list_limits(request, present_limit)


def _found(tx: Tx, names: list[str]) -> list[Doc]:
    """The limits of these names that exist, each once, in the order named."""
    found = [tx.first(CONCURRENCY_LIMITS, name=name) for name in dict.fromkeys(names)]
    return [limit for limit in found if limit is not None]


def _check_request(limits: list[Doc], slots: int, mode: str) -> None:
    """Prefect's 422s: more slots than a limit has, or a rate limit without decay."""
    active = [limit for limit in limits if limit.get("active", True)]
    if any(limit["limit"] < slots for limit in active):
        raise ApiError(422, "Slots requested is greater than the limit")
    steady = [limit["name"] for limit in active if not limit.get("slot_decay_per_second")]
    if mode == "rate_limit" and steady:
        raise ApiError(
            422,
            "Only concurrency limits with slot decay can be used for rate limiting. The"
            f" following limits do not have a decay configured: {','.join(steady)!r}",
        )


def _locked(wait: float) -> Reply:
    # Prefect's answer when the slots are taken; the client waits and asks again.
    return Reply(423, {"detail": "Locked"}, {"Retry-After": f"{wait:.2f}"})


def minimal(limits: list[Doc]) -> list[Doc]:
    """Limits as Prefect's ``MinimalConcurrencyLimitResponse``: id, name, limit."""
    return [{"id": x["id"], "name": x["name"], "limit": x["limit"]} for x in limits]


async def increment_with_lease(request: Request) -> Response:
    body = validate(IncrementBody, await json_body(request))

    def work(tx: Tx) -> Reply:
        expire_leases(tx)
        limits = _found(tx, body.names)
        _check_request(limits, body.slots, body.mode)
        holder = None if body.holder is None else body.holder.model_dump(mode="json")
        lease = take_slots(
            tx, limits, body.slots, lease_duration=body.lease_duration, holder=holder
        )
        if isinstance(lease, float):
            return _locked(lease)
        return ok({"lease_id": lease["id"], "limits": minimal(limits)})

    return await api_of(request).write(work)


async def decrement_with_lease(request: Request) -> Response:
    body = validate(DecrementBody, await json_body(request))

    def work(tx: Tx) -> Reply:
        expire_leases(tx)
        lease = tx.get(CONCURRENCY_LEASES, str(body.lease_id))
        if lease is not None:
            release(tx, lease)
        return no_content()

    return await api_of(request).write(work)


async def renew_lease(request: Request) -> Response:
    lease_id = str(validate_as(UUID, request.path_params["lease_id"], ("path", "lease_id")))
    body = validate(RenewBody, await json_body(request, {}))

    def work(tx: Tx) -> Reply:
        expire_leases(tx)
        lease = tx.get(CONCURRENCY_LEASES, lease_id)
        if lease is None:
            raise ApiError(410, "Lease not found - it may have expired or been revoked")

        lease["expiration"] = iso(tx.now + timedelta(seconds=body.lease_duration))
        tx.update(CONCURRENCY_LEASES, lease)
        return no_content()

    return await api_of(request).write(work)


class SlotsBody(BaseModel):
    """Body of ``increment`` (slots with no lease; Prefect's deprecated
    ``create_if_missing`` is ignored, as limits must exist)."""

    model_config = ConfigDict(extra="ignore")

    slots: PositiveInt
    names: list[str] = Field(min_length=1)
    mode: Literal["concurrency", "rate_limit"] = "concurrency"


class ReleaseBody(BaseModel):
    """Body of ``decrement`` (slots taken with no lease)."""

    model_config = ConfigDict(extra="ignore")

    slots: PositiveInt
    names: list[str] = Field(min_length=1)
    occupancy_seconds: PositiveFloat | None = None


async def increment(request: Request) -> Response:
    body = validate(SlotsBody, await json_body(request))

    def work(tx: Tx) -> Reply:
        expire_leases(tx)
        limits = _found(tx, body.names)
        _check_request(limits, body.slots, body.mode)
        wait = acquire(tx, limits, body.slots)
        return ok(minimal(limits)) if wait is None else _locked(wait)

    return await api_of(request).write(work)


async def decrement(request: Request) -> Response:
    body = validate(ReleaseBody, await json_body(request))

    def work(tx: Tx) -> Reply:
        expire_leases(tx)
        limits = _found(tx, body.names)
        per_slot = None if body.occupancy_seconds is None else body.occupancy_seconds / body.slots
        for limit in limits:
            if limit.get("active", True):
                give_back(tx, limit, body.slots, per_slot)
        return ok(minimal(limits))

    return await api_of(request).write(work)


ROUTES = [
    route("/v2/concurrency_limits/", create, "POST"),
    route("/v2/concurrency_limits/filter", filter_limits, "POST"),
    route("/v2/concurrency_limits/increment", increment, "POST"),
    route("/v2/concurrency_limits/decrement", decrement, "POST"),
    route("/v2/concurrency_limits/increment-with-lease", increment_with_lease, "POST"),
    route("/v2/concurrency_limits/decrement-with-lease", decrement_with_lease, "POST"),
    route("/v2/concurrency_limits/leases/{lease_id}/renew", renew_lease, "POST"),
    route("/v2/concurrency_limits/{id_or_name}", read, "GET"),
    route("/v2/concurrency_limits/{id_or_name}", update, "PATCH"),
    route("/v2/concurrency_limits/{id_or_name}", delete, "DELETE"),
]
