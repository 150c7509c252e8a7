"""`SyncPrefectClient`: the blocking twin of `PrefectClient`, running the same endpoints."""

from __future__ import annotations

from types import TracebackType

from prefect_trio_client.base import PrefectHttpxSyncClient, PrefectResponse
from prefect_trio_client.orchestration._connection import ClientBase, check_api_version
from prefect_trio_client.orchestration._endpoints import Endpoints
from prefect_trio_client.orchestration._ephemeral import PortalASGITransport
from prefect_trio_client.orchestration._plan import Request, SyncRunner

__all__ = ["SyncPrefectClient"]


class SyncPrefectClient(ClientBase[PrefectHttpxSyncClient], SyncRunner, Endpoints):
    """A blocking client with the methods of `PrefectClient`. Use it as a context manager::

        with SyncPrefectClient("http://127.0.0.1:4200/api") as client:
            flow = client.read_flow_by_name("etl")

    In ephemeral mode its requests are served by an event loop in a worker thread. The
    constructor's arguments are described on `ClientBase`.
    """

    _http_class = PrefectHttpxSyncClient
    _in_process_transport = PortalASGITransport

    def __enter__(self) -> SyncPrefectClient:
        self._check_can_open()
        self._http.__enter__()
        self._entered = True
        try:
            if self._check_server_version:
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
        http_request = self._build(
            request.method,
            request.path,
            json=request.json,
            params=request.params,
            extensions=dict(request.extensions),
        )
        return self._http.send(http_request)

    def _sleep(self, seconds: float) -> None:
        self._http._sleep(seconds)
