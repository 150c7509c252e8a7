"""Run logs: a logger bound to a run, and the shipper that sends records to the API.

Records reach the shipper through a logging handler, so they pass the logger's level and
filters like any record, and also reach the program's own handlers (the console). The
handler only appends to a bounded queue (a lock and a deque: it is called from worker
threads too, and never waits for the event loop). The shipper's task sends what is queued
to ``POST /logs/`` in batches, one batch in flight at a time: when a batch is full, at
every interval, at once when asked to `flush`, and when closed. Records that arrive
while a batch is in flight wait for the next interval unless they fill a batch: sending
them as soon as the last send returned kept a request in flight all the time against a
slow server (measured on a real SQLite server at 20 flow runs in flight: 41-59 sends per
100 runs, one every 0.1-0.3 s; 8 since). One shipper serves every run tree of a program
that talks to one API (`runs._shared_logs`, which says when a run's records are
sent). When the API cannot take them, records are dropped and counted, with
one warning: logging never fails a run.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anyio

if TYPE_CHECKING:
    from prefect_trio_client.orchestration.client import PrefectClient

__all__ = [
    "FLOW_RUN_LOGGER",
    "TASK_RUN_LOGGER",
    "LogShipper",
    "RunLogger",
    "install_handler",
]

#: Prefect's logger names: records keep them as their ``name`` on the server.
FLOW_RUN_LOGGER = "prefect.flow_runs"
TASK_RUN_LOGGER = "prefect.task_runs"

#: Where the shipper itself reports (never shipped: it would feed on its own failures).
_own_logger = logging.getLogger("prefect_trio_client.runs")

_SHIPPER_ATTRIBUTE = "_prefect_trio_client_shipper"


class LogShipper:
    """Batches log records to the API from one task (`run`).

    Args:
        client: A client the records are sent with for the shipper's whole life; else
            the run trees that use the shipper lend theirs (`join` / `leave`).
        batch_size: Send as soon as this many records wait.
        interval: Send what waits at least this often, in seconds.
        max_queue: Records beyond this many waiting are dropped (and counted).
        flush_timeout: The most time `run` spends on the last send after `close`.
    """

    def __init__(
        self,
        client: PrefectClient | None = None,
        *,
        batch_size: int = 200,
        interval: float = 2.0,
        max_queue: int = 10_000,
        flush_timeout: float = 10.0,
    ) -> None:
        self._clients: list[PrefectClient] = [] if client is None else [client]
        self._sending_with: PrefectClient | None = None
        self.batch_size = batch_size
        self.interval = interval
        self.max_queue = max_queue
        self.flush_timeout = flush_timeout
        self._queue: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._wake = anyio.Event()
        self._closed = False
        self._loop_thread: int | None = None
        self._warned = False
        self._queued = 0  # records ever queued
        self._settled = 0  # of those, records sent or dropped (the queue is FIFO)
        self._progress = anyio.Event()  # set (and replaced) whenever a batch settles
        self._sending: anyio.CancelScope | None = None  # `run`'s loop; `close` bounds it
        #: Records that never reached the server (a full queue, a failed send, a closed shipper).
        self.dropped = 0
        #: Records the server accepted.
        self.sent = 0

    def put(self, entry: dict[str, Any]) -> None:
        """Queue one record (a `LogCreate` as JSON); never blocks, from any thread."""
        with self._lock:
            if self._closed or len(self._queue) >= self.max_queue:
                self._drop(1, "the log queue is full" if not self._closed else "the run ended")
                return
            self._queue.append(entry)
            self._queued += 1
            full = len(self._queue) >= self.batch_size
        if full and threading.get_ident() == self._loop_thread:
            # anyio's Event is not thread-safe: other threads wait for the interval.
            self._wake.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Send batches until `close`, then flush within `flush_timeout`. Never raises
        (but is cancelled like any task)."""
        self._loop_thread = threading.get_ident()
        with self._lock:
            self._closed = False  # a shared shipper may serve again after a close
        self._sending = sending = anyio.CancelScope()
        task_status.started()
        try:
            with sending:
                while not self._closed:
                    with anyio.move_on_after(self.interval):
                        await self._wake.wait()
                    self._wake = anyio.Event()
                    await self._send_waiting(drain=False)
        finally:  # closed, or cancelled with the run: send what waits, within a bound
            with anyio.CancelScope(shield=True) as scope:
                scope.deadline = min(sending.deadline, anyio.current_time() + self.flush_timeout)
                await self._send_waiting(drain=True)
            with self._lock:
                self._closed = True
                if self._queue:
                    self._drop(len(self._queue), "the API did not take them before the run ended")
                    self._settled += len(self._queue)
                    self._queue.clear()
            self._notify()

    async def flush(self) -> None:
        """Wait until every record queued so far was sent or dropped; it is sent at once
        (with whatever else waits), not at the next interval."""
        with self._lock:
            mark = self._queued
        while self._settled < mark and not self._closed:
            progress = self._progress
            self._wake.set()
            await progress.wait()

    def join(self, client: PrefectClient) -> None:
        """Lend `client` for sending (a run tree that uses the shipper)."""
        self._clients.append(client)

    async def leave(self, client: PrefectClient) -> None:
        """Take `client` back; if a batch is being sent with it, wait for that send
        (shielded, within `flush_timeout`): the client closes after this."""
        self._clients.remove(client)
        while self._sending_with is client and client not in self._clients:
            progress = self._progress
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.flush_timeout):
                await progress.wait()
            if not progress.is_set():
                return

    def close(self) -> None:
        """Stop taking records; `run` sends what waits and returns within `flush_timeout`
        (a batch in flight counts against it). Called from the shipper's event loop."""
        with self._lock:
            self._closed = True
        if self._sending is not None:
            deadline = anyio.current_time() + self.flush_timeout
            self._sending.deadline = min(self._sending.deadline, deadline)
        self._wake.set()

    async def _send_waiting(self, *, drain: bool) -> None:
        """Send the records waiting now, and any full batch that fills meanwhile; with
        `drain`, everything until the queue is empty."""
        with self._lock:
            due = len(self._queue)
        while True:
            with self._lock:
                if not drain and due <= 0 and len(self._queue) < self.batch_size:
                    return
                batch = [
                    self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))
                ]
                due -= len(batch)
            if not batch:
                return
            if not self._clients:
                with self._lock:
                    self._drop(len(batch), "no run is left to send them with")
                    self._settled += len(batch)
                self._notify()
                return
            self._sending_with = client = self._clients[0]
            try:
                await client.create_logs(batch)
            except Exception as exc:
                with self._lock:
                    self._drop(len(batch), f"the API refused them ({type(exc).__name__}: {exc})")
                return
            except BaseException:
                # Cancelled mid-send: the server may have them, so they are not sent again
                # (that could duplicate them); counted as dropped.
                with self._lock:
                    self._drop(len(batch), "the run was cancelled while they were being sent")
                raise
            else:
                self.sent += len(batch)
            finally:
                self._sending_with = None
                self._settled += len(batch)
                self._notify()

    def _notify(self) -> None:
        self._progress.set()
        self._progress = anyio.Event()

    def _drop(self, count: int, why: str) -> None:
        # Called with the lock held.
        self.dropped += count
        if not self._warned:
            self._warned = True
            _own_logger.warning(
                "run logs are being dropped (%d so far): %s; the run goes on", self.dropped, why
            )


class _ShippingHandler(logging.Handler):
    """Hands records that carry a shipper (set by `RunLogger`) to that shipper."""

    def emit(self, record: logging.LogRecord) -> None:
        shipper: LogShipper | None = getattr(record, _SHIPPER_ATTRIBUTE, None)
        if shipper is None:
            return
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        shipper.put(
            {
                "name": record.name,
                "level": record.levelno,
                "message": message,
                "timestamp": _iso(record.created),
                "flow_run_id": _str_or_none(getattr(record, "flow_run_id", None)),
                "task_run_id": _str_or_none(getattr(record, "task_run_id", None)),
            }
        )


def _iso(created: float) -> str:
    return datetime.fromtimestamp(created, tz=timezone.utc).isoformat()


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


_install_lock = threading.Lock()
_installed: list[logging.Handler] = []  # the handler, once installed


def install_handler() -> None:
    """Attach the shipping handler to Prefect's two run loggers, once per process.

    Their level is set to INFO when the program has not set one, as Prefect does, so
    ``logger.info`` in a run is shipped without any logging configuration.
    """
    with _install_lock:
        if _installed:
            return
        handler = _ShippingHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))  # and the traceback
        for name in (FLOW_RUN_LOGGER, TASK_RUN_LOGGER):
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)
            logger.addHandler(handler)
        _installed.append(handler)


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger bound to one flow or task run: its records are shipped to that run.

    The binding is made when the logger is created, so records logged from worker
    threads (``anyio.to_thread.run_sync``) still reach the right run.
    """

    def __init__(
        self,
        logger: logging.Logger,
        shipper: LogShipper,
        *,
        flow_run_id: UUID | None,
        task_run_id: UUID | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        bound = {
            **(extra or {}),
            "flow_run_id": flow_run_id,
            "task_run_id": task_run_id,
            _SHIPPER_ATTRIBUTE: shipper,
        }
        super().__init__(logger, bound)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**(kwargs.get("extra") or {}), **(self.extra or {})}
        return msg, kwargs
