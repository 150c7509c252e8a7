"""Live events: what the store has just committed, handed to every ``/events/out`` socket.

Each subscriber gets a bounded queue. A subscriber too slow to keep up loses its queue
(it sees the end of the stream and its socket is closed), so one stuck reader can never
hold the server's memory or slow a writer; its client reconnects and is backfilled from
the store, as Prefect's subscribers are.

One app may serve several event loops (the sync client runs its own in a thread). A
subscriber's queue belongs to its loop: events committed on another loop's thread are
handed over with that loop's thread-safe scheduling, never waiting for it.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from prefect_trio_client.server._db import Doc

__all__ = ["EventStream"]


@dataclass(eq=False)
class _Subscriber:
    queue: MemoryObjectSendStream[Doc]
    thread: int
    call_soon: Callable[[Callable[[], None]], object]
    """Runs a function on the subscriber's event loop, from any thread."""


def _call_soon_threadsafe() -> Callable[[Callable[[], None]], object]:
    """The current event loop's thread-safe "run this soon" (asyncio or trio)."""
    try:
        return asyncio.get_running_loop().call_soon_threadsafe
    except RuntimeError:  # not asyncio: trio
        import trio.lowlevel  # noqa: PLC0415  # imported already: we run under it

        return trio.lowlevel.current_trio_token().run_sync_soon


class EventStream:
    """Publishes committed events to the current subscribers.

    Args:
        queue_size: How many events a subscriber may have waiting before it is dropped.
    """

    def __init__(self, queue_size: int = 10_000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[_Subscriber] = set()
        self._lock = threading.Lock()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @contextmanager
    def subscribe(self) -> Iterator[MemoryObjectReceiveStream[Doc]]:
        """The events published while the block runs; the stream ends early if this
        subscriber falls more than `queue_size` events behind."""
        size = self._queue_size if self._queue_size > 0 else math.inf
        send, receive = anyio.create_memory_object_stream[Doc](size)
        subscriber = _Subscriber(send, threading.get_ident(), _call_soon_threadsafe())
        with self._lock:
            self._subscribers.add(subscriber)
        try:
            with receive:
                yield receive
        finally:
            self._forget(subscriber)

    def publish(self, events: Iterable[Doc]) -> None:
        """Hand `events` to every subscriber, without waiting for any of them."""
        docs = list(events)
        here = threading.get_ident()
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            if subscriber.thread == here:
                self._deliver(subscriber, docs)
            else:
                try:
                    subscriber.call_soon(partial(self._deliver, subscriber, docs))
                except RuntimeError:  # that loop has closed
                    self._forget(subscriber)

    def _deliver(self, subscriber: _Subscriber, docs: list[Doc]) -> None:
        try:
            for doc in docs:
                subscriber.queue.send_nowait(doc)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._forget(subscriber)

    def _forget(self, subscriber: _Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)
        subscriber.queue.close()
