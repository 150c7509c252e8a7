"""The shared connection layer: what nested and concurrent client contexts share.

A client context (``async with get_client()``) is cheap only if it builds nothing
expensive. What is expensive is shared here, with reference counts, per event loop (async
clients) or per thread (sync clients), never across them: a **connection** per API and
transport configuration, which is one transport (a connection pool, or the embedded
server's in-process transport with its lifespan lease), the adaptive backpressure limit,
and the server version check (single flight: concurrent first entries wait for one
request; a failed check is tried again by the next entry, and a connection error makes
the next entry check again).

Each async context builds its own small HTTP client on the borrowed transport when it
first sends (tens of microseconds; a context that sends nothing builds none; a sync
context builds it on entry, since it may be used from several threads): headers, auth,
event hooks and closing stay per context, so two API keys share the connection, never
each other's headers, and closing one context ends its own sleeping retries and nobody
else's. The CSRF token is shared by the async contexts that authenticate alike
(`SharedCsrf`): a program that opens a context per flow run fetches one token per
connection, and asks a server without CSRF once.

The first context in opens a connection, the last one out closes it, in whatever order
they leave; a context that leaves never disturbs another's request in flight (the
connection stays open while anyone holds it). Closing is shielded and bounded. Counts
change before any checkpoint, so a cancellation at any point leaves them right.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel
import httpx

from prefect_trio_client._backpressure import AdaptiveLimit
from prefect_trio_client._csrf import CsrfTokenCache

__all__ = [
    "AsyncConnectionRegistry",
    "BorrowedAsyncTransport",
    "BorrowedSyncTransport",
    "Connection",
    "SharedCsrf",
    "SyncConnectionRegistry",
    "async_registry",
    "check_version_once",
    "check_version_once_sync",
    "sync_registry",
]

V = TypeVar("V")

#: How long closing a shared connection may take before it is abandoned (it is shielded).
CLOSE_TIMEOUT = 10.0


@dataclass(eq=False)
class SharedCsrf:
    """One CSRF token cache, and the lock of its single-flight fetch, for the async
    clients of a connection that authenticate alike (issue 15: one ``GET /csrf-token``
    per connection, not one per client context; and a server without CSRF is asked
    once)."""

    cache: CsrfTokenCache
    lock: anyio.Lock = field(default_factory=anyio.Lock)


@dataclass(eq=False)
class Connection(Generic[V]):
    """One API's shared transport, backpressure limit and version-check state."""

    transport: V
    limit: AdaptiveLimit | None
    version_checked: bool = False
    version_checks: int = 0
    checking: anyio.Event | None = None
    csrf: dict[str, SharedCsrf] = field(default_factory=dict)

    def shared_csrf(self, authorization: str | None) -> SharedCsrf:
        """The CSRF state of the clients that send `authorization` (kept by digest)."""
        key = hashlib.sha256((authorization or "").encode()).hexdigest()
        shared = self.csrf.get(key)
        if shared is None:
            shared = self.csrf[key] = SharedCsrf(CsrfTokenCache(enabled=True))
        return shared

    def forget_version(self) -> None:
        """After a connection error the server may have changed: check it again."""
        self.version_checked = False


@dataclass(eq=False)
class _Entry(Generic[V]):
    key: Hashable
    value: V | None = None
    refcount: int = 0
    opened: anyio.Event | None = None
    failed: bool = False
    close: Callable[[Any], Any] | None = None


@dataclass
class _Stats:
    opened: int = 0
    closed: int = 0


class _Registry:
    """Entries by key, with their counts (the part both registries share)."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry[Any]] = {}
        self.stats = _Stats()

    def refcount(self, key: Hashable) -> int:
        entry = self._entries.get(key)
        return 0 if entry is None else entry.refcount

    def __len__(self) -> int:
        return len(self._entries)


class AsyncConnectionRegistry(_Registry):
    """The shared entries of one event loop (see the module docstring)."""

    async def lease(
        self,
        key: Hashable,
        open_: Callable[[], Awaitable[V]],
        close: Callable[[V], Awaitable[None]],
    ) -> _Entry[V]:
        """Hold the entry for `key`, opening it with `open_` if nobody holds it.

        Concurrent first leases share one opening; if it fails, the opener gets the error
        and each waiter tries to open afresh. Give the entry back with `release`.
        """
        while True:
            entry: _Entry[V] | None = self._entries.get(key)
            if entry is None:
                entry = _Entry(key, refcount=1, opened=anyio.Event())
                self._entries[key] = entry
                try:
                    entry.value = await open_()
                except BaseException:
                    entry.failed = True
                    entry.refcount -= 1
                    if self._entries.get(key) is entry:
                        del self._entries[key]
                    raise
                finally:
                    assert entry.opened is not None
                    entry.opened.set()
                self.stats.opened += 1
                entry.close = close
                return entry
            entry.refcount += 1
            assert entry.opened is not None
            if not entry.opened.is_set():
                try:
                    await entry.opened.wait()
                except BaseException:
                    await self._give_back(entry)
                    raise
            if not entry.failed:
                return entry
            entry.refcount -= 1  # the opening failed: try to open it ourselves

    async def release(self, entry: _Entry[Any]) -> None:
        """Give a lease back; the last one closes the entry (shielded, bounded)."""
        await self._give_back(entry)

    async def _give_back(self, entry: _Entry[Any]) -> None:
        entry.refcount -= 1
        if entry.refcount > 0 or entry.failed:
            return
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]
        if entry.close is None or entry.value is None:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT):
            await entry.close(entry.value)
        self.stats.closed += 1


class SyncConnectionRegistry(_Registry):
    """The shared entries of one thread (sync clients): no concurrency inside a thread."""

    def lease(self, key: Hashable, open_: Callable[[], V], close: Callable[[V], None]) -> _Entry[V]:
        entry: _Entry[V] | None = self._entries.get(key)
        if entry is not None:
            entry.refcount += 1
            return entry
        value = open_()
        entry = _Entry(key, value=value, refcount=1, close=close)
        self._entries[key] = entry
        self.stats.opened += 1
        return entry

    def release(self, entry: _Entry[Any]) -> None:
        entry.refcount -= 1
        if entry.refcount > 0:
            return
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]
        if entry.close is not None:
            entry.close(entry.value)
        self.stats.closed += 1


_async_registries: anyio.lowlevel.RunVar[AsyncConnectionRegistry] = anyio.lowlevel.RunVar(
    "prefect_trio_client.connections"
)
_sync_registries = threading.local()


def async_registry() -> AsyncConnectionRegistry:
    """This event loop's registry (created on first use, gone with the loop)."""
    try:
        return _async_registries.get()
    except LookupError:
        registry = AsyncConnectionRegistry()
        _async_registries.set(registry)
        return registry


def sync_registry() -> SyncConnectionRegistry:
    """This thread's registry for sync clients."""
    registry: SyncConnectionRegistry | None = getattr(_sync_registries, "registry", None)
    if registry is None:
        registry = _sync_registries.registry = SyncConnectionRegistry()
    return registry


async def check_version_once(
    connection: Connection[Any], check: Callable[[], Awaitable[None]]
) -> bool:
    """Run `check` unless it already passed on this connection; one at a time.

    Returns True if this call ran the check. A failed check raises here and is tried
    again by the next caller.
    """
    while not connection.version_checked:
        if connection.checking is not None:
            await connection.checking.wait()
            continue
        connection.checking = done = anyio.Event()
        try:
            connection.version_checks += 1
            await check()
            connection.version_checked = True
            return True
        finally:
            connection.checking = None
            done.set()
    return False


def check_version_once_sync(connection: Connection[Any], check: Callable[[], None]) -> bool:
    """`check_version_once` for a thread's sync clients (no concurrency within a thread)."""
    if connection.version_checked:
        return False
    connection.version_checks += 1
    check()
    connection.version_checked = True
    return True


@dataclass(eq=False)
class BorrowedAsyncTransport(httpx.AsyncBaseTransport):
    """A shared transport seen by one HTTP client: closing the client leaves it open."""

    inner: httpx.AsyncBaseTransport
    on_connect_error: Callable[[], None] = field(default=lambda: None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self.inner.handle_async_request(request)
        except httpx.ConnectError:
            self.on_connect_error()  # the server may have changed: check it again
            raise

    async def __aenter__(self) -> BorrowedAsyncTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def aclose(self) -> None:
        return None  # the registry closes the shared transport after its last user


@dataclass(eq=False)
class BorrowedSyncTransport(httpx.BaseTransport):
    """`BorrowedAsyncTransport` for sync clients."""

    inner: httpx.BaseTransport
    on_connect_error: Callable[[], None] = field(default=lambda: None)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self.inner.handle_request(request)
        except httpx.ConnectError:
            self.on_connect_error()
            raise

    def __enter__(self) -> BorrowedSyncTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def close(self) -> None:
        return None
