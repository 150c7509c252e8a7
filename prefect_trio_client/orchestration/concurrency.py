"""Global concurrency limits (v2) and their slot leases."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import body, parse, parse_id, url_path
from prefect_trio_client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect_trio_client.schemas.objects import (
    ConcurrencyLeaseHolder,
    ConcurrencyLimitWithLeaseResponse,
    GlobalConcurrencyLimit,
)

__all__ = [
    "create_global_concurrency_limit",
    "delete_global_concurrency_limit_by_name",
    "increment_concurrency_slots_with_lease",
    "read_global_concurrency_limit_by_name",
    "release_concurrency_slots_with_lease",
    "renew_concurrency_lease",
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
