"""Global concurrency limits (v2) and their slot leases."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from prefect_trio_client.base import PrefectResponse
from prefect_trio_client.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import body, parse, parse_id, parse_list, url_path
from prefect_trio_client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect_trio_client.schemas.objects import (
    ConcurrencyLeaseHolder,
    ConcurrencyLimitWithLeaseResponse,
    GlobalConcurrencyLimit,
)

__all__ = [
    "create_global_concurrency_limit",
    "delete_global_concurrency_limit_by_name",
    "increment_concurrency_slots",
    "increment_concurrency_slots_with_lease",
    "read_global_concurrency_limit_by_name",
    "read_global_concurrency_limits",
    "release_concurrency_slots",
    "release_concurrency_slots_with_lease",
    "renew_concurrency_lease",
    "update_global_concurrency_limit",
    "upsert_global_concurrency_limit_by_name",
]


def create_global_concurrency_limit(concurrency_limit: GlobalConcurrencyLimitCreate) -> Plan[UUID]:
    """Create a limit; return its id. Raises `ObjectAlreadyExists` for a taken name."""
    response = yield Request("POST", "/v2/concurrency_limits/", json=body(concurrency_limit))
    return parse_id(response)


def read_global_concurrency_limit_by_name(name: str) -> Plan[GlobalConcurrencyLimit]:
    """Raises `ObjectNotFound` for an unknown name."""
    response = yield Request("GET", url_path("v2", "concurrency_limits", name))
    return parse(GlobalConcurrencyLimit, response)


def delete_global_concurrency_limit_by_name(name: str) -> Plan[None]:
    """Raises `ObjectNotFound` for an unknown name."""
    yield Request("DELETE", url_path("v2", "concurrency_limits", name))


def increment_concurrency_slots_with_lease(
    names: list[str],
    slots: int,
    mode: Literal["concurrency", "rate_limit"] = "concurrency",
    lease_duration: float = 300,
    holder: ConcurrencyLeaseHolder | None = None,
) -> Plan[ConcurrencyLimitWithLeaseResponse]:
    """Take `slots` from each named limit under a lease that expires after `lease_duration`
    seconds unless renewed. The server answers 423 (raised) when the slots are taken."""
    request: dict[str, object] = {
        "names": list(names),
        "slots": slots,
        "mode": mode,
        "lease_duration": lease_duration,
    }
    if holder is not None:
        request["holder"] = holder.model_dump(mode="json")
    response = yield Request("POST", "/v2/concurrency_limits/increment-with-lease", json=request)
    return parse(ConcurrencyLimitWithLeaseResponse, response)


def renew_concurrency_lease(lease_id: UUID, lease_duration: float) -> Plan[None]:
    """Extend a lease to `lease_duration` seconds from now (safe to re-send: it sets the
    expiry again, it does not add to it)."""
    yield Request(
        "POST",
        url_path("v2", "concurrency_limits", "leases", lease_id, "renew"),
        json={"lease_duration": lease_duration},
        idempotent=True,
    )


def release_concurrency_slots_with_lease(lease_id: UUID) -> Plan[None]:
    """Give back the slots of a lease (safe to re-send: a released lease is gone, and the
    server ignores an unknown one)."""
    yield Request(
        "POST",
        "/v2/concurrency_limits/decrement-with-lease",
        json={"lease_id": str(lease_id)},
        idempotent=True,
    )


# --------------------------------------------------------------------------- without a lease


def read_global_concurrency_limits(
    limit: int = 10, offset: int = 0
) -> Plan[list[GlobalConcurrencyLimit]]:
    """Every global limit (tag limits included, as ``tag:<tag>``), by name, paged."""
    response = yield Request(
        "POST",
        "/v2/concurrency_limits/filter",
        json={"limit": limit, "offset": offset},
        idempotent=True,
    )
    return parse_list(GlobalConcurrencyLimit, response)


def update_global_concurrency_limit(
    name: str, concurrency_limit: GlobalConcurrencyLimitUpdate
) -> Plan[PrefectResponse]:
    """Change the fields set on `concurrency_limit`; the raw 204 response, as in Prefect.

    Raises `ObjectNotFound` for an unknown name (or id).
    """
    response: PrefectResponse = yield Request(
        "PATCH", url_path("v2", "concurrency_limits", name), json=body(concurrency_limit)
    )
    return response


def upsert_global_concurrency_limit_by_name(
    name: str, limit: int, slot_decay_per_second: float | None = None
) -> Plan[None]:
    """Make the named limit exist with `limit` (and `slot_decay_per_second` when given).

    Read, then create or update what differs. Unlike Prefect's, a create that finds the
    name taken (another writer, or an earlier send whose answer was lost) updates the
    limit instead of failing, so the create may be re-sent and the upsert converges.
    """
    wanted: dict[str, Any] = {"limit": limit}
    if slot_decay_per_second is not None:
        wanted["slot_decay_per_second"] = slot_decay_per_second
    try:
        existing = yield from read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        existing = None
    if existing is None:
        create = GlobalConcurrencyLimitCreate(name=name, **wanted)
        try:
            yield Request("POST", "/v2/concurrency_limits/", json=body(create), idempotent=True)
        except ObjectAlreadyExists:
            pass  # made meanwhile: bring it to what was asked below
        else:
            return
    elif existing.limit == limit and (
        slot_decay_per_second is None or existing.slot_decay_per_second == slot_decay_per_second
    ):
        return
    yield from update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(**wanted))


def increment_concurrency_slots(
    names: list[str],
    slots: int,
    mode: str,
) -> Plan[PrefectResponse]:
    """Take `slots` from each named limit with no lease (the caller must release them);
    the raw response (a list of the limits), as in Prefect. 423 (raised) when full.

    Not re-sent after a lost answer: each send takes the slots again.
    """
    response: PrefectResponse = yield Request(
        "POST",
        "/v2/concurrency_limits/increment",
        json={"names": list(names), "slots": slots, "mode": mode},
    )
    return response


def release_concurrency_slots(
    names: list[str], slots: int, occupancy_seconds: float
) -> Plan[PrefectResponse]:
    """Give back `slots` taken by `increment_concurrency_slots`, held for
    `occupancy_seconds`; the raw response (the limits found), as in Prefect.

    Not re-sent after a lost answer: each send gives the slots back again.
    """
    response: PrefectResponse = yield Request(
        "POST",
        "/v2/concurrency_limits/decrement",
        json={"names": list(names), "slots": slots, "occupancy_seconds": occupancy_seconds},
    )
    return response
