"""A real `PrefectClient`, real sockets: the embedded server served over HTTP
(``python -m prefect_trio_client.server``) behind the loopback fault proxy.

For each connection fault the proxy injects, a create the server dedupes survives with
exactly one object stored, and a create it does not dedupe is never stored twice (it
raises `OutcomeUnknownError` when the answer was lost after the server got it). Real
time: real sockets and a server process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest

from prefect_trio_client.base import RetryPolicy
from prefect_trio_client.exceptions import OutcomeUnknownError
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.schemas.actions import VariableCreate
from prefect_trio_client.settings import ClientSettings
from tests.fault_proxy import (
    ALL_PROXY_FAULTS,
    FaultProxy,
    ProxyFault,
    embedded_server_over_http,
    run_fault_proxy,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


def only(method: str, path: str) -> Callable[[str, str], bool]:
    """A `spare` predicate that leaves alone every request but ``method path``."""

    def spare(m: str, target: str) -> bool:
        return (m, target.split("?", maxsplit=1)[0]) != (method, path)

    return spare


def client_of(proxy: FaultProxy) -> PrefectClient:
    return PrefectClient(
        f"{proxy.url}/api",
        settings=ClientSettings(),
        httpx_settings={
            "retry_policy": RetryPolicy(backoff_base=0.01, uncounted_delay_floor=0.01),
            "timeout": httpx.Timeout(20),
        },
    )


async def test_each_connection_fault_leaves_no_duplicate(tmp_path: Path) -> None:
    database = str(tmp_path / "over-http.db")
    async with embedded_server_over_http(database) as (host, port):
        for kind in ALL_PROXY_FAULTS:
            # A create the server dedupes: re-sent when needed, stored once.
            async with (
                run_fault_proxy(
                    host, port, seed=1, script=[kind], spare=only("POST", "/api/flow_runs/")
                ) as proxy,
                client_of(proxy) as client,
            ):
                flow_id = await client.create_flow_from_name("behind-the-proxy")
                key = f"safe-{kind.value}"
                run = await client.create_flow_run(flow_id, idempotency_key=key)
                assert run.idempotency_key == key
                runs = await client.read_flow_runs()
                assert [r.idempotency_key for r in runs].count(key) == 1, kind
            assert proxy.injected == {kind: 1}

            # A create it does not dedupe: never sent twice once the server may have it.
            async with (
                run_fault_proxy(
                    host, port, seed=1, script=[kind], spare=only("POST", "/api/variables/")
                ) as proxy,
                client_of(proxy) as client,
            ):
                name = f"unsafe_{kind.name.lower()}"
                try:
                    await client.create_variable(VariableCreate(name=name, value=1))
                except OutcomeUnknownError:
                    outcome = "unknown"
                else:
                    outcome = "ok"
                stored = [v.name for v in await client.read_variables()].count(name)
            assert proxy.injected == {kind: 1}
            assert stored <= 1, kind
            if kind.reaches_server:
                assert stored == 1, kind
            if kind in (ProxyFault.CLOSE_AFTER_FORWARD, ProxyFault.RESET_RESPONSE_BODY):
                assert outcome == "unknown", kind  # applied, and its answer lost
            if kind is ProxyFault.STALL:
                assert outcome == "ok"
            if outcome == "ok":
                assert stored == 1, kind


async def test_the_proxy_stops_with_its_block() -> None:
    """Leaving the block closes the listener and the connections it holds."""
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"

    async def upstream(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while await stream.receive():
                    await stream.send(answer)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, upstream)
        upstream_port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with run_fault_proxy("127.0.0.1", upstream_port, seed=0) as proxy:
            held = await anyio.connect_tcp("127.0.0.1", proxy.port)
            await held.send(b"GET /api/health HTTP/1.1\r\nhost: test\r\n\r\n")
            with anyio.fail_after(10):
                assert await held.receive() == answer  # through the proxy, kept alive
            assert proxy.connections == 1
        with pytest.raises(OSError):  # nobody listens any more
            await anyio.connect_tcp("127.0.0.1", proxy.port)
        # The connection it held was closed: reading ends.
        with (
            anyio.fail_after(10),
            pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError, OSError)),
        ):
            await held.receive()
        await held.aclose()
        group.cancel_scope.cancel()
