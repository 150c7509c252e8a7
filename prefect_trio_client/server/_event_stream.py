"""Live events: what the store has just committed, handed to every ``/events/out`` socket.

Each subscriber gets a bounded queue. A subscriber too slow to keep up loses its queue
(it sees the end of the stream and its socket is closed), so one stuck reader can never
hold the server's memory or slow a writer; its client reconnects and is backfilled from
the store, as Prefect's subscribers are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from prefect_trio_client.server._db import Doc

__all__ = ["EventStream"]


class EventStream:
    """Publishes committed events to the current subscribers.

    Args:
        queue_size: How many events a subscriber may have waiting before it is dropped.
    """

    def __init__(self, queue_size: int = 10_000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[MemoryObjectSendStream[Doc]] = set()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @contextmanager
    def subscribe(self) -> Iterator[MemoryObjectReceiveStream[Doc]]:
        """The events published while the block runs; the stream ends early if this
        subscriber falls more than `queue_size` events behind."""
        size = self._queue_size if self._queue_size > 0 else math.inf
        send, receive = anyio.create_memory_object_stream[Doc](size)
        self._subscribers.add(send)
        try:
            with receive:
                yield receive
        finally:
            self._subscribers.discard(send)
            send.close()

    def publish(self, events: Iterable[Doc]) -> None:
        """Hand `events` to every subscriber, without waiting for any of them."""
        docs = list(events)
        for subscriber in list(self._subscribers):
            try:
                for doc in docs:
                    subscriber.send_nowait(doc)
            except anyio.WouldBlock:
                self._subscribers.discard(subscriber)
                subscriber.close()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._subscribers.discard(subscriber)
