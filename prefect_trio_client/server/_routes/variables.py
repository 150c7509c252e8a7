"""Variables: named JSON values, unique by name, addressed by name or id."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import VariableCreate, VariableUpdate
from prefect_trio_client.schemas.filters import VariableFilter
from prefect_trio_client.schemas.sorting import VariableSort
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import conflict, not_found
from prefect_trio_client.server._filters import VARIABLE_SORTS, compile_filter
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
from prefect_trio_client.server._tables import VARIABLES

__all__ = ["ROUTES"]

VARIABLE_NOT_FOUND = "Variable not found."


class VariablesBody(PageBody):
    """Body of ``/variables/filter`` and ``/variables/count``."""

    variables: VariableFilter | None = None
    sort: VariableSort | None = None


def _taken(name: str) -> Exception:
    return conflict(f"A variable with the name {name!r} already exists.")


async def create(request: Request) -> Response:
    body = validate(VariableCreate, await json_body(request))

    def work(tx: Tx) -> Reply:
        if tx.first(VARIABLES, name=body.name) is not None:
            raise _taken(body.name)
        variable = {
            "id": str(new_id()),
            "created": tx.now_iso,
            "updated": tx.now_iso,
            "name": body.name,
            "value": body.value,
            "tags": list(body.tags),
        }
        tx.insert(VARIABLES, variable)
        return created(variable)

    return await api_of(request).write(work)


def _by_name(tx: Tx, name: str) -> Doc:
    variable = tx.first(VARIABLES, name=name)
    if variable is None:
        raise not_found(VARIABLE_NOT_FOUND)
    return variable


def _by_id(tx: Tx, variable_id: str) -> Doc:
    variable = tx.get(VARIABLES, variable_id)
    if variable is None:
        raise not_found(VARIABLE_NOT_FOUND)
    return variable


def _key(request: Request) -> tuple[bool, str]:
    if "name" in request.path_params:
        return True, str(request.path_params["name"])
    return False, path_id(request)


def _find(tx: Tx, by_name: bool, key: str) -> Doc:
    return _by_name(tx, key) if by_name else _by_id(tx, key)


async def read(request: Request) -> Response:
    by_name, key = _key(request)
    return await api_of(request).read(lambda tx: ok(_find(tx, by_name, key)))


async def update(request: Request) -> Response:
    by_name, key = _key(request)
    body = validate(VariableUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        variable = _find(tx, by_name, key)
        given = body.model_fields_set
        if "name" in given and body.name is not None and body.name != variable["name"]:
            if tx.first(VARIABLES, name=body.name) is not None:
                raise _taken(body.name)
            variable["name"] = body.name
        if "value" in given:
            variable["value"] = body.value
        if "tags" in given and body.tags is not None:
            variable["tags"] = list(body.tags)
        variable["updated"] = tx.now_iso
        tx.update(VARIABLES, variable)
        return no_content()

    return await api_of(request).write(work)


async def delete(request: Request) -> Response:
    by_name, key = _key(request)

    def work(tx: Tx) -> Reply:
        tx.delete(VARIABLES, _find(tx, by_name, key)["id"])
        return no_content()

    return await api_of(request).write(work)


def _matching(tx: Tx, body: VariablesBody) -> list[Doc]:
    matches = compile_filter(body.variables)
    return [v for v in tx.find(VARIABLES) if matches(v)]


filter_variables, count_variables = listing(
    VariablesBody, _matching, VARIABLE_SORTS, VariableSort.NAME_ASC
)


ROUTES = [
    route("/variables/", create, "POST"),
    route("/variables/filter", filter_variables, "POST"),
    route("/variables/count", count_variables, "POST"),
    route("/variables/name/{name}", read, "GET"),
    route("/variables/name/{name}", update, "PATCH"),
    route("/variables/name/{name}", delete, "DELETE"),
    route("/variables/{id:uuid}", read, "GET"),
    route("/variables/{id:uuid}", update, "PATCH"),
    route("/variables/{id:uuid}", delete, "DELETE"),
]
