"""`EventsClient`: emits events over Prefect's ``/events/in`` websocket without ever
making the caller wait.

- ``emit`` puts the event in a bounded buffer and returns. One sender task, in the
  client's own task group (opened by ``__aenter__``), drains it.
- Delivery is confirmed as Prefect's client confirms it: a websocket ping after
  `checkpoint_every` events, or after `checkpoint_interval` seconds with events
  unconfirmed; the pong means every event sent before it arrived.
- When the connection drops, the sender reconnects with capped exponential backoff and
  re-sends every unconfirmed event with its original id (the server skips ids it has).
- When the upgrade is answered with an HTTP status (a proxy that refuses websockets),
  events go by ``POST /events`` in batches. The websocket is tried again now and then
  (after `upgrade_retry_initial` seconds, doubling up to `upgrade_retry_max`), between
  batches: a proxy fixed later gets the websocket back. A server
  that answers 404 to ``POST /events`` too has no events endpoint: `events_endpoint`
  says so, for callers that then report another way (the task runs of ``@task``).
- Only when the server stays unreachable for `unreachable_timeout` seconds are the
  events waiting dropped: counted in `dropped`, one warning per client; the program
  goes on, and later events are tried again.
- Leaving the block flushes: the sender delivers what is buffered, bounded by
  `close_timeout` and shielded from cancellation; what is left then is dropped (and
  counted).
"""

from __future__ import annotations

import contextvars
import logging
from collections import deque
from types import TracebackType
from typing import Literal

import anyio
import anyio.abc
import httpx

from prefect_trio_client.events._socket import (
    AuthenticationRefused,
    ConnectionLost,
    Socket,
    UpgradeRefused,
    run_socket,
    websocket_url,
)
from prefect_trio_client.events._target import EventsTarget
from prefect_trio_client.exceptions import PrefectHTTPStatusError
from prefect_trio_client.orchestration.client import PrefectClient
from prefect_trio_client.schemas.events import Event

__all__ = ["EventsClient", "current_events_client"]

logger = logging.getLogger("prefect_trio_client.events")

_current: contextvars.ContextVar[EventsClient | None] = contextvars.ContextVar(
    "prefect_trio_client_events_client", default=None
)
_RETRIED_STATUSES = frozenset({408, 429})


def current_events_client() -> EventsClient | None:
    """The events client `emit_event` uses here: the innermost open one (a run may set
    its own through the same context variable)."""
    return _current.get()


class _Unreachable(Exception):
    """The server cannot be reached now (the sender backs off and tries again)."""


class EventsClient:
    """Streams events to a Prefect API (see the module docstring).

    Args:
        target: Where to send them (`get_events_client` builds it from the settings).
        buffer_size: Events that may wait to be sent; an event emitted while it is full
            is dropped and counted.
        checkpoint_every: Confirm delivery after this many events (Prefect's 700).
        checkpoint_interval: Confirm delivery at least this often, in seconds, while
            events are unconfirmed (Prefect's 30).
        unreachable_timeout: Seconds of failed attempts after which the waiting events
            are dropped.
        close_timeout: The most seconds leaving the block spends flushing.
        http_batch_size: Events per ``POST /events`` when websockets are refused.
        ping_timeout: Seconds to wait for a checkpoint's pong before reconnecting.
        backoff_initial: The first reconnection delay; it doubles up to `backoff_max`.
        backoff_max: The longest reconnection delay.
        upgrade_retry_initial: Seconds after a refused upgrade before the websocket is
            tried again (events go by ``POST /events`` meanwhile); it doubles after each
            refusal up to `upgrade_retry_max`.
        upgrade_retry_max: The longest wait between two tries of a refused websocket.
    """

    def __init__(
        self,
        target: EventsTarget,
        *,
        buffer_size: int = 10_000,
        checkpoint_every: int = 700,
        checkpoint_interval: float = 30.0,
        unreachable_timeout: float = 60.0,
        close_timeout: float = 10.0,
        http_batch_size: int = 200,
        ping_timeout: float = 10.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        upgrade_retry_initial: float = 5.0,
        upgrade_retry_max: float = 60.0,
    ) -> None:
        if buffer_size < 1 or checkpoint_every < 1 or http_batch_size < 1:
            raise ValueError("buffer_size, checkpoint_every and http_batch_size must be >= 1")
        self._target = target
        self._buffer_size = buffer_size
        self._checkpoint_every = checkpoint_every
        self._checkpoint_interval = checkpoint_interval
        self._unreachable_timeout = unreachable_timeout
        self._close_timeout = close_timeout
        self._http_batch_size = http_batch_size
        self._ping_timeout = ping_timeout
        self._backoff = (backoff_initial, backoff_max)
        self._upgrade_retry = (upgrade_retry_initial, upgrade_retry_max)
        self._upgrade_delay = upgrade_retry_initial
        self._upgrade_retry_at = 0.0
        self._refusals = 0
        self._buffer: deque[Event] = deque()
        self._unconfirmed: list[Event] = []
        self._wakeup = anyio.Event()
        self._done = anyio.Event()
        self._state: Literal["new", "open", "closing", "closed"] = "new"
        self._http: httpx.AsyncClient | None = None
        self._orchestration: PrefectClient | None = None
        self._token: contextvars.Token[EventsClient | None] | None = None
        self._progress = False
        self._warned = False
        self.transport: Literal["websocket", "http"] = "websocket"
        """How events travel: ``"http"`` while websocket upgrades are refused."""
        self.emitted = 0
        """Events accepted by `emit`."""
        self.delivered = 0
        """Events the server confirmed (a pong, or a successful ``POST /events``)."""
        self.dropped = 0
        """Events given up: the buffer was full, or the server stayed unreachable."""
        self.reconnects = 0
        """Websocket connections opened after the first one."""
        self._settled = anyio.Event()
        self._has_endpoint = True
        self._flush_wanted = False  # `flush` asks the sender to confirm what it sent now
        self._confirming = anyio.Event()  # set (and replaced) when pending events settle

    def __repr__(self) -> str:
        return (
            f"EventsClient(api={self._target.display_url!r}, transport={self.transport!r},"
            f" emitted={self.emitted}, delivered={self.delivered}, dropped={self.dropped})"
        )

    @property
    def pending(self) -> int:
        """Events emitted but not yet confirmed."""
        return len(self._buffer) + len(self._unconfirmed)

    async def events_endpoint(self) -> bool:
        """Whether the server takes events: waits for the first connection attempt. False
        only when the websocket upgrade was refused and ``POST /events`` answered 404 (or
        405); a server that cannot be reached now counts as having one (its events wait,
        and are dropped and counted if it stays away).

        Raises:
            RuntimeError: The client is not open.
        """
        if self._state == "new":
            raise RuntimeError("open the events client first: `async with client:`")
        await self._settled.wait()
        return self._has_endpoint

    # ------------------------------------------------------------------ emitting

    def emit_nowait(self, event: Event) -> bool:
        """Queue `event` for sending; False if the buffer was full (it is then dropped
        and counted). Call it from the event loop the client runs in.

        Raises:
            RuntimeError: The client is not open.
        """
        if self._state != "open":
            raise RuntimeError(
                "events may only be emitted while the events client is open:"
                " use `async with get_events_client() as client:`"
            )
        if len(self._buffer) >= self._buffer_size:
            self._drop(1, f"the buffer of {self._buffer_size} events is full")
            return False
        self._buffer.append(event)
        self.emitted += 1
        self._wakeup.set()
        return True

    async def emit(self, event: Event) -> None:
        """Queue `event` for sending (Prefect's signature); never waits for the network."""
        self.emit_nowait(event)

    async def flush(self) -> None:
        """Wait until every event emitted so far was confirmed or dropped, asking the
        server to confirm now rather than at the next checkpoint; the client stays open.
        Not bounded here: a server that is away is waited for (up to
        `unreachable_timeout`, then the events are dropped), so bound it yourself."""
        mark = self.emitted
        while self.emitted - self.pending < mark and not self._done.is_set():
            settled = self._confirming
            self._flush_wanted = True
            self._wakeup.set()
            await settled.wait()

    # ------------------------------------------------------------------ lifetime

    async def __aenter__(self) -> EventsClient:
        if self._state != "new":
            raise RuntimeError("an EventsClient can be opened once")
        tasks = anyio.create_task_group()
        await tasks.__aenter__()
        self._tasks = tasks
        self._state = "open"
        tasks.start_soon(self._deliver)
        self._token = _current.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        self._state = "closing"
        self._wakeup.set()
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._close_timeout):
            await self._done.wait()  # the flush: shielded, bounded
        self._tasks.cancel_scope.cancel()
        try:
            # the caller's error is not handed to the task group (it would wrap it in a group)
            await self._tasks.__aexit__(None, None, None)
        finally:
            self._state = "closed"
            self._drop_waiting(f"they were not delivered within {self._close_timeout:g} s")

    # ------------------------------------------------------------------ the sender

    async def _deliver(self) -> None:
        """The sender task: never raises (it would cancel the caller's block)."""
        try:
            async with (
                self._target.http_client() as self._http,
                self._target.orchestration_client() as self._orchestration,
            ):
                await self._delivery_loop()
        except Exception:
            logger.exception("the events sender failed; events not yet delivered are dropped")
            self._drop_waiting()
        finally:
            self._settled.set()
            self._done.set()
            self._notify_confirming()

    def _finished(self) -> bool:
        return self._state == "closing" and not self._buffer and not self._unconfirmed

    async def _delivery_loop(self) -> None:
        delay = self._backoff[0]
        outage_since: float | None = None
        connections = 0
        use_socket = True
        while not self._finished():
            try:
                if use_socket:
                    connections += 1
                    if connections > 1:
                        self.reconnects += 1
                    assert self._http is not None
                    await run_socket(
                        self._http,
                        websocket_url(self._http.base_url, "/events/in"),
                        self._stream,
                        token=self._target.token,
                        handshake=not self._target.cloud,
                    )
                elif not await self._post_batches():
                    use_socket = True  # time to try it again
                    continue
            except UpgradeRefused as exc:
                self._refused(exc)
                use_socket = False
                if not self._settled.is_set():
                    self._has_endpoint = await self._posting_works()
                    self._settled.set()
                continue
            except (ConnectionLost, AuthenticationRefused, _Unreachable) as exc:
                reason = str(exc)
                self._settled.set()
            else:
                return
            now = anyio.current_time()
            if self._progress:
                self._progress, outage_since, delay = False, None, self._backoff[0]
            if outage_since is None:
                outage_since = now
            elif now - outage_since >= self._unreachable_timeout:
                self._drop_waiting(
                    f"the server stayed unreachable for {self._unreachable_timeout:g} s ({reason})"
                )
                outage_since = now
            logger.debug("events: %s; retrying in %.2f s", reason, delay)
            await self._sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    def _refused(self, exc: UpgradeRefused) -> None:
        """Send by ``POST /events`` until the next try of the websocket."""
        self._refusals += 1
        log = logger.info if self._refusals == 1 else logger.debug
        log(
            "%s; sending events by POST /events instead (the websocket is tried again in %g s)",
            exc,
            self._upgrade_delay,
        )
        self.transport = "http"
        self._upgrade_retry_at = anyio.current_time() + self._upgrade_delay
        self._upgrade_delay = min(self._upgrade_delay * 2, self._upgrade_retry[1])

    async def _sleep(self, seconds: float) -> None:
        """Back off, in a cancel scope the client's close cancels."""
        await anyio.sleep(seconds)

    async def _next_event(self, timeout: float) -> Event | None:
        """The next buffered event, or None after `timeout` or once closing and empty."""
        with anyio.move_on_after(timeout):
            while not self._buffer:
                if self._state != "open":
                    return None
                if self._flush_wanted:  # confirm what was sent now
                    self._flush_wanted = False
                    return None
                self._wakeup = anyio.Event()
                await self._wakeup.wait()
        return self._buffer.popleft() if self._buffer else None

    async def _posting_works(self) -> bool:
        """Whether ``POST /events`` exists: an empty batch is posted once."""
        assert self._orchestration is not None
        try:
            await self._orchestration.request("POST", "/events", json=[])
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code in (404, 405):
                logger.info(
                    "the server has no events endpoint (POST /events: HTTP %d)",
                    exc.response.status_code,
                )
                return False
        except (httpx.HTTPError, OSError):
            pass  # not reachable now: the sender tries again
        return True

    async def _stream(self, socket: Socket) -> None:
        """One websocket connection: re-send what is unconfirmed, then stream."""
        self._progress = True  # reachable again
        self._settled.set()
        self._upgrade_delay = self._upgrade_retry[0]
        self.transport = "websocket"
        if self._unconfirmed:
            logger.debug("events: re-sending %d unconfirmed events", len(self._unconfirmed))
            for unconfirmed in list(self._unconfirmed):
                await socket.send_text(unconfirmed.model_dump_json())
            await self._checkpoint(socket)
        due = anyio.current_time() + self._checkpoint_interval
        while True:
            event = await self._next_event(max(due - anyio.current_time(), 0))
            if event is None:
                if self._unconfirmed:
                    await self._checkpoint(socket)
                if self._finished():
                    return
                due = anyio.current_time() + self._checkpoint_interval
                continue
            self._unconfirmed.append(event)
            await socket.send_text(event.model_dump_json())
            if len(self._unconfirmed) >= self._checkpoint_every:
                await self._checkpoint(socket)
                due = anyio.current_time() + self._checkpoint_interval

    async def _checkpoint(self, socket: Socket) -> None:
        count = len(self._unconfirmed)
        await socket.confirm(self._ping_timeout)
        del self._unconfirmed[:count]
        self.delivered += count
        self._progress = True
        self._notify_confirming()

    async def _post_batches(self) -> bool:
        """Send events by ``POST /events``; the batch in flight stays unconfirmed until
        the server answers, and is re-sent whole after a failure. True once closed and
        flushed; False when the websocket is due to be tried again (between batches,
        while the client is open)."""
        assert self._orchestration is not None
        while True:
            if not self._unconfirmed:
                retry_in = self._upgrade_retry_at - anyio.current_time()
                if retry_in <= 0 and self._state == "open":
                    return False
                first = await self._next_event(min(self._checkpoint_interval, max(retry_in, 0)))
                if first is None:
                    if self._finished():
                        return True
                    continue
                self._unconfirmed.append(first)
                while self._buffer and len(self._unconfirmed) < self._http_batch_size:
                    self._unconfirmed.append(self._buffer.popleft())
            batch = [event.model_dump(mode="json") for event in self._unconfirmed]
            try:
                await self._orchestration.request("POST", "/events", json=batch)
            except PrefectHTTPStatusError as exc:
                status = exc.response.status_code
                if status < 500 and status not in _RETRIED_STATUSES:
                    self._drop(len(batch), f"the server refused them (HTTP {status})")
                    self._unconfirmed.clear()
                    self._notify_confirming()
                    continue
                raise _Unreachable(f"POST /events answered HTTP {status}") from None
            except (httpx.HTTPError, OSError) as exc:
                raise _Unreachable(f"POST /events failed: {type(exc).__name__}") from None
            self.delivered += len(batch)
            self._unconfirmed.clear()
            self._progress = True
            self._notify_confirming()

    # ------------------------------------------------------------------ drops

    def _drop_waiting(self, reason: str = "the events sender stopped") -> None:
        count = self.pending
        self._buffer.clear()
        self._unconfirmed.clear()
        if count:
            self._drop(count, reason)
        self._notify_confirming()

    def _notify_confirming(self) -> None:
        self._confirming.set()
        self._confirming = anyio.Event()

    def _drop(self, count: int, reason: str) -> None:
        self.dropped += count
        if not self._warned:
            self._warned = True
            logger.warning(
                "dropped %d event(s) for %s: %s; later drops are only counted"
                " (EventsClient.dropped)",
                count,
                self._target.display_url,
                reason,
            )
