"""`PrefectClient`: the async orchestration client, for trio and asyncio alike.

It captures no event loop: everything it awaits goes through anyio, so one class serves
both backends. Its methods come from `Endpoints`, shared with `SyncPrefectClient`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from prefect_trio_client._pool import (
    BorrowedAsyncTransport,
    Connection,
    async_registry,
    check_version_once,
)
from prefect_trio_client.base import PrefectHttpxAsyncClient, PrefectResponse, ServerType
from prefect_trio_client.orchestration._connection import ClientBase, check_api_version
from prefect_trio_client.orchestration._endpoints import Endpoints
from prefect_trio_client.orchestration._ephemeral import LeasedASGITransport
from prefect_trio_client.orchestration._plan import AsyncRunner, Request

__all__ = ["PrefectClient"]


class PrefectClient(ClientBase[PrefectHttpxAsyncClient], AsyncRunner, Endpoints):
    """An async client for a Prefect server, Prefect Cloud, or the embedded server.

    Use it as a context manager::

        async with PrefectClient("http://127.0.0.1:4200/api") as client:
            flow_id = await client.create_flow_from_name("etl")

    Most programs call `get_client()` instead, which reads the settings. The
    constructor's arguments are described on `ClientBase`.
    """

    _http_class = PrefectHttpxAsyncClient
    _in_process_transport = LeasedASGITransport
    _borrowed_transport = BorrowedAsyncTransport

    async def __aenter__(self) -> PrefectClient:
        self._check_can_open()
        self._entered = True
        try:
            if self._connection_key is None:
                await self._http.__aenter__()
            else:
                # Its own HTTP client on the shared connection is built when first used
                # (one built before, for inspection, is never entered: it goes).
                self._http_client = None
                self._lease = await async_registry().lease(
                    self._connection_key, self._open_connection, _close_connection
                )
            if self._check_server_version:
                await check_version_once(self._version_state(), self.raise_for_api_version_mismatch)
        except BaseException:
            await self.aclose()
            raise
        return self

    def _http_on(self, connection: Connection[Any]) -> PrefectHttpxAsyncClient:
        http = super()._http_on(connection)
        # async contexts that authenticate alike share the connection's CSRF token
        http.share_csrf(connection.shared_csrf(http.headers.get("authorization")))
        return http

    async def raise_for_api_version_mismatch(self) -> None:
        """Ask the server its version; refuse one that does not run Prefect 3.

        Prefect Cloud is not asked (always compatible, as in Prefect). Unlike Prefect's
        client this raises `ServerVersionError` (a `RuntimeError`) and logs nothing for
        an older 3.x server.
        """
        if self.server_type is ServerType.CLOUD:
            return
        check_api_version(await self.api_version())

    async def raise_for_api_version_mismatch_once(self) -> None:
        """`raise_for_api_version_mismatch`, unless it already passed on this client's
        connection (shared connections share the answer; concurrent callers wait for one
        check). The check runs again after a connection error."""
        if self.server_type is ServerType.CLOUD:
            return
        await check_version_once(self._version_state(), self.raise_for_api_version_mismatch)

    async def _open_connection(self) -> Connection[Any]:
        transport: Any
        if self._app is not None:
            transport = LeasedASGITransport(self._app)
        else:
            transport = httpx.AsyncHTTPTransport(**self._transport_options())
        await transport.__aenter__()
        return Connection(transport, self._backpressure())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close this client (its own sleeping retries and WAITs end at once); the shared
        connection closes after the last client that holds it."""
        self._closed = True
        try:
            if self._http_client is not None:
                await self._http_client.aclose()
        finally:
            lease, self._lease = self._lease, None
            if lease is not None:
                await async_registry().release(lease)

    async def _send(self, request: Request) -> PrefectResponse:
        http_request = self._build(request)
        return await self._http.send(http_request)

    async def _sleep(self, seconds: float) -> None:
        await self._http._sleep(seconds)


async def _close_connection(connection: Connection[Any]) -> None:
    await connection.transport.aclose()
