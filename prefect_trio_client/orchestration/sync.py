"""`SyncPrefectClient`: the blocking twin of `PrefectClient`, running the same endpoints."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from prefect_trio_client.base import (
    PrefectHttpxSyncClient,
    PrefectResponse,
    ServerType,
    determine_server_type,
)
from prefect_trio_client.orchestration._connection import check_api_version, httpx_client_kwargs
from prefect_trio_client.orchestration._endpoints import Endpoints
from prefect_trio_client.orchestration._plan import Request, SyncRunner
from prefect_trio_client.settings import ClientSettings

__all__ = ["SyncPrefectClient"]


class SyncPrefectClient(SyncRunner, Endpoints):
    """A blocking client with the methods of `PrefectClient`. Use it as a context manager::

        with SyncPrefectClient("http://127.0.0.1:4200/api") as client:
            flow = client.read_flow_by_name("etl")

    Args: as `PrefectClient`.
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
        self._http = PrefectHttpxSyncClient(**kwargs)
        self._entered = False
        self._closed = False

    @property
    def api_url(self) -> httpx.URL:
        return self._http.base_url

    @property
    def httpx_client(self) -> PrefectHttpxSyncClient:
        """The underlying HTTP client, for requests this class has no method for."""
        return self._http

    def __enter__(self) -> SyncPrefectClient:
        if self._closed:
            raise RuntimeError("a SyncPrefectClient cannot be used again after it was closed")
        if self._entered:
            raise RuntimeError("this SyncPrefectClient is already open")
        self._http.__enter__()
        self._entered = True
        try:
            if self._check_server_version and self.server_type is not ServerType.CLOUD:
                check_api_version(self.api_version())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool; sleeping retries and WAITs end at once."""
        self._closed = True
        self._http.close()

    def _send(self, request: Request) -> PrefectResponse:
        if not self._entered:
            raise RuntimeError("open the client first: `with client:`")
        http_request = self._http.build_request(
            request.method,
            request.path,
            json=request.json,
            params=request.params,
            extensions=dict(request.extensions),
        )
        return self._http.send(http_request)

    def _sleep(self, seconds: float) -> None:
        self._http._sleep(seconds)
