"""Nested and concurrent client contexts share one connection per API and event loop.

The refcount contract: the first context in opens the connection, the last one out
closes it, in any exit order, cancellation-safe; the server version is checked once per
connection (single flight); headers stay per client; loops and threads never share.
Network transports are replaced by a counting fake, so nothing listens on a port.
"""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_trio_client._pool import async_registry
from prefect_trio_client.base import PrefectHttpxAsyncClient
from prefect_trio_client.exceptions import ClientClosedError
from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient, get_client

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:4200/api"


class Server:
    """What the fake transports saw: opens, closes, requests, version checks."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self.version_checks = 0
        self.requests: list[httpx.Request] = []
        self.version = "3.9.1"
        self.hold: anyio.Event | None = None
        self.connect_errors = 0

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.connect_errors:
            self.connect_errors -= 1
            raise httpx.ConnectError("refused")
        if request.url.path.endswith("/admin/version"):
            self.version_checks += 1
            return httpx.Response(200, json=self.version)
        return httpx.Response(200, json=True)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Server:
    seen = Server()

    class FakeAsyncTransport(httpx.AsyncBaseTransport):
        def __init__(self, **options: Any) -> None:
            self.options = options

        async def __aenter__(self) -> FakeAsyncTransport:
            seen.opened += 1
            return self

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await anyio.sleep(0.01)  # a round trip takes time (virtual)
            if seen.hold is not None and not request.url.path.endswith("/admin/version"):
                await seen.hold.wait()
            return seen.answer(request)

        async def aclose(self) -> None:
            seen.closed += 1

    class FakeSyncTransport(httpx.BaseTransport):
        def __init__(self, **options: Any) -> None:
            self.options = options

        def __enter__(self) -> FakeSyncTransport:
            seen.opened += 1
            return self

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            return seen.answer(request)

        def close(self) -> None:
            seen.closed += 1

    monkeypatch.setattr(httpx, "AsyncHTTPTransport", FakeAsyncTransport)
    monkeypatch.setattr(httpx, "HTTPTransport", FakeSyncTransport)
    monkeypatch.setenv("PREFECT_API_URL", URL)
    return seen


async def test_nested_contexts_share_one_connection_and_one_version_check(server: Server) -> None:
    async with get_client() as outer:
        async with get_client() as middle, get_client() as inner:
            assert inner._lease is middle._lease is outer._lease
            assert outer._lease.refcount == 3
            await inner.api_healthcheck()
        await outer.api_healthcheck()
    assert (server.opened, server.closed) == (1, 1)
    assert server.version_checks == 1


async def test_the_last_context_out_closes_whatever_the_order(server: Server) -> None:
    first = get_client()
    second = get_client()
    await first.__aenter__()
    await second.__aenter__()
    await first.aclose()  # the first one in leaves first
    assert server.closed == 0
    await second.api_healthcheck()  # the connection still serves the other context
    await second.aclose()
    assert (server.opened, server.closed) == (1, 1)
    assert len(async_registry()) == 0


async def test_concurrent_first_entries_send_one_version_check(server: Server) -> None:
    async def use() -> None:
        async with get_client() as client:
            await client.api_healthcheck()

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(use)
    assert server.version_checks == 1
    assert (server.opened, server.closed) == (1, 1)


async def test_a_failed_version_check_is_tried_again_by_the_next_context(server: Server) -> None:
    server.version = "2.19.0"
    with pytest.raises(Exception, match="incompatible server"):
        async with get_client():
            pass
    assert (server.opened, server.closed) == (1, 1)  # nothing is left open
    server.version = "3.9.1"
    async with get_client() as client:
        await client.api_healthcheck()
    assert server.version_checks == 2


async def test_a_connection_error_makes_the_next_context_check_again(server: Server) -> None:
    async with get_client() as outer:
        server.connect_errors = 1  # the server restarts: one refused connection
        response = await outer.httpx_client.get("/health")
        assert response.attempts == 2
        async with get_client() as inner:
            await inner.api_healthcheck()
    assert server.version_checks == 2


async def test_closing_one_context_does_not_disturb_anothers_request(server: Server) -> None:
    server.hold = anyio.Event()
    results: list[object] = []
    async with get_client() as outer:

        async def request() -> None:
            results.append(await outer.api_healthcheck())

        async with anyio.create_task_group() as tg:
            tg.start_soon(request)
            await anyio.wait_all_tasks_blocked()
            async with get_client() as other:
                pass  # enters and leaves while outer's request is in flight
            assert other._lease is None
            assert server.closed == 0
            server.hold.set()
    assert results == [None]  # healthy
    assert (server.opened, server.closed) == (1, 1)


async def test_a_context_cancelled_while_entering_leaves_the_count_right(server: Server) -> None:
    entered: list[str] = []

    async def enter(name: str) -> None:
        async with get_client():
            entered.append(name)

    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as scope:
            tg.start_soon(enter, "first")
            await anyio.wait_all_tasks_blocked()  # first waits on its version check
            async with anyio.create_task_group() as inner:
                inner.start_soon(enter, "cancelled")
                await anyio.wait_all_tasks_blocked()  # waits for first's check
                inner.cancel_scope.cancel()
        assert not scope.cancelled_caught
    assert entered == ["first"]
    assert server.version_checks == 1
    assert (server.opened, server.closed) == (1, 1)
    assert len(async_registry()) == 0


async def test_a_context_cancelled_inside_gives_its_count_back(server: Server) -> None:
    async with get_client() as outer:
        with anyio.CancelScope() as scope:
            async with get_client() as inner:
                assert inner._lease.refcount == 2
                scope.cancel()
                await anyio.sleep(1)
        assert scope.cancelled_caught
        assert outer._lease.refcount == 1
    assert (server.opened, server.closed) == (1, 1)


async def test_clients_with_different_keys_share_the_connection_not_headers(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_KEY", "key-one")
    one = get_client()
    monkeypatch.setenv("PREFECT_API_KEY", "key-two")
    two = get_client()
    async with one, two:
        assert one._lease is two._lease
        await one.api_healthcheck()
        await two.api_healthcheck()
    auths = [r.headers["Authorization"] for r in server.requests if "health" in r.url.path]
    assert auths == ["Bearer key-one", "Bearer key-two"]


async def test_settings_that_change_the_transport_do_not_share(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = get_client()
    monkeypatch.setenv("PREFECT_API_ENABLE_HTTP2", "true")
    http2 = get_client()
    own = get_client(httpx_settings={"transport": httpx.MockTransport(server.answer)})
    async with plain, http2, own:
        assert plain._lease is not http2._lease
        assert own._lease is None
        assert not own.shares_connection


async def test_sharing_can_be_turned_off(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_CLIENT_SHARE_CONNECTIONS", "false")
    outer = PrefectClient(URL, check_server_version=False)
    inner = PrefectClient(URL, check_server_version=False)
    assert not outer.shares_connection
    async with outer, inner:
        assert outer._lease is None
        assert inner._lease is None
        assert outer.httpx_client._transport is not inner.httpx_client._transport
    assert server.opened == 0  # each client built a pool of its own


async def test_a_proxy_in_the_environment_is_not_shared(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    client = get_client()
    assert not client.shares_connection


async def test_a_context_builds_its_http_client_when_it_first_sends(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[PrefectHttpxAsyncClient] = []

    class Counted(PrefectHttpxAsyncClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(PrefectClient, "_http_class", Counted)
    async with get_client() as outer:
        assert len(built) == 1  # the version check sent by the first context in
        async with get_client():
            pass
        assert len(built) == 1  # a context that sends nothing builds nothing
        async with get_client() as busy:
            await busy.api_healthcheck()
            assert busy.httpx_client is built[1]
            assert busy.httpx_client.backpressure is outer.httpx_client.backpressure
    assert len(built) == 2
    assert (server.opened, server.closed) == (1, 1)


async def test_an_http_client_looked_at_before_entry_is_replaced_by_a_shared_one(
    server: Server,
) -> None:
    client = get_client()
    before = client.httpx_client  # built for inspection, never entered
    async with client:
        await client.api_healthcheck()
        assert client.httpx_client is not before
    assert (server.opened, server.closed) == (1, 1)  # the request went through the pool


def test_a_sync_http_client_looked_at_before_entry_is_replaced_by_a_shared_one(
    server: Server,
) -> None:
    client = get_client(sync_client=True)
    before = client.httpx_client
    with client:
        client.api_healthcheck()
        assert client.httpx_client is not before
    assert (server.opened, server.closed) == (1, 1)


async def test_a_context_closed_before_it_sent_refuses_requests(server: Server) -> None:
    async with get_client() as outer:
        async with get_client() as idle:
            pass
        with pytest.raises(ClientClosedError):
            await idle.api_version()
        with pytest.raises(ClientClosedError):
            await idle.httpx_client.get("/health")
        await outer.api_healthcheck()
    assert [r.url.path for r in server.requests] == ["/api/admin/version", "/api/health"]


@pytest.mark.parametrize("runner", ["trio", "asyncio", "sync"])
def test_a_closed_client_is_freed_without_the_cyclic_collector(server: Server, runner: str) -> None:
    """Each context's objects go as soon as it closes: a reference cycle would leave them
    to the cyclic garbage collector, which thousands of open contexts make expensive."""

    def use_sync() -> weakref.ref[Any]:
        with get_client(sync_client=True) as client:
            client.api_healthcheck()
            return weakref.ref(client.httpx_client)

    async def use_async() -> weakref.ref[Any]:
        async with get_client() as client:
            await client.api_healthcheck()
            return weakref.ref(client.httpx_client)

    gc.collect()
    gc.disable()
    try:
        http_client = use_sync() if runner == "sync" else anyio.run(use_async, backend=runner)
        assert http_client() is None
    finally:
        gc.enable()


def test_sync_contexts_of_one_thread_share_and_threads_do_not(server: Server) -> None:
    leases: dict[str, Any] = {}

    def in_thread(name: str) -> None:
        with get_client(sync_client=True) as outer, get_client(sync_client=True) as inner:
            assert inner._lease is outer._lease
            leases[name] = outer._lease
            outer.api_healthcheck()

    threads = [threading.Thread(target=in_thread, args=(f"t{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert leases["t0"] is not leases["t1"]
    assert (server.opened, server.closed) == (2, 2)
    assert server.version_checks == 2  # once per thread's connection


def test_two_event_loops_in_two_threads_never_share(server: Server) -> None:
    leases: list[Any] = []

    async def use() -> None:
        async with get_client() as client:
            leases.append(client._lease)
            await client.api_healthcheck()

    threads = [
        threading.Thread(target=anyio.run, args=(use,), kwargs={"backend": backend})
        for backend in ("trio", "asyncio")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(leases) == 2
    assert leases[0] is not leases[1]
    assert (server.opened, server.closed) == (2, 2)


schedules = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(["hold", "cancel", "request"])),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(schedule=schedules)
def test_any_schedule_of_entries_exits_and_cancellations(schedule: list[Any]) -> None:
    """Whatever the interleaving, every connection opened is closed once, the count is
    back to zero, and at most one connection is open at any time."""
    seen = Server()

    class Fake(httpx.AsyncBaseTransport):
        def __init__(self, **options: Any) -> None:
            pass

        async def __aenter__(self) -> Fake:
            seen.opened += 1
            assert seen.opened - seen.closed == 1
            return self

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await anyio.sleep(0.001)
            return seen.answer(request)

        async def aclose(self) -> None:
            seen.closed += 1

    async def use(delay: int, action: str) -> None:
        await anyio.sleep(delay / 1000)
        with anyio.CancelScope() as scope:
            async with PrefectClient(URL) as client:
                if action == "cancel":
                    scope.cancel()
                    await anyio.sleep(1)
                elif action == "request":
                    await client.api_healthcheck()
                else:
                    await anyio.sleep(delay / 500)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for delay, action in schedule:
                tg.start_soon(use, delay, action)
        assert len(async_registry()) == 0

    original = httpx.AsyncHTTPTransport
    httpx.AsyncHTTPTransport = Fake  # type: ignore[misc,assignment]
    try:
        anyio.run(main, backend="trio")
    finally:
        httpx.AsyncHTTPTransport = original  # type: ignore[misc]
    assert seen.opened == seen.closed >= 1


def test_sync_client_in_ephemeral_mode_shares_one_portal() -> None:
    with get_client(sync_client=True) as outer, get_client(sync_client=True) as inner:
        assert isinstance(outer, SyncPrefectClient)
        assert inner._lease is outer._lease
        outer.create_flow_from_name("shared-sync")
        assert inner.read_flow_by_name("shared-sync").name == "shared-sync"
