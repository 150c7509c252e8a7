"""Ephemeral mode: get_client() with no API URL serves the embedded API in-process.

The interop lifecycle (tests/interop) runs here against the embedded app as well: one
suite, two servers. These tests use real time: the embedded server works in a thread.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from prefect_trio_client.base import ServerType
from prefect_trio_client.exceptions import ClientClosedError
from prefect_trio_client.lifespan import ASGIApp, current_lifespan_service, open_lifespan_service
from prefect_trio_client.orchestration import (
    PrefectClient,
    SyncPrefectClient,
    _ephemeral,
    get_client,
)
from prefect_trio_client.settings import ClientSettings
from tests.interop.test_lifecycle import Blocking, lifecycle

pytestmark = pytest.mark.anyio

Message = MutableMapping[str, Any]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Real time: the embedded server's database runs in a worker thread."""
    backend: str = request.param
    return backend


class CountingApp:
    """Wraps the embedded app and counts its lifespan startups and shutdowns."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.startups = 0
        self.shutdowns = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def counting_receive() -> Message:
            message: Message = await receive()
            with self._lock:
                if message["type"] == "lifespan.startup":
                    self.startups += 1
                elif message["type"] == "lifespan.shutdown":
                    self.shutdowns += 1
            return message

        await self.app(scope, counting_receive, send)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> CountingApp:
    """The app get_client() will use, wrapped to count its lifespans."""
    database = _ephemeral.ephemeral_database(ClientSettings())
    monkeypatch.setattr(_ephemeral, "_apps", {})
    app = CountingApp(_ephemeral.ephemeral_app(database))
    _ephemeral._apps[str(database)] = app
    return app


async def test_no_url_means_the_embedded_server(counted: CountingApp) -> None:
    client = get_client()
    assert isinstance(client, PrefectClient)
    assert client.server_type is ServerType.EPHEMERAL
    assert client.httpx_client.enable_csrf_support is False
    async with client:
        assert await client.api_healthcheck() is None
        assert (await client.api_version()).startswith("3.")
    assert (counted.startups, counted.shutdowns) == (1, 1)


async def test_the_lifecycle_runs_against_the_embedded_server(counted: CountingApp) -> None:
    async with get_client() as client:
        await lifecycle(client, "embedded")
    assert (counted.startups, counted.shutdowns) == (1, 1)


async def test_nested_and_concurrent_clients_share_one_startup(counted: CountingApp) -> None:
    async def use(i: int) -> None:
        async with get_client() as client:
            await client.create_flow_from_name(f"shared-{i}")
            async with get_client() as nested:
                await nested.read_flow_by_name(f"shared-{i}")
                # Nested and concurrent clients share one connection, which holds one
                # lifespan lease for all of them.
                assert nested._lease is client._lease
                assert client._lease.refcount >= 2
                assert current_lifespan_service().refcount(counted) == 1

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(use, i)
    assert (counted.startups, counted.shutdowns) == (1, 1)


async def test_an_explicit_service_hosts_the_lifespan(counted: CountingApp) -> None:
    async with open_lifespan_service() as service:
        async with get_client() as client:
            assert service.refcount(counted) == 1
            await client.create_flow_from_name("explicit")
        assert service.refcount(counted) == 0
    assert (counted.startups, counted.shutdowns) == (1, 1)


async def test_data_persists_in_the_home_folder(counted: CountingApp, tmp_path: Path) -> None:
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("persisted")
    async with get_client() as client:
        assert (await client.read_flow_by_name("persisted")).id == flow_id
    assert counted.startups == 2  # sequential use restarts the app
    assert ClientSettings().home.joinpath("prefect-trio-client.db").is_file()


async def test_the_sync_client_in_ephemeral_mode(counted: CountingApp) -> None:
    # Called from inside an event loop (blocking it), which must still work.
    client = get_client(sync_client=True)
    assert isinstance(client, SyncPrefectClient)
    with client:
        await lifecycle(Blocking(client), "sync-embedded")
    assert (counted.startups, counted.shutdowns) == (1, 1)


def test_sync_clients_from_plain_threads(counted: CountingApp) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with get_client(sync_client=True) as client:
                flow_id = client.create_flow_from_name(f"threaded-{i}")
                assert client.read_flow(flow_id).name == f"threaded-{i}"
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    # Each sync client runs its own event loop, so each holds its own lifespan.
    assert counted.startups == counted.shutdowns == 4


async def test_a_closed_client_gives_its_lease_back(counted: CountingApp) -> None:
    client = get_client()
    async with client:
        assert current_lifespan_service().refcount(counted) == 1
    assert current_lifespan_service().refcount(counted) == 0
    with pytest.raises(ClientClosedError, match="closed"):
        await client.read_flows()
