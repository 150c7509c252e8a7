"""In-process HTTP to an ASGI app, made while holding a lease on the app's lifespan.

The HTTP clients and the ephemeral server reach an in-process app one way: an
`httpx.ASGITransport` created inside a lease, whose requests see a shallow copy of the
lifespan ``state`` dict, as ASGI servers give them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar, overload

import httpx

from prefect_trio_client._lifespan_default import current_lifespan_service
from prefect_trio_client._lifespan_driver import ASGIApp, Message, Receive, Scope, Send
from prefect_trio_client._lifespan_service import LifespanService

__all__ = ["LifespanASGITransport", "lifespan_client", "lifespan_transport"]

ClientT = TypeVar("ClientT", bound=httpx.AsyncClient)

_DEFAULT_CLIENT_ADDRESS = ("127.0.0.1", 123)  # httpx.ASGITransport's own default


class _WithLifespanState:
    """Wraps an app so each request scope gets its own shallow copy of the state.

    It also reads whatever request body the app left unread: httpx's ASGITransport
    iterates the body with an async generator that, left unexhausted, trio finalizes
    with a ResourceWarning (an error under ``-W error``).
    """

    __slots__ = ("app", "state")

    def __init__(self, app: ASGIApp, state: Mapping[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope["state"] = dict(self.state)
        body_read = False

        async def observed_receive() -> Message:
            nonlocal body_read
            message = await receive()
            if message.get("type") != "http.request" or not message.get("more_body", False):
                body_read = True
            return message

        await self.app(scope, observed_receive, send)
        while scope["type"] == "http" and not body_read:
            await observed_receive()


class LifespanASGITransport(httpx.ASGITransport):
    """An `httpx.ASGITransport` whose requests carry the app's lifespan state.

    Each request's ``scope["state"]`` is a shallow copy of the state the app filled in
    during its startup, so a request may rebind keys without affecting others.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        lifespan_state: Mapping[str, Any],
        raise_app_exceptions: bool = True,
        root_path: str = "",
        client: tuple[str, int] = _DEFAULT_CLIENT_ADDRESS,
    ) -> None:
        super().__init__(
            app=_WithLifespanState(app, lifespan_state),
            raise_app_exceptions=raise_app_exceptions,
            root_path=root_path,
            client=client,
        )
        self.lifespan_app = app
        self.lifespan_state = lifespan_state


@asynccontextmanager
async def lifespan_transport(
    app: ASGIApp,
    *,
    service: LifespanService | None = None,
    raise_app_exceptions: bool = True,
    root_path: str = "",
    client: tuple[str, int] = _DEFAULT_CLIENT_ADDRESS,
) -> AsyncIterator[LifespanASGITransport]:
    """Hold a lease on ``app`` and yield a transport that sends requests to it.

    Args:
        app: The ASGI application.
        service: The service to lease from; by default the current one, see
            `current_lifespan_service`.
        raise_app_exceptions: As for `httpx.ASGITransport`.
        root_path: As for `httpx.ASGITransport`.
        client: As for `httpx.ASGITransport`: the client address requests come from.

    Raises:
        LifespanStartupError: The app failed to start; the cause is chained.
    """
    leasing = service if service is not None else current_lifespan_service()
    async with leasing.lease(app) as state:
        yield LifespanASGITransport(
            app,
            lifespan_state=state,
            raise_app_exceptions=raise_app_exceptions,
            root_path=root_path,
            client=client,
        )


@overload
def lifespan_client(
    app: ASGIApp,
    *,
    base_url: str = ...,
    client_class: type[ClientT],
    service: LifespanService | None = ...,
    **client_kwargs: Any,
) -> AbstractAsyncContextManager[ClientT]: ...


@overload
def lifespan_client(
    app: ASGIApp,
    *,
    base_url: str = ...,
    service: LifespanService | None = ...,
    **client_kwargs: Any,
) -> AbstractAsyncContextManager[httpx.AsyncClient]: ...


def lifespan_client(
    app: ASGIApp,
    *,
    base_url: str = "http://ephemeral",
    client_class: type[httpx.AsyncClient] = httpx.AsyncClient,
    service: LifespanService | None = None,
    **client_kwargs: Any,
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """An HTTP client for ``app``, in process, holding a lease on its lifespan.

    Args:
        app: The ASGI application.
        base_url: The base URL of the client's requests.
        client_class: `httpx.AsyncClient` or a subclass (such as the package's
            `PrefectHttpxAsyncClient`); the block's value is an instance of it.
        service: The service to lease from; by default the current one.
        **client_kwargs: Passed on to ``client_class``.

    Raises:
        TypeError: ``client_kwargs`` holds a ``transport``: the helper provides it.
        LifespanStartupError: On entry, when the app failed to start.
    """
    if "transport" in client_kwargs:
        raise TypeError("lifespan_client() provides the transport itself")
    return _lifespan_client(app, base_url, client_class, service, client_kwargs)


@asynccontextmanager
async def _lifespan_client(
    app: ASGIApp,
    base_url: str,
    client_class: type[ClientT],
    service: LifespanService | None,
    client_kwargs: dict[str, Any],
) -> AsyncIterator[ClientT]:
    async with (
        lifespan_transport(app, service=service) as transport,
        client_class(transport=transport, base_url=base_url, **client_kwargs) as client,
    ):
        yield client
