"""Automation endpoints (``/automations/``).

A missing automation raises `ObjectNotFound` from `read_automation`, `find_automation`
(by id), `update_automation`, `pause_automation`, `resume_automation` and
`delete_automation`: that is what Prefect 3.9's client does in practice (its 404 checks
come after the error is raised), and `ObjectNotFound` is the `httpx.HTTPStatusError`
(404) callers of Prefect catch.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import (
    body,
    filter_body,
    parse,
    parse_id,
    parse_list,
    url_path,
)
from prefect_trio_client.schemas.automations import (
    Automation,
    AutomationCore,
    AutomationFilter,
    AutomationFilterName,
)
from prefect_trio_client.schemas.sorting import AutomationSort

__all__ = [
    "create_automation",
    "delete_automation",
    "delete_resource_owned_automations",
    "find_automation",
    "pause_automation",
    "read_automation",
    "read_automations",
    "read_automations_by_name",
    "read_resource_related_automations",
    "resume_automation",
    "update_automation",
]

_REPLACEABLE = frozenset(AutomationCore.model_fields) - {"owner_resource"}
"""What ``PUT /automations/{id}`` accepts: the server refuses ``id`` and the owner."""


def create_automation(automation: AutomationCore) -> Plan[UUID]:
    """The new automation's id. Not re-sent after a lost answer: a repeat creates another."""
    response = yield Request("POST", "/automations/", json=body(automation))
    return parse_id(response)


def update_automation(automation_id: UUID, automation: AutomationCore) -> Plan[None]:
    """Replace the automation's name, trigger, actions and settings.

    An `Automation` read from the server may be passed back changed: its ``id`` and
    timestamps are not sent (Prefect's server refuses them, and Prefect's own client
    sends them). The owner is set only at creation.

    Raises:
        ValueError: ``automation.owner_resource`` is set (the server cannot change it).
    """
    if automation.owner_resource is not None:
        raise ValueError(
            "update_automation cannot change owner_resource: Prefect sets the owner only "
            "when the automation is created"
        )
    replacement = automation.model_dump(mode="json", include=set(_REPLACEABLE))
    yield Request("PUT", url_path("automations", automation_id), json=replacement)


def read_automations(
    *,
    automations: AutomationFilter | None = None,
    sort: AutomationSort | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Plan[list[Automation]]:
    """Automations, optionally filtered, sorted (by name by default) and paged."""
    request = filter_body({"automations": automations}, sort=sort, limit=limit, offset=offset)
    response = yield Request("POST", "/automations/filter", json=request, idempotent=True)
    return parse_list(Automation, response)


def read_automation(automation_id: UUID | str) -> Plan[Automation]:
    """The automation (`ObjectNotFound` when there is none with that id)."""
    response = yield Request("GET", url_path("automations", str(automation_id)))
    return parse(Automation, response)


def read_automations_by_name(name: str) -> Plan[list[Automation]]:
    """Every automation of exactly that name (names are not unique), newest change first."""
    request = {
        "sort": AutomationSort.UPDATED_DESC.value,
        "automations": body(AutomationFilter(name=AutomationFilterName(any_=[name]))),
    }
    response = yield Request("POST", "/automations/filter", json=request, idempotent=True)
    return parse_list(Automation, response)


def find_automation(id_or_name: str | UUID) -> Plan[Automation | None]:
    """The automation with this id, else the first of this name (exactly, then ignoring
    case) among the first page of automations, else None.

    A text that is a UUID is looked up as an id only (`ObjectNotFound` when missing), as
    in Prefect.
    """
    automation_id: UUID | None
    if isinstance(id_or_name, UUID):
        automation_id, name = id_or_name, str(id_or_name)
    else:
        name = id_or_name
        try:
            automation_id = UUID(id_or_name)
        except ValueError:
            automation_id = None
    if automation_id is not None:
        found: Automation = yield from read_automation(automation_id)
        return found
    candidates: list[Automation] = yield from read_automations()
    exact = (a for a in candidates if a.name == name)
    folded = (a for a in candidates if a.name.lower() == name.lower())
    return next(exact, None) or next(folded, None)


def pause_automation(automation_id: UUID) -> Plan[None]:
    """Stop evaluating the automation (it keeps its trigger and actions)."""
    yield Request("PATCH", url_path("automations", automation_id), json=_enabled(False))


def resume_automation(automation_id: UUID) -> Plan[None]:
    """Evaluate a paused automation again."""
    yield Request("PATCH", url_path("automations", automation_id), json=_enabled(True))


def _enabled(value: bool) -> dict[str, Any]:
    return {"enabled": value}


def delete_automation(automation_id: UUID) -> Plan[None]:
    """Raises `ObjectNotFound` when there is no automation with that id."""
    yield Request("DELETE", url_path("automations", automation_id))


def read_resource_related_automations(resource_id: str) -> Plan[list[Automation]]:
    """Automations related to a resource (``prefect.deployment.<id>``): those it owns and
    those whose actions select it."""
    response = yield Request("GET", url_path("automations", "related-to", resource_id))
    return parse_list(Automation, response)


def delete_resource_owned_automations(resource_id: str) -> Plan[None]:
    """Delete every automation the resource owns (see ``AutomationCore.owner_resource``)."""
    yield Request("DELETE", url_path("automations", "owned-by", resource_id))
