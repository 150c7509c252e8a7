"""Ephemeral mode: clients that talk to the embedded server in-process.

With no ``PREFECT_API_URL`` (and ephemeral mode allowed), `get_client()` serves the API
from `prefect_trio_client.server` inside this process, through `httpx.ASGITransport`.

- The async client's transport takes a lease from the lifespan service when the client
  opens (`app_lifespan_context`, so nested and concurrent clients share one app and one
  startup) and gives it back when the client closes.
- The sync client's transport runs an event loop in a worker thread (an anyio
  `BlockingPortal`), holds the lease there, and hands each request to that loop.

One app object per database file is kept for the life of the process, so that every
client of that file leases the same app; its lifespan state, not the object, holds the
open database.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    ExitStack,
    asynccontextmanager,
)
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from prefect_trio_client.lifespan import (
    ASGIApp,
    LifespanASGITransport,
    current_lifespan_service,
    lifespan_transport,
)

if TYPE_CHECKING:
    import anyio.from_thread

    from prefect_trio_client.settings import ClientSettings

__all__ = [
    "LeasedASGITransport",
    "PortalASGITransport",
    "ephemeral_app",
    "ephemeral_database",
]

DATABASE_FILE_NAME = "prefect-trio-client.db"

_apps: dict[str, ASGIApp] = {}
_apps_lock = threading.Lock()


def ephemeral_database(settings: ClientSettings) -> Path:
    """The embedded server's database file: ours, under ``PREFECT_HOME``."""
    return settings.home / DATABASE_FILE_NAME


def ephemeral_app(database: str | Path) -> ASGIApp:
    """The process's embedded server app for `database`, created on first use."""
    from prefect_trio_client.server import create_app  # noqa: PLC0415  # only when needed

    key = str(database)
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            app = _apps[key] = create_app(database=database)
        return app


class LeasedASGITransport(httpx.AsyncBaseTransport):
    """Sends requests to an in-process app while its client holds a lifespan lease.

    `httpx.AsyncClient` enters its transport when the client is entered and closes it
    when the client closes: that is when the lease is taken and given back.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._lease: AbstractAsyncContextManager[LifespanASGITransport] | None = None
        self._inner: LifespanASGITransport | None = None

    async def __aenter__(self) -> LeasedASGITransport:
        if self._lease is not None:
            raise RuntimeError("this in-process transport is already open")
        lease = lifespan_transport(self.app)
        self._inner = await lease.__aenter__()
        self._lease = lease
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        lease, self._lease, self._inner = self._lease, None, None
        if lease is not None:
            await lease.__aexit__(None, None, None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            raise RuntimeError("open the client first: the embedded server is not leased")
        return await self._inner.handle_async_request(request)


class PortalASGITransport(httpx.BaseTransport):
    """A blocking transport to an in-process app served by an event loop in a thread.

    Opening it starts the loop (an anyio blocking portal) and takes the lifespan lease
    there; each request is handed to that loop and its body read in full; closing it
    gives the lease back and stops the loop.

    The worker loop runs asyncio: trio refuses calls into a loop from a thread that is
    itself running trio, and a blocking client is sometimes called from async code
    (however unwise); asyncio's cross-thread calls have no such guard.

    Args:
        app: The ASGI app.
        backend: The worker loop's anyio backend.
    """

    def __init__(self, app: ASGIApp, *, backend: str = "asyncio") -> None:
        self.app = app
        self.backend = backend
        self._stack: ExitStack | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._inner: httpx.ASGITransport | None = None

    def __enter__(self) -> PortalASGITransport:
        if self._stack is not None:
            raise RuntimeError("this in-process transport is already open")
        import anyio.from_thread  # noqa: PLC0415  # only the sync client in ephemeral mode

        stack = ExitStack()
        try:
            portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] = (
                anyio.from_thread.start_blocking_portal(self.backend)
            )
            portal = stack.enter_context(portal_cm)
            state = stack.enter_context(portal.wrap_async_context_manager(_lease(self.app)))
            self._inner = LifespanASGITransport(self.app, lifespan_state=state)
        except BaseException:
            stack.close()
            raise
        self._stack, self._portal = stack, portal
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.close()

    def close(self) -> None:
        stack, self._stack, self._portal, self._inner = self._stack, None, None, None
        if stack is not None:
            stack.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        portal, inner = self._portal, self._inner
        if portal is None or inner is None:
            raise RuntimeError("open the client first: the embedded server is not leased")
        body = request.read()
        forwarded = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=body,
            extensions=request.extensions,
        )
        status, headers, content, extensions = portal.call(_send, inner, forwarded)
        return httpx.Response(
            status, headers=headers, content=content, extensions=extensions, request=request
        )


@asynccontextmanager
async def _lease(app: ASGIApp) -> AsyncIterator[Mapping[str, Any]]:
    """A lease from the worker loop's default service, yielding the lifespan state."""
    async with current_lifespan_service().lease(app) as state:
        yield state


async def _send(
    transport: httpx.ASGITransport, request: httpx.Request
) -> tuple[int, list[tuple[bytes, bytes]], bytes, dict[str, Any]]:
    response = await transport.handle_async_request(request)
    content = await response.aread()
    extensions = {k: v for k, v in response.extensions.items() if k != "http_version"}
    return response.status_code, response.headers.raw, content, extensions
