"""One log shipper per (event loop, API and credentials), shared by every run tree.

A shipper per outermost run sent at least one ``POST /logs/`` per run; shared, concurrent
runs that end together share batches (group commit, see `LogShipper`). Its task must
outlive any one run tree and live in a nursery that one task enters and leaves, so it is
served as the lifespan of a small ASGI app through the lifespan service
(`app_lifespan_context`): that service's refcount contract is the one wanted here. The
first run tree in starts the shipper, concurrent ones share it, and the last one out
closes it: its final flush is shielded and bounded (`LogShipper.flush_timeout`), and the
lease waits for it. The shipper task runs in the service's own task group, never detached.

Runs whose clients differ in API, transport or headers (credentials) never share one: the
key is the client's shared connection and a digest of its headers, or the client itself
when it shares no connection. The shipper sends with a client lent by a run tree that is
still inside (`LogShipper.join` / `leave`).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, MutableMapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from prefect_trio_client.lifespan import app_lifespan_context
from prefect_trio_client.runs._logs import LogShipper

if TYPE_CHECKING:
    from prefect_trio_client.orchestration.client import PrefectClient

__all__ = ["ShipperApp", "shared_shipper", "shipper_app_for"]

_apps: anyio.lowlevel.RunVar[dict[Hashable, ShipperApp]] = anyio.lowlevel.RunVar(
    "prefect_trio_client.runs.log_shippers"
)


class ShipperApp:
    """A shipper whose task is an ASGI lifespan: started on ``lifespan.startup``, closed
    (and flushed) on ``lifespan.shutdown``."""

    def __init__(self, shipper: LogShipper) -> None:
        self.shipper = shipper

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "lifespan":
            raise RuntimeError(f"the log shipper serves no {scope['type']!r} requests")
        await receive()  # lifespan.startup
        async with anyio.create_task_group() as group:
            await group.start(self.shipper.run)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            self.shipper.close()
        await send({"type": "lifespan.shutdown.complete"})

    def __repr__(self) -> str:
        return f"<log shipper ({len(self.shipper._clients)} run trees)>"


def _key(client: PrefectClient) -> Hashable:
    connection = getattr(client, "_connection_key", None)
    if connection is None:
        return ("client", id(client))
    headers = sorted(dict(client.httpx_client.headers).items())
    return ("connection", connection, hashlib.sha256(repr(headers).encode()).hexdigest())


def shipper_app_for(client: PrefectClient) -> ShipperApp:
    """This loop's shipper app for `client`'s API and credentials (made on first use)."""
    try:
        apps = _apps.get()
    except LookupError:
        apps = {}
        _apps.set(apps)
    key = _key(client)
    app = apps.get(key)
    if app is None:
        app = apps[key] = ShipperApp(LogShipper())
    return app


@asynccontextmanager
async def shared_shipper(client: PrefectClient) -> AsyncIterator[LogShipper]:
    """The shared shipper for a run tree that sends with `client`; on leaving, waits for
    the tree's records to be sent (or dropped) first, then gives the shipper back."""
    app = shipper_app_for(client)
    shipper = app.shipper
    shipper.join(client)
    try:
        async with app_lifespan_context(app):
            try:
                yield shipper
            finally:  # cancelled: at once; the records stay queued for the shipper
                await shipper.flush()
    finally:
        await shipper.leave(client)
        if not shipper._clients and _apps.get().get(_key(client)) is app:
            del _apps.get()[_key(client)]  # nobody holds it: a new key may be made later
