"""`PrefectClient`: the async orchestration client, for trio and asyncio alike.

It captures no event loop: everything it awaits goes through anyio, so one class serves
both backends. Its methods come from `Endpoints`, shared with `SyncPrefectClient`.
"""

from __future__ import annotations

from types import TracebackType

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

    async def __aenter__(self) -> PrefectClient:
        self._check_can_open()
        await self._http.__aenter__()
        self._entered = True
        try:
            if self._check_server_version:
                check_api_version(await self.api_version())
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; sleeping retries and WAITs end at once."""
        self._closed = True
        await self._http.aclose()

    async def _send(self, request: Request) -> PrefectResponse:
        http_request = self._build(
            request.method,
            request.path,
            json=request.json,
            params=request.params,
            extensions=dict(request.extensions),
        )
        return await self._http.send(http_request)

    async def _sleep(self, seconds: float) -> None:
        await self._http._sleep(seconds)
