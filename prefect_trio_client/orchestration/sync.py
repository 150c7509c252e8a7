"""`SyncPrefectClient`: the blocking twin of `PrefectClient`, running the same endpoints."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from prefect_trio_client._pool import (
    BorrowedSyncTransport,
    Connection,
    check_version_once_sync,
    sync_registry,
)
from prefect_trio_client.base import PrefectHttpxSyncClient, PrefectResponse, ServerType
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
    _borrowed_transport = BorrowedSyncTransport

    def __enter__(self) -> SyncPrefectClient:
        self._check_can_open()
        self._entered = True
        try:
            if self._connection_key is None:
                self._http.__enter__()
            else:
                self._lease = sync_registry().lease(
                    self._connection_key, self._open_connection, _close_connection
                )
                # Built now, not when first used: a sync client may serve several threads.
                self._http_on(self._lease.value).__enter__()
            if self._check_server_version:
                check_version_once_sync(self._version_state(), self.raise_for_api_version_mismatch)
        except BaseException:
            self.close()
            raise
        return self

    def raise_for_api_version_mismatch(self) -> None:
        """See `PrefectClient.raise_for_api_version_mismatch`."""
        if self.server_type is ServerType.CLOUD:
            return
        check_api_version(self.api_version())

    def raise_for_api_version_mismatch_once(self) -> None:
        """See `PrefectClient.raise_for_api_version_mismatch_once`."""
        if self.server_type is ServerType.CLOUD:
            return
        check_version_once_sync(self._version_state(), self.raise_for_api_version_mismatch)

    def _open_connection(self) -> Connection[Any]:
        transport: Any
        if self._app is not None:
            transport = PortalASGITransport(self._app)
        else:
            transport = httpx.HTTPTransport(**self._transport_options())
        transport.__enter__()
        return Connection(transport, self._backpressure())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close this client (its own sleeping retries and WAITs end at once); the shared
        connection closes after the last client of this thread that holds it."""
        self._closed = True
        try:
            if self._http_client is not None:
                self._http_client.close()
        finally:
            lease, self._lease = self._lease, None
            if lease is not None:
                sync_registry().release(lease)

    def _send(self, request: Request) -> PrefectResponse:
        http_request = self._build(request)
        return self._http.send(http_request)

    def _sleep(self, seconds: float) -> None:
        self._http._sleep(seconds)


def _close_connection(connection: Connection[Any]) -> None:
    connection.transport.close()
