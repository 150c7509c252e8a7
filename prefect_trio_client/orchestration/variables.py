"""Variable endpoints."""

from __future__ import annotations

from typing import Any

from prefect_trio_client.exceptions import ObjectNotFound
from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import body, filter_body, parse, parse_list, url_path
from prefect_trio_client.schemas.actions import VariableCreate, VariableUpdate
from prefect_trio_client.schemas.filters import VariableFilter
from prefect_trio_client.schemas.objects import Variable
from prefect_trio_client.schemas.sorting import VariableSort

__all__ = [
    "create_variable",
    "delete_variable_by_name",
    "read_variable_by_name",
    "read_variables",
    "update_variable",
]


def create_variable(variable: VariableCreate) -> Plan[Variable]:
    """Raises `ObjectAlreadyExists` when a variable of that name exists."""
    response = yield Request("POST", "/variables/", json=body(variable))
    return parse(Variable, response)


def read_variable_by_name(name: str) -> Plan[Variable | None]:
    """The variable, or None when there is none of that name (as in Prefect)."""
    try:
        response = yield Request("GET", url_path("variables", "name", name))
    except ObjectNotFound:
        return None
    return parse(Variable, response)


def read_variables(
    limit: int | None = None,
    *,
    variable_filter: VariableFilter | None = None,
    sort: VariableSort | None = None,
    offset: int | None = None,
) -> Plan[list[Variable]]:
    """Variables, optionally filtered, sorted and paged."""
    request: dict[str, Any] = {"limit": limit}
    if variable_filter is not None or sort is not None or offset is not None:
        request = filter_body(
            {"variables": variable_filter}, limit=limit, offset=offset or 0, sort=sort
        )
    response = yield Request("POST", "/variables/filter", json=request, idempotent=True)
    return parse_list(Variable, response)


def update_variable(variable: VariableUpdate) -> Plan[None]:
    """Change the variable named by ``variable.name``."""
    if variable.name is None:
        raise ValueError("update_variable needs VariableUpdate.name to know which variable")
    yield Request("PATCH", url_path("variables", "name", variable.name), json=body(variable))


def delete_variable_by_name(name: str) -> Plan[None]:
    """Raises `ObjectNotFound` when there is no variable of that name."""
    yield Request("DELETE", url_path("variables", "name", name))
