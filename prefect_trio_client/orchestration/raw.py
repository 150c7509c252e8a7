"""Prefect's generic ``client.request``: any route, with the client's retries and errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect_trio_client.base import PrefectResponse
from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import segment

__all__ = ["request"]

_SUPPORTED = {"json"}


def request(
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    path_params: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Plan[PrefectResponse]:
    """Send ``method path`` (``"/flows/{id}"`` with ``path_params={"id": ...}``) and return
    the response; error statuses raise as every method's do.

    Each path parameter is percent-encoded as one segment (Prefect pastes it in as it is,
    so a ``/`` in a name would address another route). Only a ``json`` body is taken:
    a POST is not re-sent after a lost answer, since nothing says whether the route
    dedupes it.

    Raises:
        TypeError: A keyword argument other than ``json``.
        KeyError: A ``{name}`` in `path` that `path_params` does not give.
    """
    unsupported = set(kwargs) - _SUPPORTED
    if unsupported:
        raise TypeError(
            f"request() takes only a json body besides params and path_params, not"
            f" {sorted(unsupported)}"
        )
    if path_params:
        path = path.format_map({name: segment(value) for name, value in path_params.items()})
    response: PrefectResponse = yield Request(
        method.upper(), path, json=kwargs.get("json"), params=params
    )
    return response
