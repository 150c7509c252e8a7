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
from prefect_trio_client.base import PrefectHttpxAsyncClient, PrefectResponse
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

    _lease: Any = None

    async def __aenter__(self) -> PrefectClient:
        self._check_can_open()
        self._entered = True
        try:
            if self._connection_key is None:
                await self._http.__aenter__()
                if self._check_server_version:
                    await self._check_version()
            else:
                registry = async_registry()
                self._lease = await registry.lease(
                    self._connection_key, self._open_connection, _close_connection
                )
                connection: Connection[Any] = self._lease.value
                transport = BorrowedAsyncTransport(connection.transport, connection.forget_version)
                await self._http_on(transport, connection.limit).__aenter__()
                if self._check_server_version:
                    await check_version_once(connection, self._check_version)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _check_version(self) -> None:
        check_api_version(await self.api_version())

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
        http_request = self._build(
            request.method,
            request.path,
            json=request.json,
            params=request.params,
            extensions=request.http_extensions(),
        )
        return await self._http.send(http_request)

    async def _sleep(self, seconds: float) -> None:
        await self._http._sleep(seconds)


async def _close_connection(connection: Connection[Any]) -> None:
    await connection.transport.aclose()
