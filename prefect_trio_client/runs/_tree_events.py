"""The events client of one run tree: opened when its first task run reports, shared by
every task run under the outermost run, flushed when that run ends.

The client lives in a task of the tree's own nursery (its task group must be entered and
left by one task), so task runs in any of the caller's tasks borrow it without owning it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import anyio.abc

if TYPE_CHECKING:
    from prefect_trio_client.events._client import EventsClient
    from prefect_trio_client.orchestration.client import PrefectClient

__all__ = ["TreeEvents"]

logger = logging.getLogger("prefect_trio_client.runs")

#: The most seconds the end of a run tree waits for its events to be delivered.
FLUSH_TIMEOUT = 10.0


class TreeEvents:
    """Hands the tree's task runs one events client, or None when they report over HTTP
    (the setting says so, or the server takes no events)."""

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
            self._group.start_soon(self._host)
        await self._ready.wait()
        return self._events

    def close(self) -> None:
        """Let the client flush and close (the tree's nursery waits for it, bounded)."""
        self._closing.set()

    async def _host(self) -> None:
        # imported when a task first reports: a program without tasks loads no websockets
        from prefect_trio_client.events._client import EventsClient  # noqa: PLC0415
        from prefect_trio_client.events._target import events_target_of  # noqa: PLC0415

        try:
            async with EventsClient(
                events_target_of(self._client), close_timeout=FLUSH_TIMEOUT
            ) as events:
                if await events.events_endpoint():
                    self._events = events
                else:
                    logger.info("the server takes no events: task runs are reported over HTTP")
                self._ready.set()
                await self._closing.wait()
        except Exception as exc:  # a task run must not fail because events could not start
            logger.warning(
                "could not open the events client (%s: %s): task runs are reported over HTTP",
                type(exc).__name__,
                exc,
            )
        finally:
            self._ready.set()
