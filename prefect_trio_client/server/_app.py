"""`create_app`: the embedded Prefect-compatible API as one Starlette application."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Router

from prefect_trio_client.server._csrf import CsrfMiddleware
from prefect_trio_client.server._db import Database
from prefect_trio_client.server._errors import error_response
from prefect_trio_client.server._http import Api, ServerConfig
from prefect_trio_client.server._routes import api_routes
from prefect_trio_client.server._time import Clock, system_clock

__all__ = ["DEFAULT_DATABASE_NAME", "create_app", "default_database_path"]

DEFAULT_DATABASE_NAME = "prefect-trio-client.db"
"""Our file's name under the Prefect home; never Prefect's own ``prefect.db``."""


def default_database_path() -> Path:
    """``$PREFECT_HOME/prefect-trio-client.db``, with Prefect's default home ``~/.prefect``."""
    home = os.environ.get("PREFECT_HOME") or "~/.prefect"
    return Path(home).expanduser() / DEFAULT_DATABASE_NAME


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path, wrong method) as JSON ``detail``, like FastAPI."""
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, {"detail": exc.detail}, exc.headers)


def create_app(
    database: str | os.PathLike[str] | None = None,
    *,
    csrf_protection: bool = False,
    api_prefix: str = "/api",
    clock: Clock | None = None,
    csrf_token_lifetime: timedelta = timedelta(hours=1),
    default_limit: int = 200,
) -> Starlette:
    """A Prefect-compatible API server as an ASGI app (Starlette: runs under trio or asyncio).

    The database is opened (created or migrated) when the app's lifespan starts and
    closed when it ends, so run the lifespan: an ASGI server does, and in-process use
    goes through a lifespan driver. Every route is under `api_prefix`, as in Prefect
    (``http://host:port/api/health``).

    Args:
        database: An SQLite file, or ``":memory:"`` for a private database that lives
            while a lifespan of this app runs. Default: `default_database_path()`,
            resolved now.
        csrf_protection: Require Prefect's CSRF token on POST, PUT, PATCH and DELETE.
        api_prefix: Where the API is mounted ("" for the root).
        clock: Where the server reads the time (tests pass a fake one).
        csrf_token_lifetime: How long a token from ``/csrf-token`` stays valid.
        default_limit: The page size of filters that give none, and the largest allowed.
    """
    location = default_database_path() if database is None else database
    now = clock or system_clock
    config = ServerConfig(
        csrf_protection=csrf_protection,
        csrf_token_lifetime=csrf_token_lifetime,
        default_limit=default_limit,
    )
    api = Api(Database(location, clock=now), now, config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await api.database.open()
        try:
            yield
        finally:
            await api.database.close()

    # No slash redirects (Starlette's default): the router matches the decoded path, so
    # ``/flows/name/a%2F`` would be redirected to ``/flows/name/a``, another object's URL.
    # An unknown path answers 404; API clients do not follow redirects anyway.
    routes: list[BaseRoute] = api_routes()
    if api_prefix:
        routes = [Mount(api_prefix, app=Router(routes, redirect_slashes=False))]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(CsrfMiddleware, api=api)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.prefect_api = api
    return app
