"""The events client task runs report through: one per (event loop, API and
credentials), shared by every run tree, as Prefect's engine keeps one per process.

A client per run tree opened a websocket per flow run (one more request per run than
Prefect's engine). Shared, it is served as the lifespan of a small ASGI app through the
lifespan service, like the log shipper (`_shared_logs`): the first run tree whose task
runs report opens it, concurrent trees borrow it, and the last one out closes it, which
flushes what is still unconfirmed within `FLUSH_TIMEOUT` (shielded). A tree's events
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

from prefect_trio_client.lifespan import app_lifespan_context
from prefect_trio_client.runs._shared_logs import LifespanOnlyApp, PerLoop, Receive, Send

if TYPE_CHECKING:
    from prefect_trio_client.events._client import EventsClient
    from prefect_trio_client.orchestration.client import PrefectClient

__all__ = ["EventsApp", "TreeEvents", "shared_events"]

logger = logging.getLogger("prefect_trio_client.runs")

#: The most seconds the last run tree out waits for the events to be delivered.
FLUSH_TIMEOUT = 10.0


class EventsApp(LifespanOnlyApp):
    """An events client whose life is an ASGI lifespan: opened on ``lifespan.startup``,
    flushed and closed on ``lifespan.shutdown``. `events` is None when task runs must go
    over HTTP (the server takes no events, or the client could not start)."""

    what = "events client"

    def __init__(self, client: PrefectClient) -> None:
        self._client = client
        self.events: EventsClient | None = None
        self.holders = 0

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
        if not stopping:
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    def __repr__(self) -> str:
        return f"<events client ({self.holders} run trees)>"


_events_apps: PerLoop[EventsApp] = PerLoop("prefect_trio_client.runs.events_clients")


@asynccontextmanager
async def shared_events(client: PrefectClient) -> AsyncIterator[EventsClient | None]:
    """This loop's events client for `client`'s API and credentials (None: report over
    HTTP), held until the block ends."""
    app = _events_apps.get(client, lambda: EventsApp(client))
    app.holders += 1
    try:
        async with app_lifespan_context(app):
            yield app.events
    finally:
        app.holders -= 1
        if not app.holders:
            _events_apps.forget(client, app)


class TreeEvents:
    """Hands the tree's task runs the shared events client, or None when they report over
    HTTP (the setting says so, or the server takes no events)."""

    def __init__(self, client: PrefectClient, group: anyio.abc.TaskGroup) -> None:
        self._client = client
        self._group = group
        self._wanted = client._settings.client_task_run_reporting == "events"
        self._ready = anyio.Event()
        self._closing = anyio.Event()
        self._started = False
        self._events: EventsClient | None = None

    async def client(self) -> EventsClient | None:
        """The events client task runs report through; None: report over HTTP."""
        if not self._wanted or self._closing.is_set():
            return None
        if not self._started:
            self._started = True
            self._group.start_soon(self._hold)
        await self._ready.wait()
        return self._events

    def close(self) -> None:
        """Give the shared client back (the tree's nursery waits; the last tree out
        flushes it, bounded)."""
        self._closing.set()

    async def _hold(self) -> None:
        try:
            async with shared_events(self._client) as events:
                self._events = events
                self._ready.set()
                await self._closing.wait()
                self._events = None
        finally:
            self._ready.set()
