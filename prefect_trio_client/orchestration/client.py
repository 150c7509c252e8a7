"""`PrefectClient`: the async orchestration client, for trio and asyncio alike.

It captures no event loop: everything it awaits goes through anyio, so one class serves
both backends. Its methods come from `Endpoints`, shared with `SyncPrefectClient`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from prefect_trio_client.base import (
    PrefectHttpxAsyncClient,
    PrefectResponse,
    ServerType,
    determine_server_type,
)
from prefect_trio_client.orchestration._connection import check_api_version, httpx_client_kwargs
from prefect_trio_client.orchestration._endpoints import Endpoints
from prefect_trio_client.orchestration._plan import AsyncRunner, Request
from prefect_trio_client.settings import ClientSettings

__all__ = ["PrefectClient"]


class PrefectClient(AsyncRunner, Endpoints):
    """An async client for a Prefect server or Prefect Cloud. Use it as a context manager::

        async with PrefectClient("http://127.0.0.1:4200/api") as client:
            flow_id = await client.create_flow_from_name("etl")

    Most programs call `get_client()` instead, which reads the settings.

    Args:
        api: The API's base URL.
        api_key: Sent as ``Authorization: Bearer``.
        auth_string: ``user:password`` sent as basic auth (wins over `api_key`).
        api_version: The ``X-PREFECT-API-VERSION`` to send (default: ours).
        httpx_settings: Extra keyword arguments for the HTTP client (merged last).
        server_type: What `api` is; by default decided from the settings.
        settings: Settings to use instead of reading the environment.
        check_server_version: On entry, refuse a server with another API major version
            (never checked against Prefect Cloud).
    """

    def __init__(
        self,
        api: str,
        *,
        api_key: str | None = None,
        auth_string: str | None = None,
        api_version: str | None = None,
        httpx_settings: dict[str, Any] | None = None,
        server_type: ServerType | None = None,
        settings: ClientSettings | None = None,
        check_server_version: bool = True,
    ) -> None:
        self._settings = settings or ClientSettings()
        self.server_type = server_type or determine_server_type(self._settings)
        self._check_server_version = check_server_version
        kwargs = httpx_client_kwargs(
            api,
            settings=self._settings,
            server_type=self.server_type,
            api_key=api_key,
            auth_string=auth_string,
            api_version=api_version,
            httpx_settings=httpx_settings,
        )
        self._http = PrefectHttpxAsyncClient(**kwargs)
        self._entered = False
        self._closed = False

    @property
    def api_url(self) -> httpx.URL:
        return self._http.base_url

    @property
    def httpx_client(self) -> PrefectHttpxAsyncClient:
        """The underlying HTTP client, for requests this class has no method for."""
        return self._http

    async def __aenter__(self) -> PrefectClient:
        if self._closed:
            raise RuntimeError("a PrefectClient cannot be used again after it was closed")
        if self._entered:
            raise RuntimeError("this PrefectClient is already open")
        await self._http.__aenter__()
        self._entered = True
        try:
            if self._check_server_version and self.server_type is not ServerType.CLOUD:
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
        if not self._entered:
            raise RuntimeError("open the client first: `async with client:`")
        http_request = self._http.build_request(
            request.method,
            request.path,
            json=request.json,
            params=request.params,
            extensions=dict(request.extensions),
        )
        return await self._http.send(http_request)

    async def _sleep(self, seconds: float) -> None:
        await self._http._sleep(seconds)
