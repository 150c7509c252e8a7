"""`EventSubscriber`: Prefect's ``/events/out`` stream as an async iterator.

A reader task in the subscriber's own task group keeps the websocket: the auth message,
then the filter with ``occurred.since`` one minute before the newest event seen (the
server backfills from there), then events. After a dropped connection it reconnects
with capped exponential backoff, and events it has already yielded (by id) are skipped,
so the backfill of a reconnect shows nothing twice. The iterator ends when the server
closes the stream normally (unless `reconnect_on_clean_close`), and raises one
`EventStreamError` after `reconnection_attempts` failures in a row.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any
from uuid import UUID

import anyio
import anyio.abc
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from prefect_trio_client.events._socket import (
    AuthenticationRefused,
    ConnectionLost,
    Socket,
    UpgradeRefused,
    run_socket,
    websocket_url,
)
from prefect_trio_client.events._target import EventsTarget
from prefect_trio_client.exceptions import EventStreamError
from prefect_trio_client.schemas.events import EventFilter, EventOccurredFilter, ReceivedEvent

__all__ = ["EventSubscriber"]

logger = logging.getLogger("prefect_trio_client.events")

SEEN_EVENTS_SIZE = 500_000
"""How many event ids a subscriber remembers to skip repeats (Prefect's size)."""
_BACKFILL_MARGIN = timedelta(minutes=1)
_NORMAL_CLOSURE = 1000


class _Closed(Exception):
    """The server closed the stream normally."""


class EventSubscriber:
    """Yields the events matching `filter` as the server stores them.

    Args:
        target: The API (`get_events_subscriber` builds it from the settings).
        filter: Which events; its time bounds are replaced, as Prefect's client does.
        reconnection_attempts: Failed connections in a row before giving up.
        reconnect_on_clean_close: Reconnect after a normal close instead of ending.
        queue_size: Events read ahead of the consumer.
        backoff_initial: The first reconnection delay; it doubles up to `backoff_max`.
        backoff_max: The longest reconnection delay.
    """

    def __init__(
        self,
        target: EventsTarget,
        filter: EventFilter | None = None,
        *,
        reconnection_attempts: int = 10,
        reconnect_on_clean_close: bool = False,
        queue_size: int = 1000,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
    ) -> None:
        if reconnection_attempts < 0:
            raise ValueError("reconnection_attempts must be a non-negative integer")
        self._target = target
        self._filter = filter or EventFilter()
        self._attempts = reconnection_attempts
        self._reconnect_on_clean_close = reconnect_on_clean_close
        self._queue_size = queue_size
        self._backoff = (backoff_initial, backoff_max)
        self._seen: OrderedDict[UUID, None] = OrderedDict()
        self._backfill_since: datetime | None = None
        self._error: EventStreamError | None = None
        self._http: httpx.AsyncClient | None = None
        self._events: MemoryObjectReceiveStream[ReceivedEvent] | None = None
        self.reconnects = 0
        """Connections opened after the first one."""

    async def __aenter__(self) -> EventSubscriber:
        if self._events is not None:
            raise RuntimeError("an EventSubscriber can be opened once")
        send, receive = anyio.create_memory_object_stream[ReceivedEvent](
            self._queue_size if self._queue_size > 0 else math.inf
        )
        tasks = anyio.create_task_group()
        await tasks.__aenter__()
        self._tasks = tasks
        self._events = receive
        self._send = send
        tasks.start_soon(self._read, send)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self._tasks.cancel_scope.cancel()
        try:
            # the caller's error is not handed to the task group (it would wrap it in a group)
            await self._tasks.__aexit__(None, None, None)
        finally:  # also when an outer scope's cancellation is raised from the exit
            self._send.close()  # the reader's: it never ran if cancelled before it started
            if self._events is not None:
                self._events.close()

    def __aiter__(self) -> EventSubscriber:
        return self

    async def __anext__(self) -> ReceivedEvent:
        if self._events is None:
            raise RuntimeError("open the subscriber first: `async with get_events_subscriber()`")
        try:
            return await self._events.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            if self._error is not None:
                raise self._error from None
            raise StopAsyncIteration from None

    # ------------------------------------------------------------------ the reader

    async def _read(self, send: MemoryObjectSendStream[ReceivedEvent]) -> None:
        """The reader task: never raises (it would cancel the consumer's block)."""
        with send:
            try:
                async with self._target.http_client() as self._http:
                    await self._reconnecting(send)
            except Exception as exc:
                logger.exception("the event subscriber's reader failed")
                self._error = EventStreamError(f"the event stream failed: {exc!r}")

    async def _reconnecting(self, send: MemoryObjectSendStream[ReceivedEvent]) -> None:
        failures = 0
        delay = self._backoff[0]
        connected = False
        assert self._http is not None
        url = websocket_url(self._http.base_url, "/events/out")
        while True:
            progress: list[bool] = []

            async def work(socket: Socket, progress: list[bool] = progress) -> None:
                progress.append(True)
                await self._stream(socket, send)

            try:
                if connected:
                    self.reconnects += 1
                await run_socket(self._http, url, work, token=self._target.token)
            except _Closed:
                if not self._reconnect_on_clean_close:
                    return
                reason = "the server closed the stream"
            except (ConnectionLost, UpgradeRefused, AuthenticationRefused) as exc:
                reason = str(exc)
                if isinstance(exc, (UpgradeRefused, AuthenticationRefused)):
                    failures = self._attempts  # retrying cannot help
            else:
                return
            connected = connected or bool(progress)
            if progress:
                failures, delay = 0, self._backoff[0]
            failures += 1
            if failures > self._attempts:
                self._error = EventStreamError(
                    f"the event stream of {self._target.display_url} failed"
                    f" {failures} time(s) in a row: {reason}"
                )
                return
            logger.debug("event stream: %s; reconnecting in %.2f s", reason, delay)
            await anyio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    def _filter_message(self) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        if self._backfill_since is None:
            self._backfill_since = now - _BACKFILL_MARGIN
        occurred = EventOccurredFilter(since=self._backfill_since, until=now + timedelta(days=365))
        model = self._filter.model_copy(update={"occurred": occurred})
        return {"type": "filter", "filter": model.model_dump(mode="json")}

    async def _stream(self, socket: Socket, send: MemoryObjectSendStream[ReceivedEvent]) -> None:
        await socket.send_json(self._filter_message())
        while True:
            try:
                message = await socket.receive_json()
            except Exception as exc:
                if getattr(exc, "code", None) == _NORMAL_CLOSURE:
                    raise _Closed from None
                raise
            if not isinstance(message, dict) or message.get("type") != "event":
                continue
            event = ReceivedEvent.model_validate(message["event"])
            if event.id in self._seen:
                continue
            self._remember(event)
            await send.send(event)

    def _remember(self, event: ReceivedEvent) -> None:
        self._seen[event.id] = None
        if len(self._seen) > SEEN_EVENTS_SIZE:
            self._seen.popitem(last=False)
        since = event.occurred - _BACKFILL_MARGIN
        if self._backfill_since is None or since > self._backfill_since:
            self._backfill_since = since
