"""Global concurrency limits (v2): slots, leases that expire, and slot decay.

A lease holds ``slots`` of one or more limits until it is released or it expires
(``lease_duration`` seconds after it was taken or last renewed). Expiry is lazy: every
operation on limits first releases the slots of the leases whose time is up, so no
background task is needed and a crashed holder never keeps its slots for longer than
its lease. A limit with ``slot_decay_per_second`` > 0 is a rate limit: its active
slots drain by that many per second since the last change, as in Prefect.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._ids import new_id
from prefect_trio_client.server._tables import CONCURRENCY_LEASES, CONCURRENCY_LIMITS
from prefect_trio_client.server._time import iso, seconds_between

__all__ = [
    "acquire",
    "active_slots",
    "expire_leases",
    "give_back",
    "leases_on",
    "new_lease",
    "new_limit",
    "occupy",
    "present_limit",
    "release",
    "take_slots",
]

MAX_RETRY_AFTER = 30.0
"""Prefect's cap on the Retry-After it suggests for a limit without decay."""


def new_limit(tx: Tx, fields: dict[str, Any]) -> Doc:
    """A limit document as Prefect's create endpoint returns it (the counters included)."""
    return {
        "id": str(new_id()),
        "created": tx.now_iso,
        "updated": tx.now_iso,
        "active": fields.get("active", True),
        "name": fields["name"],
        "limit": fields["limit"],
        "active_slots": fields.get("active_slots", 0),
        "denied_slots": 0,
        "slot_decay_per_second": fields.get("slot_decay_per_second", 0.0),
        "avg_slot_occupancy_seconds": 2.0,
    }


def active_slots(tx: Tx, limit: Doc) -> int:
    """The slots in use now, after decay."""
    slots = int(limit.get("active_slots", 0))
    decay = float(limit.get("slot_decay_per_second") or 0.0)
    if decay > 0 and slots > 0:
        drained = math.floor(decay * max(seconds_between(limit["updated"], tx.now_iso), 0.0))
        slots = max(slots - drained, 0)
    return slots


def present_limit(tx: Tx, limit: Doc) -> Doc:
    """A limit as ``GET`` returns it (Prefect's ``GlobalConcurrencyLimitResponse``)."""
    shown = {
        k: v for k, v in limit.items() if k not in ("denied_slots", "avg_slot_occupancy_seconds")
    }
    shown["active_slots"] = active_slots(tx, limit)
    return shown


def _set_slots(tx: Tx, limit: Doc, slots: int) -> None:
    limit["active_slots"] = max(slots, 0)
    limit["updated"] = tx.now_iso
    tx.update(CONCURRENCY_LIMITS, limit)


def expire_leases(tx: Tx) -> None:
    """Release the slots of every lease whose time is up."""
    for lease in tx.find(CONCURRENCY_LEASES):
        if lease["expiration"] <= tx.now_iso:
            release(tx, lease)


def release(tx: Tx, lease: Doc) -> None:
    """Give back a lease's slots and forget the lease."""
    occupied = max(seconds_between(lease["created"], tx.now_iso), 0.0)
    for limit_id in lease["resource_ids"]:
        limit = tx.get(CONCURRENCY_LIMITS, limit_id)
        if limit is not None:
            give_back(tx, limit, int(lease["slots"]), occupied)
    tx.delete(CONCURRENCY_LEASES, lease["id"])


def give_back(tx: Tx, limit: Doc, slots: int, occupied: float | None) -> None:
    """Free `slots` of a limit held for `occupied` seconds (None: unknown, no sample)."""
    if occupied is not None:
        average = float(limit.get("avg_slot_occupancy_seconds") or 2.0)
        limit["avg_slot_occupancy_seconds"] = 0.8 * average + 0.2 * occupied
    _set_slots(tx, limit, active_slots(tx, limit) - slots)


def take_slots(
    tx: Tx,
    limits: Iterable[Doc],
    slots: int,
    *,
    lease_duration: float,
    holder: dict[str, Any] | None,
) -> Doc | float:
    """Take `slots` from every active limit under a new lease, or none of them.

    Returns the lease, or the seconds to wait before trying again (Retry-After) when a
    limit has no room.
    """
    active = [limit for limit in limits if limit.get("active", True)]
    wait = acquire(tx, active, slots)
    if wait is not None:
        return wait
    return new_lease(tx, active, slots, lease_duration=lease_duration, holder=holder)


def acquire(tx: Tx, limits: Iterable[Doc], slots: int) -> float | None:
    """Take `slots` from every active limit, or none of them: None when taken, else the
    seconds to wait before trying again (Retry-After)."""
    active = [limit for limit in limits if limit.get("active", True)]
    blocking = [limit for limit in active if active_slots(tx, limit) + slots > limit["limit"]]
    if blocking:
        return max(_retry_after(limit, slots) for limit in blocking)
    for limit in active:
        occupy(tx, limit, slots)
    return None


def occupy(tx: Tx, limit: Doc, slots: int) -> None:
    """Take `slots` of a limit whether or not it has room (callers check first)."""
    _set_slots(tx, limit, active_slots(tx, limit) + slots)


def new_lease(
    tx: Tx,
    limits: Iterable[Doc],
    slots: int,
    *,
    lease_duration: float,
    holder: dict[str, Any] | None,
) -> Doc:
    """Record that `holder` holds `slots` of `limits` (already taken) until the lease
    expires, `lease_duration` seconds from now, or is released."""
    lease = {
        "id": str(new_id()),
        "created": tx.now_iso,
        "expiration": iso(tx.now + timedelta(seconds=lease_duration)),
        "resource_ids": [limit["id"] for limit in limits],
        "slots": slots,
        "holder": holder,
    }
    tx.insert(CONCURRENCY_LEASES, lease)
    return lease


def leases_on(tx: Tx, limit: Doc) -> list[Doc]:
    """The leases that hold slots of `limit`."""
    return [lease for lease in tx.find(CONCURRENCY_LEASES) if limit["id"] in lease["resource_ids"]]


def _retry_after(limit: Doc, slots: int) -> float:
    decay = float(limit.get("slot_decay_per_second") or 0.0)
    if decay > 0:
        return slots / decay
    per_slot = min(float(limit.get("avg_slot_occupancy_seconds") or 2.0), MAX_RETRY_AFTER)
    return min(per_slot * slots / max(int(limit["limit"]), 1), MAX_RETRY_AFTER)
