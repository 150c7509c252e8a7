"""A minimal Prefect API stub over real HTTP/1.1 (asyncio + h11), in a process of its own.

Not a test. It answers just enough for a client to open contexts and send a few GETs:

- ``GET /api/admin/version`` -> ``"3.9.1"``
- ``GET /api/health`` -> ``true``
- anything else -> 404 ``{"detail": "Not Found"}``

and counts what it sees on that listener: TCP connections accepted, connections open now
and at most, requests per path. A second listener, the control port, is never counted:
``GET /stats`` answers the counts as JSON and ``POST /reset`` zeroes them, so a benchmark
(or its client process, with `urllib`) reads the counts of one phase without adding to
them.

Both listeners bind 127.0.0.1 on ports the system picks; the first line on stdout is
``ports <api> <control>``. The server stops when its stdin reaches end of file (so it
also stops when the process that started it dies), or on SIGTERM/SIGINT. `running`
starts one and always stops it. The script needs only the standard library and h11
(which httpx brings), so any of the benchmark's virtualenvs can run it::

    python tests/bench/stub_server.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11

SERVER_VERSION = "3.9.1"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


@dataclass
class Counts:
    connections: int = 0
    open: int = 0
    max_open: int = 0
    bad_requests: int = 0
    requests: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "open": self.open,
            "max_open": self.max_open,
            "bad_requests": self.bad_requests,
            "requests": dict(self.requests),
            "requests_total": sum(self.requests.values()),
        }

    def reset(self) -> None:
        self.connections = self.bad_requests = 0
        self.max_open = self.open
        self.requests.clear()


Route = Callable[[str, str], tuple[int, Any]]


def api_route(counts: Counts) -> Route:
    def route(method: str, path: str) -> tuple[int, Any]:
        counts.requests[path] += 1
        if method == "GET" and path == "/api/admin/version":
            return 200, SERVER_VERSION
        if method == "GET" and path == "/api/health":
            return 200, True
        return 404, {"detail": "Not Found"}

    return route


def control_route(counts: Counts) -> Route:
    def route(method: str, path: str) -> tuple[int, Any]:
        if path == "/stats":
            return 200, counts.as_json()
        if method == "POST" and path == "/reset":
            counts.reset()
            return 200, counts.as_json()
        return 404, {"detail": "Not Found"}

    return route


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    route: Route,
    counts: Counts | None,
) -> None:
    """One HTTP/1.1 connection, keep-alive, until the client closes it."""
    if counts is not None:
        counts.connections += 1
        counts.open += 1
        counts.max_open = max(counts.max_open, counts.open)
    conn = h11.Connection(h11.SERVER)
    method = path = ""
    try:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                if counts is not None:
                    counts.bad_requests += 1
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await _respond(writer, conn, 400, {"detail": "Bad Request"})
                break
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)  # b"" is the end of the stream
                continue
            if isinstance(event, h11.Request):
                method = event.method.decode("ascii")
                path = event.target.decode("ascii").split("?", 1)[0]
            elif isinstance(event, h11.EndOfMessage):
                status, body = route(method, path)
                await _respond(writer, conn, status, body)
                if conn.our_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                break
    except (ConnectionError, OSError):
        pass
    finally:
        if counts is not None:
            counts.open -= 1
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def _respond(
    writer: asyncio.StreamWriter, conn: h11.Connection, status: int, body: Any
) -> None:
    payload = json.dumps(body).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(payload)))]
    writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
    writer.write(conn.send(h11.Data(data=payload)))
    writer.write(conn.send(h11.EndOfMessage()))
    await writer.drain()


async def main() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def wait_for_eof() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(4096):
                pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, daemon=True).start()

    counts = Counts()
    api, control = api_route(counts), control_route(counts)
    api_server = await asyncio.start_server(
        lambda r, w: serve_connection(r, w, api, counts), "127.0.0.1", 0, backlog=4096
    )
    control_server = await asyncio.start_server(
        lambda r, w: serve_connection(r, w, control, None), "127.0.0.1", 0
    )
    api_port = api_server.sockets[0].getsockname()[1]
    control_port = control_server.sockets[0].getsockname()[1]
    print(f"ports {api_port} {control_port}", flush=True)
    async with api_server, control_server:
        await stop.wait()


# The side of the process that starts the stub.


@dataclass(frozen=True)
class Stub:
    api_url: str
    control_url: str
    pid: int

    def stats(self) -> dict[str, Any]:
        return control(self.control_url, "GET", "/stats")

    def reset(self) -> dict[str, Any]:
        return control(self.control_url, "POST", "/reset")


def control(control_url: str, method: str, path: str) -> dict[str, Any]:
    """Ask the stub's control port (never counted), with the standard library only."""
    data = b"" if method == "POST" else None
    request = urllib.request.Request(control_url + path, method=method, data=data)
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


@contextlib.contextmanager
def running(python: str = sys.executable) -> Iterator[Stub]:
    """Start the stub in a process of its own; stop it whatever happens."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    process = subprocess.Popen(
        [python, str(Path(__file__).resolve())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT)
        line = process.stdout.readline().decode() if ready else ""
        if not line.startswith("ports "):
            raise RuntimeError(f"the stub server did not start (said {line!r})")
        api_port, control_port = line.split()[1:3]
        yield Stub(
            api_url=f"http://127.0.0.1:{api_port}/api",
            control_url=f"http://127.0.0.1:{control_port}",
            pid=process.pid,
        )
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()  # end of file: the stub stops by itself
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


if __name__ == "__main__":
    asyncio.run(main())
