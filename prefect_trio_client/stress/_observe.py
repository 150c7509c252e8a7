"""What a stress run watches from the outside: the served app, the requests sent, and
the process's tasks, sockets and memory.

`ObservedApp` wraps the embedded server's ASGI app. It sees every lifespan and every
request of the app, per event loop (an event loop runs in one thread: the program's own,
or the loop of a sync client's in-process transport), and records any break of the
lifespan contract: two lifespans of one loop at once, more than one startup in one
lifespan, a request while its loop's app is not started or is shutting down.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import sniffio

from prefect_trio_client.lifespan import ASGIApp

__all__ = [
    "ObservedApp",
    "RequestCounter",
    "count_sockets",
    "count_tasks",
    "resident_memory",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

VERSION_PATH = "/admin/version"
# The request extension where the counter notes when a request was sent (its clock's time).
_SENT_AT = "prefect_trio_client.stress.sent_at"


@dataclass
class _Loop:
    """The app as one event loop sees it."""

    lifespans: int = 0  # lifespan calls running now (more than one is a violation)
    running: bool = False  # startup completed, shutdown not yet asked
    in_flight: int = 0


@dataclass
class ObservedApp:
    """An ASGI app that serves `app` and checks the lifespan contract around it."""

    app: ASGIApp
    lifespans: int = 0
    startups: int = 0
    shutdowns: int = 0
    requests: int = 0
    violations: list[str] = field(default_factory=list)
    lifespan_violations: int = 0
    request_violations: int = 0
    _loops: dict[int, _Loop] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def violation(self, message: str, *, request: bool = False) -> None:
        with self._lock:
            if request:
                self.request_violations += 1
            else:
                self.lifespan_violations += 1
            if len(self.violations) < 20:
                self.violations.append(message)

    def _loop(self) -> _Loop:
        ident = threading.get_ident()
        with self._lock:
            return self._loops.setdefault(ident, _Loop())

    def running_loops(self) -> int:
        """Event loops in which the app is started now (0 once every lifespan ended)."""
        with self._lock:
            return sum(1 for loop in self._loops.values() if loop.lifespans or loop.running)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        loop = self._loop()
        path = str(scope.get("path", ""))
        started = loop.running
        if not started:
            self.violation(f"{path}: a request while the app is not started", request=True)
        with self._lock:
            loop.in_flight += 1
            self.requests += 1
        try:
            await self.app(scope, receive, send)
        finally:
            with self._lock:
                loop.in_flight -= 1
            if started and not loop.running:
                self.violation(f"{path}: the app stopped during the request", request=True)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = self._loop()
        with self._lock:
            self.lifespans += 1
            loop.lifespans += 1
            overlap = loop.lifespans > 1
        if overlap:
            self.violation("two lifespans of the app overlap in one event loop")
        startups = 0

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                with self._lock:
                    loop.running = False
                    in_flight = loop.in_flight
                if in_flight:
                    self.violation(
                        f"shutdown began with {in_flight} requests in flight", request=True
                    )
            return message

        async def watched_send(message: Message) -> None:
            nonlocal startups
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                startups += 1
                with self._lock:
                    self.startups += 1
                    loop.running = True
                if startups > 1:
                    self.violation("one lifespan completed its startup twice")
            elif kind == "lifespan.shutdown.complete":
                with self._lock:
                    self.shutdowns += 1
            await send(message)

        try:
            await self.app(scope, watched_receive, watched_send)
        finally:
            with self._lock:
                loop.lifespans -= 1
                loop.running = False


class RequestCounter:
    """httpx event hooks that count the requests clients send (retries included), by path,
    and time them: from sending to the answer's headers, summed over every request.

    The summed time divided by the wall time is how many requests were in flight on
    average: a run against a server that takes one write at a time (SQLite: a second
    overlapping write is answered 503, and the clients' shared limit backs off to one)
    shows about 1, whatever the number of tasks waiting; that is what bounds its speed.
    """

    def __init__(self) -> None:
        self.sent = 0
        self.version_checks = 0
        self.answered = 0
        self.overloaded = 0  # 503 and 429 answers
        self.busy = 0.0  # seconds, summed over the answered requests
        self._lock = threading.Lock()

    def _count(self, request: httpx.Request, now: float) -> None:
        request.extensions[_SENT_AT] = now
        with self._lock:
            self.sent += 1
            if request.url.path.endswith(VERSION_PATH):
                self.version_checks += 1

    def _answer(self, response: httpx.Response, now: float) -> None:
        sent_at = response.request.extensions.get(_SENT_AT)
        with self._lock:
            self.answered += 1
            if response.status_code in (429, 503):
                self.overloaded += 1
            if isinstance(sent_at, float):
                self.busy += max(now - sent_at, 0.0)

    async def _async_hook(self, request: httpx.Request) -> None:
        self._count(request, anyio.current_time())

    async def _async_answer(self, response: httpx.Response) -> None:
        self._answer(response, anyio.current_time())

    def _sync_hook(self, request: httpx.Request) -> None:
        self._count(request, time.monotonic())

    def _sync_answer(self, response: httpx.Response) -> None:
        self._answer(response, time.monotonic())

    def async_hooks(self) -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
        """``event_hooks`` for an async client."""
        return {"request": [self._async_hook], "response": [self._async_answer]}

    def sync_hooks(self) -> dict[str, list[Callable[[Any], None]]]:
        """``event_hooks`` for a sync client."""
        return {"request": [self._sync_hook], "response": [self._sync_answer]}


def count_tasks() -> int:
    """Tasks alive in the running event loop (trio: the whole task tree)."""
    if sniffio.current_async_library() == "trio":
        import trio  # noqa: PLC0415  # only under trio

        count, stack = 0, [trio.lowlevel.current_root_task()]
        while stack:
            task = stack.pop()
            if task is None:
                continue
            count += 1
            for nursery in task.child_nurseries:
                stack.extend(nursery.child_tasks)
        return count
    import asyncio  # noqa: PLC0415

    return len(asyncio.all_tasks())


def count_sockets() -> int | None:
    """Open sockets of this process (None where ``/proc/self/fd`` is not available)."""
    folder = Path("/proc/self/fd")
    if not folder.is_dir():
        return None
    count = 0
    for entry in os.scandir(folder):
        try:
            if os.readlink(entry.path).startswith("socket:"):
                count += 1
        except OSError:  # closed while we looked
            continue
    return count


def resident_memory() -> int:
    """Resident set size in bytes (``/proc/self/statm``; else the peak from getrusage)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        import resource  # noqa: PLC0415  # not on Windows

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * os.sysconf("SC_PAGE_SIZE")
