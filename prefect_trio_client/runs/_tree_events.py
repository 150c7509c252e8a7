"""The events client task runs report through: one per (event loop, API and
credentials), shared by every run tree, as Prefect's engine keeps one per process.

A client per run tree opened a websocket per flow run (one more request per run than
Prefect's engine). Shared, it is served as the lifespan of a small ASGI app through the
lifespan service, like the log shipper (`_shared_logs`). The first task run of a loop
opens it (a program without tasks loads no websockets); from then on, a tree that reports
by events holds it from its start, not from its first task run (trees waiting out 503s
before their first task let it close, and the next task run opened it again: 42
``GET /events/in`` for 100 runs at 20 in flight). The last tree out waits until its events
are confirmed (`EventsClient.flush`, shielded, within `FLUSH_TIMEOUT`: when a program's
runs have all returned, their task runs are recorded) but leaves the websocket open: the
lifespan service keeps it `LINGER` seconds more (`LifespanService.lease(linger=...)`) for
the runs that follow. Then, or when the event loop ends, the service closes it, flushing
within `FLUSH_TIMEOUT` (shielded): no task outlives the loop. An API served in-process
(the embedded server) gets no linger: its websocket costs no round trip, and lingering
would keep that server running past its last user, up to the loop's end. A tree's events
that are still buffered when it ends are sent by the client's one sender task while other
trees hold it. Each tree holds its lease in a task of its own nursery (a lease must be
entered and left by one task), so task runs in any of the caller's tasks borrow the
client without owning it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.lowlevel

from prefect_trio_client.lifespan import current_lifespan_service
from prefect_trio_client.runs._shared_logs import LifespanOnlyApp, PerLoop, Receive, Send

if TYPE_CHECKING:
    from prefect_trio_client.events._client import EventsClient
    from prefect_trio_client.orchestration.client import PrefectClient

__all__ = ["EventsApp", "TreeEvents", "events_app_of", "shared_events"]

logger = logging.getLogger("prefect_trio_client.runs")

#: The most seconds the last run tree out waits for the events to be delivered.
FLUSH_TIMEOUT = 10.0

#: Seconds the events client stays open after the last run tree out, for the next one.
LINGER = 2.0


class EventsApp(LifespanOnlyApp):
    """An events client whose life is an ASGI lifespan: opened on ``lifespan.startup``,
    flushed and closed on ``lifespan.shutdown``. `events` is None when task runs must go
    over HTTP (the server takes no events, or the client could not start)."""

    what = "events client"

    def __init__(self, client: PrefectClient) -> None:
        self._client = client
        self.events: EventsClient | None = None
        self.holders = 0
        self.closed = anyio.Event()  # set once the events client is closed (and flushed)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        # imported when a task first reports: a program without tasks loads no websockets
        from prefect_trio_client.events._client import EventsClient  # noqa: PLC0415
        from prefect_trio_client.events._target import events_target_of  # noqa: PLC0415

        started = stopping = False
        try:
            async with EventsClient(
                events_target_of(self._client), close_timeout=FLUSH_TIMEOUT
            ) as events:
                if await events.events_endpoint():
                    self.events = events
                else:
                    logger.info("the server takes no events: task runs are reported over HTTP")
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
                stopping = True
                _events_apps.forget_app(self)  # the next tree in opens a new one
                self.events = None
        except Exception as exc:  # a task run must not fail because events failed
            self.events = None
            logger.warning(
                "the events client failed (%s: %s): task runs are reported over HTTP",
                type(exc).__name__,
                exc,
            )
        if not started:
            await send({"type": "lifespan.startup.complete"})
        self.closed.set()
        if not stopping:
            await receive()  # lifespan.shutdown
            _events_apps.forget_app(self)
        await send({"type": "lifespan.shutdown.complete"})

    def __repr__(self) -> str:
        return f"<events client ({self.holders} run trees)>"


_events_apps: PerLoop[EventsApp] = PerLoop("prefect_trio_client.runs.events_clients")


def events_app_of(client: PrefectClient) -> EventsApp | None:
    """This loop's events app for `client`'s API and credentials, if one is open (or
    lingers)."""
    return _events_apps.find(client)


@asynccontextmanager
async def shared_events(client: PrefectClient) -> AsyncIterator[EventsClient | None]:
    """This loop's events client for `client`'s API and credentials (None: report over
    HTTP), held until the block ends. The last holder out waits for its events to be
    confirmed (bounded, shielded), not for the client to close: it lingers."""
    app = _events_apps.get(client, lambda: EventsApp(client))
    linger = 0.0 if getattr(client, "_app", None) is not None else LINGER
    async with current_lifespan_service().lease(app, linger=linger):
        app.holders += 1
        try:
            yield app.events
        finally:
            app.holders -= 1
            if not app.holders and app.events is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(FLUSH_TIMEOUT):
                    await app.events.flush()


class TreeEvents:
    """Hands the tree's task runs the shared events client, or None when they report over
    HTTP (the setting says so, or the server takes no events). The tree holds the client
    in a task of `group`: from its start when one is open (or lingers), else from its
    first task run."""

    def __init__(self, client: PrefectClient, group: anyio.abc.TaskGroup) -> None:
        self._client = client
        self._group = group
        self._wanted = client._settings.client_task_run_reporting == "events"
        self._ready = anyio.Event()
        self._closing = anyio.Event()
        self._started = False
        self._events: EventsClient | None = None
        if self._wanted and events_app_of(client) is not None:
            self._start()

    async def client(self) -> EventsClient | None:
        """The events client task runs report through; None: report over HTTP."""
        if not self._wanted or self._closing.is_set():
            return None
        self._start()
        await self._ready.wait()
        return self._events

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._group.start_soon(self._hold)

    def close(self) -> None:
        """Give the shared client back (the tree's nursery waits; the last tree out
        flushes it, bounded)."""
        self._closing.set()

    async def _hold(self) -> None:
        if self._closing.is_set():  # the tree ended before this task ran
            self._ready.set()
            return
        try:
            async with shared_events(self._client) as events:
                self._events = events
                self._ready.set()
                await self._closing.wait()
                self._events = None
        finally:
            self._ready.set()
