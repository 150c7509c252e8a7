"""Tag-based (v1) concurrency limits: at most N task runs with a tag run at once.

Prefect 3 keeps each tag limit as a global limit named ``tag:<tag>`` and each task run's
slot as a lease held by that run; these endpoints keep the v1 shapes over it.
"""

from __future__ import annotations

from uuid import UUID

from prefect_trio_client.base import PrefectResponse
from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import body, parse, parse_id, parse_list, url_path
from prefect_trio_client.schemas.actions import ConcurrencyLimitCreate
from prefect_trio_client.schemas.objects import ConcurrencyLimit

__all__ = [
    "create_concurrency_limit",
    "decrement_v1_concurrency_slots",
    "delete_concurrency_limit_by_tag",
    "increment_v1_concurrency_slots",
    "read_concurrency_limit_by_tag",
    "read_concurrency_limits",
    "reset_concurrency_limit_by_tag",
]


def create_concurrency_limit(tag: str, concurrency_limit: int) -> Plan[UUID]:
    """Limit the task runs tagged `tag` to `concurrency_limit` at once; return the id.

    Safe to re-send: the server upserts by tag (an existing limit gets the new number).
    """
    create = ConcurrencyLimitCreate(tag=tag, concurrency_limit=concurrency_limit)
    response = yield Request("POST", "/concurrency_limits/", json=body(create), idempotent=True)
    return parse_id(response)


def read_concurrency_limit_by_tag(tag: str) -> Plan[ConcurrencyLimit]:
    """The tag's limit and the task runs holding its slots.

    Raises `ObjectNotFound` for a tag without a limit.
    """
    response = yield Request("GET", url_path("concurrency_limits", "tag", tag))
    return parse(ConcurrencyLimit, response)


def read_concurrency_limits(limit: int, offset: int) -> Plan[list[ConcurrencyLimit]]:
    """Tag limits, by tag, paged."""
    response = yield Request(
        "POST",
        "/concurrency_limits/filter",
        json={"limit": limit, "offset": offset},
        idempotent=True,
    )
    return parse_list(ConcurrencyLimit, response)


def reset_concurrency_limit_by_tag(
    tag: str, slot_override: list[UUID | str] | None = None
) -> Plan[None]:
    """Free every slot of the tag's limit, then give one to each task run of
    `slot_override` (list only runs that are really running, or those slots stay taken).

    Safe to re-send: a repeat frees the same slots and gives the same ones again.
    Raises `ObjectNotFound` for a tag without a limit.
    """
    override = None if slot_override is None else [str(UUID(str(x))) for x in slot_override]
    yield Request(
        "POST",
        url_path("concurrency_limits", "tag", tag, "reset"),
        json={"slot_override": override},
        idempotent=True,
    )


def delete_concurrency_limit_by_tag(tag: str) -> Plan[None]:
    """Raises `ObjectNotFound` for a tag without a limit."""
    yield Request("DELETE", url_path("concurrency_limits", "tag", tag))


def increment_v1_concurrency_slots(names: list[str], task_run_id: UUID) -> Plan[PrefectResponse]:
    """Take a slot of each named tag's limit for `task_run_id`; the raw response (the
    limits taken), as in Prefect. 423 (raised) when a tag's limit is full.

    Not re-sent after a lost answer: each send takes another slot for the run.
    """
    response: PrefectResponse = yield Request(
        "POST",
        "/concurrency_limits/increment",
        json={"names": list(names), "task_run_id": str(task_run_id)},
    )
    return response


def decrement_v1_concurrency_slots(
    names: list[str], task_run_id: UUID, occupancy_seconds: float
) -> Plan[PrefectResponse]:
    """Give back the slots `task_run_id` holds on the named tags' limits; the raw
    response (the limits found), as in Prefect.

    Safe to re-send: the first send frees every slot the run holds there; a repeat
    finds none.
    """
    response: PrefectResponse = yield Request(
        "POST",
        "/concurrency_limits/decrement",
        json={
            "names": list(names),
            "task_run_id": str(task_run_id),
            "occupancy_seconds": occupancy_seconds,
        },
        idempotent=True,
    )
    return response
