"""Automations: stored and served as Prefect's open-source server does; never evaluated.

What matters to a client is kept: the trigger kinds that server accepts (event, compound,
sequence; metric triggers and Prefect Cloud's actions are refused with 422), fresh trigger
ids on every create and replace, partial replaces (a PUT keeps the fields it does not
give), and the related resources behind ``/related-to/`` and ``/owned-by/``: the owner
given at creation, and each deployment a ``run-deployment`` action selects.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.automations import (
    AutomationCore,
    AutomationFilter,
    DeclareIncident,
    MetricTrigger,
    RunDeployment,
    UnknownAction,
    UnknownTrigger,
)
from prefect_trio_client.schemas.sorting import AutomationSort
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import ApiError, invalid_request
from prefect_trio_client.server._filters import SortKeys, compile_filter
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
from prefect_trio_client.server._queries import PageBody
from prefect_trio_client.server._routes._listing import listing
from prefect_trio_client.server._tables import AUTOMATION_RELATED_RESOURCES, AUTOMATIONS

__all__ = ["ROUTES"]

DEPLOYMENT_PREFIX = "prefect.deployment."


class AutomationsBody(PageBody):
    """Body of ``/automations/filter`` and ``/automations/count``."""

    automations: AutomationFilter | None = None
    sort: AutomationSort | None = None


class EnabledBody(BaseModel):
    """Body of ``PATCH /automations/{id}`` (Prefect's partial update)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True


def _field(name: str) -> Any:
    return lambda doc: doc.get(name)


AUTOMATION_SORTS: Mapping[AutomationSort, SortKeys] = {
    AutomationSort.CREATED_DESC: [(_field("created"), True)],
    AutomationSort.UPDATED_DESC: [(_field("updated"), True)],
    AutomationSort.NAME_ASC: [(_field("name"), False)],
    AutomationSort.NAME_DESC: [(_field("name"), True)],
}


def _not_found() -> ApiError:
    # Prefect's ObjectNotFoundError handler answers with this key, not "detail".
    return ApiError(404, content={"exception_message": "Automation not found"})


# --------------------------------------------------------------------------- input


def _refusal(loc: list[str | int], kind: str, message: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": ["body", *loc], "msg": message, "input": value}


def _unsupported(core: AutomationCore) -> list[dict[str, Any]]:
    """What Prefect's open-source server cannot store, as 422 errors."""
    errors: list[dict[str, Any]] = []
    pending: list[tuple[list[str | int], Any]] = [(["trigger"], core.trigger)]
    while pending:
        loc, trigger = pending.pop()
        if isinstance(trigger, MetricTrigger | UnknownTrigger):
            message = f"Trigger type {trigger.type!r} is not supported by this server"
            errors.append(_refusal([*loc, "type"], "union_tag_invalid", message, trigger.type))
        for index, child in enumerate(getattr(trigger, "triggers", [])):
            pending.append(([*loc, "triggers", index], child))
    for field in ("actions", "actions_on_trigger", "actions_on_resolve"):
        for index, action in enumerate(getattr(core, field)):
            if isinstance(action, UnknownAction | DeclareIncident):
                message = f"Action type {action.type!r} is not supported by this server"
                loc = [field, index, "type"]
                errors.append(_refusal(loc, "union_tag_invalid", message, action.type))
    return errors


def _automation(data: Any, *, owner_allowed: bool) -> AutomationCore:
    """The body as an automation this server stores, or 422 in Prefect's shape."""
    if not owner_allowed and isinstance(data, dict) and "owner_resource" in data:
        extra = _refusal(
            ["owner_resource"],
            "extra_forbidden",
            "Extra inputs are not permitted",
            data["owner_resource"],
        )
        raise invalid_request([extra], data)
    core = validate(AutomationCore, data)
    errors = _unsupported(core)
    if errors:
        raise invalid_request(errors, data)
    return core


def _with_ids(trigger: dict[str, Any]) -> dict[str, Any]:
    """The trigger with a fresh ``id`` on it and each trigger inside it (Prefect resets
    client-given ids on every create and replace)."""
    stored = {"type": trigger["type"], "id": str(uuid.uuid4()), **trigger}
    if "triggers" in stored:
        stored["triggers"] = [_with_ids(child) for child in stored["triggers"]]
    return stored


def _fields(core: AutomationCore, names: set[str]) -> dict[str, Any]:
    data: dict[str, Any] = core.model_dump(mode="json", include=names)
    if "trigger" in data:
        data["trigger"] = _with_ids(data["trigger"])
    return data


_STORED = frozenset(AutomationCore.model_fields) - {"owner_resource"}


# --------------------------------------------------------------------------- related resources


def _relate(tx: Tx, automation_id: str, resource_id: str, owned: bool) -> None:
    row = tx.first(
        AUTOMATION_RELATED_RESOURCES, automation_id=automation_id, resource_id=resource_id
    )
    if row is None:
        tx.insert(
            AUTOMATION_RELATED_RESOURCES,
            {
                "id": str(new_id()),
                "created": tx.now_iso,
                "updated": tx.now_iso,
                "automation_id": automation_id,
                "resource_id": resource_id,
                "automation_owned_by_resource": owned,
            },
        )
        return
    row["automation_owned_by_resource"] = row["automation_owned_by_resource"] or owned
    row["updated"] = tx.now_iso
    tx.update(AUTOMATION_RELATED_RESOURCES, row)


def _relate_deployments(tx: Tx, automation_id: str, actions: list[Any]) -> None:
    """Relate the automation to the deployments its actions select, and to no others."""
    for row in tx.find(AUTOMATION_RELATED_RESOURCES, automation_id=automation_id):
        if (
            row["resource_id"].startswith(DEPLOYMENT_PREFIX)
            and not row["automation_owned_by_resource"]
        ):
            tx.delete(AUTOMATION_RELATED_RESOURCES, row["id"])
    selected = {
        str(action.deployment_id)
        for action in actions
        if isinstance(action, RunDeployment) and action.source == "selected"
    }
    for deployment_id in sorted(selected):
        _relate(tx, automation_id, f"{DEPLOYMENT_PREFIX}{deployment_id}", owned=False)


def _delete(tx: Tx, automation_id: str) -> bool:
    tx.delete_where(AUTOMATION_RELATED_RESOURCES, automation_id=automation_id)
    return tx.delete(AUTOMATIONS, automation_id)


# --------------------------------------------------------------------------- handlers


async def create(request: Request) -> Response:
    data = await json_body(request)
    core = _automation(data, owner_allowed=True)

    def work(tx: Tx) -> Reply:
        automation = {
            **_fields(core, set(_STORED)),
            "id": str(new_id()),
            "created": tx.now_iso,
            "updated": tx.now_iso,
        }
        tx.insert(AUTOMATIONS, automation)
        _relate_deployments(tx, automation["id"], core.actions)
        if core.owner_resource:
            _relate(tx, automation["id"], core.owner_resource, owned=True)
        return created(automation)

    return await api_of(request).write(work)


def _find(tx: Tx, automation_id: str) -> Doc:
    automation = tx.get(AUTOMATIONS, automation_id)
    if automation is None:
        raise _not_found()
    return automation


async def read(request: Request) -> Response:
    automation_id = path_id(request)
    return await api_of(request).read(lambda tx: ok(_find(tx, automation_id)))


async def replace(request: Request) -> Response:
    """PUT: the fields the body gives replace the stored ones; the others stay."""
    automation_id = path_id(request)
    core = _automation(await json_body(request), owner_allowed=False)

    def work(tx: Tx) -> Reply:
        automation = _find(tx, automation_id)
        automation.update(_fields(core, set(core.model_fields_set & _STORED)))
        automation["updated"] = tx.now_iso
        tx.update(AUTOMATIONS, automation)
        _relate_deployments(tx, automation_id, core.actions)
        return no_content()

    return await api_of(request).write(work)


async def set_enabled(request: Request) -> Response:
    automation_id = path_id(request)
    body = validate(EnabledBody, await json_body(request))

    def work(tx: Tx) -> Reply:
        automation = _find(tx, automation_id)
        automation["enabled"] = body.enabled
        automation["updated"] = tx.now_iso
        tx.update(AUTOMATIONS, automation)
        return no_content()

    return await api_of(request).write(work)


async def delete(request: Request) -> Response:
    automation_id = path_id(request)

    def work(tx: Tx) -> Reply:
        if not _delete(tx, automation_id):
            raise _not_found()
        return no_content()

    return await api_of(request).write(work)


def _related(tx: Tx, resource_id: str, *, owned_only: bool = False) -> list[Doc]:
    found: list[Doc] = []
    for row in tx.find(AUTOMATION_RELATED_RESOURCES, resource_id=resource_id):
        if owned_only and not row["automation_owned_by_resource"]:
            continue
        automation = tx.get(AUTOMATIONS, row["automation_id"])
        if automation is not None:
            found.append(automation)
    return found


async def related_to(request: Request) -> Response:
    resource_id = str(request.path_params["resource_id"])
    return await api_of(request).read(lambda tx: ok(_related(tx, resource_id)))


async def delete_owned_by(request: Request) -> Response:
    """202 and ``null``, as Prefect answers, whether or not anything was owned."""
    resource_id = str(request.path_params["resource_id"])

    def work(tx: Tx) -> Reply:
        for automation in _related(tx, resource_id, owned_only=True):
            _delete(tx, automation["id"])
        return Reply(202, None)

    return await api_of(request).write(work)


def _matching(tx: Tx, body: AutomationsBody) -> list[Doc]:
    matches = compile_filter(body.automations)
    return [a for a in tx.find(AUTOMATIONS) if matches(a)]


filter_automations, count_automations = listing(
    AutomationsBody, _matching, AUTOMATION_SORTS, AutomationSort.NAME_ASC
)


ROUTES = [
    route("/automations/", create, "POST"),
    route("/automations/filter", filter_automations, "POST"),
    route("/automations/count", count_automations, "POST"),
    route("/automations/related-to/{resource_id:str}", related_to, "GET"),
    route("/automations/owned-by/{resource_id:str}", delete_owned_by, "DELETE"),
    route("/automations/{id:uuid}", read, "GET"),
    route("/automations/{id:uuid}", replace, "PUT"),
    route("/automations/{id:uuid}", set_enabled, "PATCH"),
    route("/automations/{id:uuid}", delete, "DELETE"),
]
