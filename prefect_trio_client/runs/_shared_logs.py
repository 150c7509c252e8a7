"""One log shipper per (event loop, API and credentials), shared by every run tree.

A shipper per outermost run sent at least one ``POST /logs/`` per run; shared, the runs
of a program share batches. Its task must outlive any one run tree and live in a nursery
that one task enters and leaves, so it is served as the lifespan of a small ASGI app
through the lifespan service (`app_lifespan_context`): that service's refcount contract
is the one wanted here. The first run tree in starts the shipper, concurrent ones share
it, and the last one out closes it: its final flush is shielded and bounded
(`LogShipper.flush_timeout`), and the lease waits for it. The shipper task runs in the
service's own task group, never detached.

The guarantee, as Prefect's engine gives it (its log worker sends in the background and
drains at exit): a run tree that ends while others are in flight does not wait for its
own records, so runs that end one by one cost no ``POST /logs/`` each (group commit only
batched runs that ended together: 91 requests per 100 runs at 20 in flight). Its records
go in the shipper's next batch, sent with a client another tree lends, within
`LogShipper.interval` seconds (or at once when a batch is full). The last tree out sends
everything still queued before its call returns, shielded and bounded, also when it is
cancelled: once a program's runs have all returned, or its event loop ends, every record
was sent or counted as dropped (with one warning).

Runs whose clients differ in API, transport or headers (credentials) never share one: the
key is the client's shared connection and a digest of its headers, or the client itself
when it shares no connection. The shipper sends with a client lent by a run tree that is
still inside (`LogShipper.join` / `leave`).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, MutableMapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import anyio.lowlevel

from prefect_trio_client.lifespan import app_lifespan_context
from prefect_trio_client.runs._logs import LogShipper

if TYPE_CHECKING:
    from prefect_trio_client.orchestration.client import PrefectClient

__all__ = [
    "LifespanOnlyApp",
    "PerLoop",
    "Receive",
    "Send",
    "ShipperApp",
    "shared_shipper",
    "sharing_key",
    "shipper_app_for",
]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LifespanOnlyApp:
    """An ASGI app that is only a lifespan: how a per-loop service of the run trees gets
    the lifespan service's refcounts (`app_lifespan_context`). Subclasses write
    `lifespan`: receive startup, answer, receive shutdown, answer."""

    what = "service"

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            raise RuntimeError(f"the {self.what} serves no {scope['type']!r} requests")
        await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class ShipperApp(LifespanOnlyApp):
    """A shipper whose task is an ASGI lifespan: started on ``lifespan.startup``, closed
    (and flushed) on ``lifespan.shutdown``."""

    what = "log shipper"

    def __init__(self, shipper: LogShipper) -> None:
        self.shipper = shipper

    async def lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with anyio.create_task_group() as group:
            await group.start(self.shipper.run)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            self.shipper.close()
        await send({"type": "lifespan.shutdown.complete"})

    def __repr__(self) -> str:
        return f"<log shipper ({len(self.shipper._clients)} run trees)>"


def sharing_key(client: PrefectClient) -> Hashable:
    """What run trees must have in common to share a per-loop service: the API
    connection and the headers (credentials) they send with, or the very client when it
    shares no connection."""
    connection = getattr(client, "_connection_key", None)
    if connection is None:
        return ("client", id(client))
    headers = sorted(dict(client.httpx_client.headers).items())
    return ("connection", connection, hashlib.sha256(repr(headers).encode()).hexdigest())


A = TypeVar("A", bound=LifespanOnlyApp)


class PerLoop(Generic[A]):
    """One app per `sharing_key` in each event loop, forgotten once nobody holds it (the
    next holder makes a new one)."""

    def __init__(self, name: str) -> None:
        self._tables: anyio.lowlevel.RunVar[dict[Hashable, A]] = anyio.lowlevel.RunVar(name)

    def _table(self) -> dict[Hashable, A]:
        try:
            return self._tables.get()
        except LookupError:
            table: dict[Hashable, A] = {}
            self._tables.set(table)
            return table

    def get(self, client: PrefectClient, make: Callable[[], A]) -> A:
        """The app for `client` in this loop, made with `make` if there is none."""
        table = self._table()
        key = sharing_key(client)
        app = table.get(key)
        if app is None:
            app = table[key] = make()
        return app

    def find(self, client: PrefectClient) -> A | None:
        """The app for `client` in this loop, if there is one."""
        return self._table().get(sharing_key(client))

    def forget(self, client: PrefectClient, app: A) -> None:
        """`app` is held by nobody now: drop it from the table (if it is still there)."""
        table = self._table()
        key = sharing_key(client)
        if table.get(key) is app:
            del table[key]

    def forget_app(self, app: A) -> None:
        """Drop `app` from this loop's table, under whichever key it is (if it is there)."""
        table = self._table()
        for key, held in list(table.items()):
            if held is app:
                del table[key]


_shippers: PerLoop[ShipperApp] = PerLoop("prefect_trio_client.runs.log_shippers")


def shipper_app_for(client: PrefectClient) -> ShipperApp:
    """This loop's shipper app for `client`'s API and credentials (made on first use)."""
    return _shippers.get(client, lambda: ShipperApp(LogShipper()))


@asynccontextmanager
async def shared_shipper(client: PrefectClient) -> AsyncIterator[LogShipper]:
    """The shared shipper for a run tree that sends with `client`. Leaving waits for no
    records unless the tree is the last one out: then its lease closes the shipper, which
    sends what waits (shielded, within `LogShipper.flush_timeout`)."""
    app = shipper_app_for(client)
    shipper = app.shipper
    shipper.join(client)
    try:
        async with app_lifespan_context(app):
            yield shipper
    finally:
        await shipper.leave(client)
        if not shipper._clients:
            _shippers.forget(client, app)
