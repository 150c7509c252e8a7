"""A loopback TCP proxy that injects connection faults (a test helper, not public API).

`run_fault_proxy(host, port, ...)` listens on 127.0.0.1 (a free port), forwards each
client connection to ``host:port`` over a connection of its own, reads the HTTP/1.1
messages both ways with h11, and for each request decides (by seeded rate or by script,
as `prefect_trio_client.testing.FaultInjectingTransport` does) whether to break it:

- ``reset-request``: half of the request's bytes reach the server, then both connections
  are reset: the server never gets the whole request, so it never applies it, and the
  client sees a reset while it waits (`httpx.ReadError`, or `httpx.WriteError`).
- ``reset-response-body``: the server gets and answers the request; the client gets the
  answer's head and half its body, then a reset (`httpx.RemoteProtocolError` / ReadError).
- ``stall``: the answer is held ``stall_seconds``, then forwarded.
- ``half-close``: before forwarding, the proxy shuts down its sending side to the client
  (FIN) and keeps reading: the client reads end-of-stream without an answer
  (`httpx.RemoteProtocolError`); the server never sees the request.
- ``close-after-forward``: the request is forwarded and the server's whole answer read
  (so it was applied), then the client connection is reset without it.

Websocket upgrades (a request with ``Upgrade: websocket``) are not decided on: the proxy
forwards the upgrade on a connection of its own and, once the server answered 101, relays
raw bytes both ways. Two websocket faults:

- ``ws_cut_after``: the k-th websocket is reset (both sides, no close frame) once that
  many bytes (both directions together, after the 101) went through; websockets past the
  list are left alone.
- ``refuse_upgrades``: every upgrade is answered with that HTTP status (and a closed
  connection) while ordinary HTTP is forwarded; settable while the proxy runs (``None``
  forwards upgrades again).

The block always stops the proxy: leaving it (normally, by an error or a cancellation)
closes the listener and every connection.
"""

from __future__ import annotations

import enum
import os
import random
import re
import signal
import socket
import struct
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

import anyio
import h11
from anyio.abc import Process, SocketAttribute, SocketStream, TaskStatus

__all__ = [
    "ALL_PROXY_FAULTS",
    "FaultProxy",
    "ProxyFault",
    "embedded_server_over_http",
    "run_fault_proxy",
]


class ProxyFault(str, enum.Enum):
    RESET_REQUEST = "tcp-reset-request"
    RESET_RESPONSE_BODY = "tcp-reset-response-body"
    STALL = "tcp-stall"
    HALF_CLOSE = "tcp-half-close"
    CLOSE_AFTER_FORWARD = "tcp-close-after-forward"

    def __str__(self) -> str:
        return self.value

    @property
    def reaches_server(self) -> bool:
        """Whether the server gets (and applies) the whole request."""
        return self not in (ProxyFault.RESET_REQUEST, ProxyFault.HALF_CLOSE)


ALL_PROXY_FAULTS: tuple[ProxyFault, ...] = tuple(ProxyFault)
_READ_SIZE = 65536

Message = tuple[h11.Request | h11.Response, bytes]


class _Closed(Exception):
    """The peer closed its connection (or broke it) before a whole message arrived."""


class FaultProxy:
    """The decisions and counters of one proxy; `run_fault_proxy` serves it.

    Args:
        upstream_host: The server's address.
        upstream_port: The server's port.
        seed: Seeds the decisions (three draws per request not spared, as the transport).
        rate: Probability of a fault per request, once the script has run out.
        script: Faults (or None) for the first requests not spared.
        kinds: What `rate` picks from.
        spare: Given ``(method, target)`` ("POST", "/api/flows/"), True leaves it alone.
        stall_seconds: How long a stalled answer is held.
        ws_cut_after: For the k-th websocket, the bytes after which it is cut.
        refuse_upgrades: An HTTP status to answer websocket upgrades with.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        seed: int,
        rate: float | None = None,
        script: Iterable[ProxyFault | str | None] | None = None,
        kinds: Iterable[ProxyFault | str] = ALL_PROXY_FAULTS,
        spare: Callable[[str, str], bool] | None = None,
        stall_seconds: float = 0.2,
        ws_cut_after: Iterable[int] = (),
        refuse_upgrades: int | None = None,
    ) -> None:
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be from 0 to 1, got {rate!r}")
        self.upstream = (upstream_host, upstream_port)
        self.rate = rate or 0.0
        self.script = [None if k is None else ProxyFault(k) for k in (script or ())]
        self.kinds = tuple(ProxyFault(k) for k in kinds)
        if not self.kinds:
            raise ValueError("kinds must name at least one fault")
        self.spare = spare
        self.stall_seconds = stall_seconds
        self.injected: Counter[ProxyFault] = Counter()
        self.decisions: list[ProxyFault | None] = []
        self.requests = 0
        self.connections = 0
        self.port = 0
        self.ws_cut_after = list(ws_cut_after)
        self.refuse_upgrades = refuse_upgrades
        self.upgrades = 0
        """Websocket upgrade requests seen (refused or forwarded)."""
        self.refused = 0
        self.ws_cut = 0
        """Websockets the proxy cut."""
        self._upgraded = anyio.Event()
        self._random = random.Random(seed)

    @property
    def url(self) -> str:
        """The proxy's base URL (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.port}"

    def decide(self, method: str, target: str) -> ProxyFault | None:
        self.requests += 1
        if self.spare is not None and self.spare(method, target):
            return None
        index = len(self.decisions)
        draw, pick = self._random.random(), self._random.randrange(len(self.kinds))
        self._random.randrange(2)  # the transport's third draw, kept for the same sequence
        if index < len(self.script):
            kind = self.script[index]
        else:
            kind = self.kinds[pick] if draw < self.rate else None
        self.decisions.append(kind)
        if kind is not None:
            self.injected[kind] += 1
        return kind

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen on 127.0.0.1 until cancelled; reports started once the port is known."""
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        async with listener:
            self.port = listener.extra(SocketAttribute.local_port)
            task_status.started()
            await listener.serve(self._connection)

    async def _connection(self, client: SocketStream) -> None:
        self.connections += 1
        upstream: SocketStream | None = None
        try:
            async with client:
                from_client = h11.Connection(h11.SERVER)
                to_upstream = h11.Connection(h11.CLIENT)
                while True:
                    try:
                        request = await _receive(client, from_client)
                    except _Closed:
                        return
                    head, body = request
                    assert isinstance(head, h11.Request)
                    if _is_upgrade(head):
                        await self._websocket(client, head, body)
                        return
                    fault = self.decide(head.method.decode(), head.target.decode())
                    if fault is ProxyFault.HALF_CLOSE:
                        await _half_close(client)
                        return
                    if upstream is None:
                        upstream = await anyio.connect_tcp(*self.upstream)
                        to_upstream = h11.Connection(h11.CLIENT)
                    raw = _serialise(to_upstream, head, body)
                    if fault is ProxyFault.RESET_REQUEST:
                        await upstream.send(raw[: len(raw) // 2])
                        await _reset(upstream)
                        upstream = None
                        await _reset(client)
                        return
                    await upstream.send(raw)
                    try:
                        answer = await _receive(upstream, to_upstream)
                    except _Closed:
                        await _reset(client)
                        return
                    if fault is ProxyFault.CLOSE_AFTER_FORWARD:
                        await _reset(client)
                        return
                    answer_bytes = _serialise(from_client, *answer)
                    if fault is ProxyFault.RESET_RESPONSE_BODY:
                        await client.send(answer_bytes[: _middle_of_body(answer_bytes)])
                        await _reset(client)
                        return
                    if fault is ProxyFault.STALL:
                        await anyio.sleep(self.stall_seconds)
                    await client.send(answer_bytes)
                    if _must_close(from_client):
                        return
                    from_client.start_next_cycle()
                    if _must_close(to_upstream):
                        await upstream.aclose()
                        upstream = None
                    else:
                        to_upstream.start_next_cycle()
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, h11.ProtocolError):
            return  # the client or the server went away: nothing to forward to
        finally:
            if upstream is not None:
                with anyio.CancelScope(shield=True):
                    await upstream.aclose()

    async def until_upgrades(self, count: int) -> None:
        """Wait until `count` websocket upgrades were asked for (refused or forwarded)."""
        while self.upgrades < count:
            await self._upgraded.wait()

    async def _websocket(self, client: SocketStream, head: h11.Request, body: bytes) -> None:
        """Refuse the upgrade, or forward it and relay the websocket's bytes (cut if the
        script says so)."""
        index = self.upgrades
        self.upgrades += 1
        self._upgraded.set()
        self._upgraded = anyio.Event()
        if self.refuse_upgrades is not None:
            self.refused += 1
            text = b"websocket upgrades are refused here"
            await client.send(
                b"HTTP/1.1 %d Refused\r\ncontent-type: text/plain\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (self.refuse_upgrades, len(text), text)
            )
            return
        limit = self.ws_cut_after[index] if index < len(self.ws_cut_after) else None
        upstream = await anyio.connect_tcp(*self.upstream)
        async with upstream:
            await upstream.send(_serialise(h11.Connection(h11.CLIENT), head, body))
            answer = bytearray()
            while b"\r\n\r\n" not in answer:
                chunk = await upstream.receive(_READ_SIZE)
                answer += chunk
            await client.send(bytes(answer))
            if not answer.startswith(b"HTTP/1.1 101"):
                with anyio.move_on_after(5):
                    async for chunk in upstream:  # the rest of the refusal, until closed
                        await client.send(chunk)
                return
            relayed = len(answer) - answer.index(b"\r\n\r\n") - 4  # frames sent with it
            async with anyio.create_task_group() as relay:

                async def copy(source: SocketStream, sink: SocketStream) -> None:
                    nonlocal relayed
                    try:
                        async for chunk in source:
                            if limit is not None and relayed + len(chunk) >= limit:
                                await sink.send(chunk[: max(limit - relayed, 0)])
                                self.ws_cut += 1
                                await _reset(upstream)
                                await _reset(client)
                                break
                            relayed += len(chunk)
                            await sink.send(chunk)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                        pass
                    relay.cancel_scope.cancel()

                relay.start_soon(copy, client, upstream)
                relay.start_soon(copy, upstream, client)


def _is_upgrade(head: h11.Request) -> bool:
    return any(name == b"upgrade" and value.lower() == b"websocket" for name, value in head.headers)


def _must_close(connection: h11.Connection) -> bool:
    return h11.MUST_CLOSE in (connection.our_state, connection.their_state)


def _serialise(connection: h11.Connection, head: h11.Request | h11.Response, body: bytes) -> bytes:
    """The bytes of a whole message as `connection` sends it (framing redone by h11)."""
    parts = [connection.send(head) or b""]
    if body:
        parts.append(connection.send(h11.Data(data=body)) or b"")
    parts.append(connection.send(h11.EndOfMessage()) or b"")
    return b"".join(parts)


def _middle_of_body(message: bytes) -> int:
    """Where to cut a serialised answer: halfway through its body, or through its head
    when it has no body (a head alone would be a whole answer)."""
    head_end = message.find(b"\r\n\r\n") + 4
    if len(message) - head_end > 1:
        return head_end + (len(message) - head_end) // 2
    return head_end // 2


async def _receive(stream: SocketStream, connection: h11.Connection) -> Message:
    """The next whole message on `stream`: its head and its body.

    Raises:
        _Closed: The peer closed (or reset) the connection first.
    """
    head: h11.Request | h11.Response | None = None
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(_READ_SIZE)
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                data = b""
            if not data and head is None and connection.their_state is h11.IDLE:
                raise _Closed
            try:
                connection.receive_data(data)
            except h11.RemoteProtocolError:
                raise _Closed from None
            continue
        if isinstance(event, h11.ConnectionClosed):
            raise _Closed
        if isinstance(event, (h11.Request, h11.Response)):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return head, bytes(body)


async def _reset(stream: SocketStream) -> None:
    """Close with a TCP reset (RST), not a graceful FIN."""
    with anyio.CancelScope(shield=True):
        try:
            sock = stream.extra(SocketAttribute.raw_socket)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        await stream.aclose()


async def _half_close(client: SocketStream) -> None:
    """Stop sending (FIN) and read until the client closes its side."""
    await client.send_eof()
    with anyio.move_on_after(30):  # a bound for a client that never closes
        try:
            while await client.receive(_READ_SIZE):
                pass
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            pass


@asynccontextmanager
async def run_fault_proxy(
    upstream_host: str, upstream_port: int, **options: object
) -> AsyncIterator[FaultProxy]:
    """Serve a `FaultProxy` on 127.0.0.1 for the block; leaving the block stops it.

    Args:
        upstream_host: The server's address.
        upstream_port: The server's port.
        **options: As `FaultProxy`.
    """
    proxy = FaultProxy(upstream_host, upstream_port, **options)  # type: ignore[arg-type]
    async with anyio.create_task_group() as group:
        await group.start(proxy.serve)
        try:
            yield proxy
        finally:
            group.cancel_scope.cancel()


_RUNNING = re.compile(rb"Running on http://127\.0\.0\.1:(\d+)")


@asynccontextmanager
async def embedded_server_over_http(
    database: str, *, backend: str = "trio"
) -> AsyncIterator[tuple[str, int]]:
    """``python -m prefect_trio_client.server`` on 127.0.0.1 (a free port) for the block,
    yielding its host and port; stopped (SIGINT, then killed after 20 s) whatever happens.
    Its log is read all along (a full pipe would block it) and kept in memory."""
    command = [
        sys.executable,
        "-m",
        "prefect_trio_client.server",
        *("--host", "127.0.0.1", "--port", "0", "--backend", backend),
        *("--database", database),
    ]
    process = await anyio.open_process(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log = bytearray()
    listening = anyio.Event()
    port: list[int] = []

    async def read_log() -> None:
        assert process.stderr is not None
        async for chunk in process.stderr:
            log.extend(chunk)
            if not port and (found := _RUNNING.search(log)):
                port.append(int(found.group(1)))
                listening.set()
        listening.set()  # exited

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(read_log)
            with anyio.fail_after(60):
                await listening.wait()
            if not port:
                raise RuntimeError(f"the server exited before listening:\n{log.decode()}")
            try:
                yield "127.0.0.1", port[0]
            finally:
                with anyio.CancelScope(shield=True):
                    await _stop(process)
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(process)
            await process.aclose()


async def _stop(process: Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
        with anyio.move_on_after(20):
            await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()
