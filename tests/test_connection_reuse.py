"""The client does not reuse a connection the server is about to close.

A request sent on a connection the server is closing is lost after it was sent: the
server resets the connection with the request unread, and a POST (logs, flow runs)
cannot be sent again (`OutcomeUnknownError`). Prefect's server (uvicorn) closes a
connection in two such moments, each modelled here by a loopback server:

- idle for 5 s (its keep-alive timeout): the client's connections expire first;
- just after a 500 or 503 answer (Starlette raises the handled exception again, and
  uvicorn closes): the client does not reuse the connection of a server-error answer.

Real time and real sockets (the pool reads the system clock and the sockets' state).
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import pytest

from prefect_trio_client import base
from prefect_trio_client.exceptions import OutcomeUnknownError, PrefectHTTPStatusError
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.settings import ClientSettings

pytestmark = pytest.mark.anyio

_SERVER_IDLE_TIMEOUT = 0.5
_ANSWER = b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"
_ERROR = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\n\r\n{}"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


# httpx leaves the lost request's body iterator to the garbage collector (on trio)
_LOST_BODY = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


class IdleClosingServer:
    """Answers every request with 201, but resets a connection whose next request
    arrives after `idle_timeout` (its keep-alive timer fired as the request came in)."""

    def __init__(self, idle_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self.connections = 0
        self.answered = 0
        self.reset = 0

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        last_answer = anyio.current_time()
        buffer = b""
        async with stream:
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                while True:
                    chunk = await stream.receive()
                    if not buffer and anyio.current_time() - last_answer > self.idle_timeout:
                        self.reset += 1
                        await _reset(stream)
                        return
                    buffer += chunk
                    while (request := _one_request(buffer)) is not None:
                        buffer = buffer[request:]
                        await stream.send(_ANSWER)
                        self.answered += 1
                        last_answer = anyio.current_time()


class ClosingAfterErrorServer:
    """Answers ``/fail`` with 500 and every other request with 201; after a 500 it
    closes the connection a moment later (uvicorn, once the error handler re-raised),
    resetting it if a request came meanwhile (that request is lost)."""

    def __init__(self) -> None:
        self.connections = 0
        self.answered = 0
        self.lost = 0

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        buffer = b""
        async with stream:
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                while True:
                    buffer += await stream.receive()
                    while (length := _one_request(buffer)) is not None:
                        failing = buffer.split(b" ", 2)[1].endswith(b"/fail")
                        buffer = buffer[length:]
                        if not failing:
                            await stream.send(_ANSWER)
                            self.answered += 1
                            continue
                        await stream.send(_ERROR)
                        self.answered += 1
                        with anyio.move_on_after(5):
                            await stream.receive()
                            self.lost += 1  # a request on a connection being closed
                            await _reset(stream)
                        return


def _one_request(buffer: bytes) -> int | None:
    """The length of the first whole request in `buffer`, or None while it is partial."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    length = 0
    for line in buffer[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    total = head_end + 4 + length
    return total if len(buffer) >= total else None


async def _reset(stream: anyio.abc.SocketStream) -> None:
    """Close with a TCP reset, as a server closing a socket with unread data does."""
    sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()


@contextlib.asynccontextmanager
async def serving(server: IdleClosingServer | ClosingAfterErrorServer) -> AsyncIterator[str]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.handle)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        yield f"http://127.0.0.1:{port}/api"
        group.cancel_scope.cancel()


async def _post_twice_with_idle_between(
    keepalive_expiry: float,
) -> tuple[IdleClosingServer, OutcomeUnknownError | None]:
    """Two POSTs with an idle time past the server's timeout between them; the server,
    and the error of the second POST (None if it was answered)."""
    server = IdleClosingServer(_SERVER_IDLE_TIMEOUT)
    lost: OutcomeUnknownError | None = None
    settings = ClientSettings(
        client_keepalive_expiry=keepalive_expiry, client_csrf_support_enabled=False
    )
    async with (
        serving(server) as url,
        PrefectClient(url, settings=settings, check_server_version=False) as client,
    ):
        with anyio.fail_after(10):
            (await client.httpx_client.post("/logs/", json=[])).raise_for_status()
            # idle past the server's timeout: this is what the test is about, not a wait
            await anyio.sleep(_SERVER_IDLE_TIMEOUT * 1.5)
            try:
                (await client.httpx_client.post("/logs/", json=[])).raise_for_status()
            except OutcomeUnknownError as error:
                lost = error
    return server, lost


async def test_a_connection_idle_past_the_expiry_is_not_reused() -> None:
    server, lost = await _post_twice_with_idle_between(keepalive_expiry=_SERVER_IDLE_TIMEOUT / 2)
    assert lost is None
    assert (server.answered, server.reset, server.connections) == (2, 0, 2)


@_LOST_BODY
async def test_reusing_a_connection_the_server_closes_loses_the_post() -> None:
    """The race the expiry avoids (so the test above can fail): a connection kept longer
    than the server keeps it loses a POST after sending it."""
    server, lost = await _post_twice_with_idle_between(keepalive_expiry=_SERVER_IDLE_TIMEOUT * 10)
    assert lost is not None
    assert "after sending" in str(lost)  # ReadError (asyncio) or RemoteProtocolError (trio)
    assert (server.answered, server.reset, server.connections) == (1, 1, 1)


def test_the_default_expiry_is_below_prefects_server_keepalive() -> None:
    """uvicorn's and Prefect's ``PREFECT_SERVER_API_KEEPALIVE_TIMEOUT`` default is 5 s."""
    assert ClientSettings().client_keepalive_expiry < 5.0


async def _post_after_a_server_error() -> tuple[
    ClosingAfterErrorServer, OutcomeUnknownError | None
]:
    """A POST answered 500, then at once another; the server, and the error of the second
    (None if it was answered)."""
    server = ClosingAfterErrorServer()
    settings = ClientSettings(client_csrf_support_enabled=False)
    lost: OutcomeUnknownError | None = None
    async with (
        serving(server) as url,
        PrefectClient(url, settings=settings, check_server_version=False) as client,
    ):
        with anyio.fail_after(10):
            with pytest.raises(PrefectHTTPStatusError, match="500"):
                await client.httpx_client.post("/fail", json=[])
            try:
                (await client.httpx_client.post("/logs/", json=[])).raise_for_status()
            except OutcomeUnknownError as error:
                lost = error
    return server, lost


async def test_the_connection_of_a_server_error_is_not_reused() -> None:
    server, lost = await _post_after_a_server_error()
    assert lost is None
    assert (server.answered, server.lost, server.connections) == (2, 0, 2)


@_LOST_BODY
async def test_reusing_the_connection_of_a_server_error_loses_the_post(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `retire_connection` prevents (so the test above can fail)."""
    monkeypatch.setattr(base, "retire_connection", lambda response: None)
    server, lost = await _post_after_a_server_error()
    assert lost is not None
    assert "after sending" in str(lost)
    assert (server.answered, server.lost, server.connections) == (1, 1, 1)
