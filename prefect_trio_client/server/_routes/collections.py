"""Prefect's collection registry views (``GET /collections/views/{view}``).

A Prefect server fetches these from the prefect-collection-registry on GitHub (falling
back to a copy it ships). The embedded server never reaches out to the network and
publishes no collections, so a known view is an empty object; an unknown one is 404 with
Prefect's text.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.server._errors import not_found
from prefect_trio_client.server._http import ok, route

__all__ = ["KNOWN_VIEWS", "ROUTES"]

KNOWN_VIEWS = frozenset(
    {
        "aggregate-block-metadata",
        "aggregate-flow-metadata",
        "aggregate-worker-metadata",
        "demo-flows",
    }
)
"""The views a Prefect 3.9 server knows."""


async def read_view(request: Request) -> Response:
    view = request.path_params["view"]
    if view not in KNOWN_VIEWS:
        raise not_found(f"View {view} not found in registry")
    return ok({}).encode()


ROUTES = [route("/collections/views/{view}", read_view, "GET")]
