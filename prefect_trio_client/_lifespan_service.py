"""The lifespan service: apps' lifespans owned by one task group, shared through leases.

Prefect enters an app's lifespan in the first user's task and exits it in the last
user's, which under trio exits cancel scopes from the wrong task. Here each app's
lifespan runs in a task of the service's own task group; users only move counters and
wait on events, so no task ever exits a scope that another task entered.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from types import MappingProxyType, TracebackType
from typing import Any, Final

import anyio
import anyio.abc

from prefect_trio_client._lifespan_driver import (
    ASGIApp,
    LifespanDriver,
    LifespanOutcome,
    describe_app,
)
from prefect_trio_client.exceptions import LifespanStartupError

__all__ = [
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "DEFAULT_STARTUP_TIMEOUT",
    "LifespanService",
    "LifespanState",
    "current_service_var",
    "open_lifespan_service",
]

logger: Final = logging.getLogger("prefect_trio_client.lifespan")

DEFAULT_STARTUP_TIMEOUT: Final = 30.0
DEFAULT_SHUTDOWN_TIMEOUT: Final = 30.0

# Extra time a waiter allows beyond the deadline the lifespan task enforces itself, so
# that the task, not the waiter, decides when a phase has timed out.
_GRACE: Final = 1.0

current_service_var: ContextVar[LifespanService | None] = ContextVar(
    "prefect_trio_client.lifespan.current_service", default=None
)


class LifespanState(enum.Enum):
    """Where an app's lifespan is, as seen by one service."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class _Phase(enum.Enum):
    PENDING = "pending"  # created by a lease; waits for the previous generation to stop
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class _Generation:
    """One startup-to-shutdown run of an app, and the leases that share it."""

    __slots__ = (
        "count",
        "driver",
        "failure",
        "linger_until",
        "lingering",
        "number",
        "phase",
        "ready",
        "state",
        "stopped",
    )

    def __init__(self, number: int) -> None:
        self.number = number
        self.phase = _Phase.PENDING
        self.count = 0
        self.state: dict[str, Any] = {}
        self.ready = anyio.Event()  # set once the app runs, or will never run
        self.stopped = anyio.Event()  # set once the app's lifespan call has returned
        self.failure: LifespanStartupError | RuntimeError | None = None
        self.driver: LifespanDriver | None = None
        self.linger_until = 0.0  # idle since the last lease left with a linger: until then
        self.lingering = False  # a service task waits for `linger_until`

    def is_running(self) -> bool:
        """Read the phase afresh (a method, so a check after an await is not narrowed)."""
        return self.phase is _Phase.RUNNING

    def waiter_error(self) -> Exception:
        """A fresh exception for one waiter, carrying the shared message and cause."""
        failure = self.failure
        if failure is None:
            return RuntimeError("the lifespan service closed before the app started")
        error = type(failure)(str(failure))
        error.__cause__ = failure.__cause__
        return error


class _AppEntry:
    """The service's record of one app: its accepting and its stopping generation."""

    __slots__ = ("accepting", "app", "cancel_scope", "generations", "stopping", "task_running")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app  # a strong reference: the app lives while it is registered
        self.accepting: _Generation | None = None
        self.stopping: _Generation | None = None
        self.generations = 0
        self.task_running = False
        self.cancel_scope: anyio.CancelScope | None = None


class _Lease:
    """One use of an app; see `LifespanService.lease`."""

    __slots__ = ("_app", "_entry", "_generation", "_linger", "_service")

    def __init__(self, service: LifespanService, app: ASGIApp, linger: float) -> None:
        self._service = service
        self._app = app
        self._linger = linger
        self._entry: _AppEntry | None = None
        self._generation: _Generation | None = None

    async def __aenter__(self) -> Mapping[str, Any]:
        if self._generation is not None:
            raise RuntimeError("a lifespan lease can be entered only once")
        entry, generation = self._service._acquire(self._app)
        self._entry, self._generation = entry, generation
        if generation.phase is not _Phase.RUNNING:
            try:
                await generation.ready.wait()
            except BaseException:
                self._service._withdraw(entry, generation)
                raise
            if not generation.is_running():
                self._service._withdraw(entry, generation)
                raise generation.waiter_error()
        return MappingProxyType(generation.state)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entry, generation = self._entry, self._generation
        if entry is None or generation is None:
            raise RuntimeError("a lifespan lease was exited without being entered")
        await self._service._release(entry, generation, self._linger)


class LifespanService:
    """Runs ASGI apps' lifespans in its own task group and counts their leases.

    Create one with `open_lifespan_service`; `app_lifespan_context` uses the one that is
    current, else a default service per event loop.
    """

    def __init__(
        self,
        *,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        name: str = "lifespan service",
    ) -> None:
        for label, value in (
            ("startup_timeout", startup_timeout),
            ("shutdown_timeout", shutdown_timeout),
        ):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{label} must be a positive number of seconds, not {value!r}")
        self._startup_timeout = float(startup_timeout)
        self._shutdown_timeout = float(shutdown_timeout)
        self._name = name
        self._entries: dict[int, _AppEntry] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._unattached: list[_AppEntry] = []
        self._closing = False
        self._idle: anyio.Event | None = None
        self._host_starting = False  # a host task will attach a task group soon
        self._lingering: set[anyio.CancelScope] = set()  # cancelled when the service closes

    def __repr__(self) -> str:
        status = "closed" if self._closing else f"{len(self._entries)} apps"
        return f"<LifespanService {self._name!r} ({status})>"

    @property
    def startup_timeout(self) -> float:
        """Seconds an app may take from its lifespan call to ``startup.complete``."""
        return self._startup_timeout

    @property
    def shutdown_timeout(self) -> float:
        """Seconds an app may take from ``lifespan.shutdown`` to returning."""
        return self._shutdown_timeout

    @property
    def closed(self) -> bool:
        """True once the service has begun closing: new leases are refused."""
        return self._closing

    def lease(
        self, app: ASGIApp, *, linger: float = 0.0
    ) -> AbstractAsyncContextManager[Mapping[str, Any]]:
        """Use ``app`` for the duration of an ``async with`` block.

        The first lease starts the app; concurrent leases share its startup; the last
        one to leave shuts it down and waits for that (shielded, bounded by
        `shutdown_timeout`). The block's value is a read-only view of the app's
        lifespan ``state`` dict.

        With `linger`, the last lease out does not shut the app down nor wait: the
        service keeps it running that many seconds more (for apps that are costly to
        start and used in bursts), and a lease arriving meanwhile enters at once; then
        the service shuts it down, or when it closes, whichever comes first.

        Args:
            app: An ASGI application; leases are counted per app object (identity).
            linger: Seconds the app keeps running once this lease leaves last.

        Raises:
            LifespanStartupError: On entry, when the app failed to start; the cause is
                chained. The next lease starts the app afresh.
            RuntimeError: On entry, when the service is closed or closes before the
                app has started.
        """
        if not (linger >= 0 and math.isfinite(linger)):
            raise ValueError(f"linger must be a finite number of seconds >= 0, not {linger!r}")
        return _Lease(self, app, float(linger))

    def refcount(self, app: ASGIApp) -> int:
        """How many leases of ``app`` are held or waiting for its current startup."""
        entry = self._entries.get(id(app))
        if entry is None or entry.accepting is None:
            return 0
        return entry.accepting.count

    def state(self, app: ASGIApp) -> LifespanState:
        """Where ``app``'s lifespan is in this service (`LifespanState.STOPPED` if unknown)."""
        entry = self._entries.get(id(app))
        if entry is None:
            return LifespanState.STOPPED
        if entry.stopping is not None:
            return LifespanState.STOPPING
        generation = entry.accepting
        if generation is None:
            return LifespanState.STOPPED
        if generation.phase in (_Phase.PENDING, _Phase.STARTING):
            return LifespanState.STARTING
        if generation.phase is _Phase.RUNNING:
            return LifespanState.RUNNING
        return LifespanState.STOPPED  # pragma: no cover - settled generations are unlinked

    def open_apps(self) -> list[ASGIApp]:
        """The apps whose lifespan is not `LifespanState.STOPPED`, for diagnostics."""
        return [entry.app for entry in self._entries.values()]

    # -- the lease side: synchronous bookkeeping, no checkpoints -------------------------

    def _acquire(self, app: ASGIApp) -> tuple[_AppEntry, _Generation]:
        if self._closing:
            raise RuntimeError(f"the {self._name} is closed")
        if self._task_group is None and not self._host_starting:
            raise RuntimeError("lease from a service opened with open_lifespan_service()")
        entry = self._entries.get(id(app))
        if entry is None:
            entry = self._entries[id(app)] = _AppEntry(app)
        generation = entry.accepting
        if generation is None:
            entry.generations += 1
            generation = entry.accepting = _Generation(entry.generations)
            if not entry.task_running:
                entry.task_running = True
                self._spawn(entry)
        generation.count += 1
        return entry, generation

    def _withdraw(self, entry: _AppEntry, generation: _Generation) -> None:
        """A lease leaves without having used the app (cancelled or failed while waiting)."""
        generation.count -= 1
        if generation.count == 0 and generation.phase is _Phase.RUNNING:
            # It started after all: the service's task shuts it down, nobody waits.
            self._begin_stop(entry, generation)

    async def _release(self, entry: _AppEntry, generation: _Generation, linger: float) -> None:
        generation.count -= 1
        if generation.count > 0 or generation.phase is not _Phase.RUNNING:
            return  # not the last, or the service already stopped it: a no-op
        if linger > 0 and self._task_group is not None and not self._closing:
            generation.linger_until = anyio.current_time() + linger
            if not generation.lingering:
                generation.lingering = True
                self._task_group.start_soon(self._linger, entry, generation)
            return
        self._begin_stop(entry, generation)
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self._shutdown_timeout + _GRACE) as waited:
                await generation.stopped.wait()
        if waited.cancelled_caught:
            logger.warning(
                "ASGI app %s is still shutting down after %g s; leaving it to the service",
                describe_app(entry.app),
                self._shutdown_timeout + _GRACE,
            )

    async def _linger(self, entry: _AppEntry, generation: _Generation) -> None:
        """Shut `generation` down once it has had no lease until `linger_until` (a later
        lease that left last may have moved it); nothing if a lease holds it then."""
        try:
            with anyio.CancelScope() as scope:
                self._lingering.add(scope)
                while generation.count == 0 and generation.is_running():
                    if anyio.current_time() >= generation.linger_until:
                        self._begin_stop(entry, generation)
                        break
                    await anyio.sleep_until(generation.linger_until)
        finally:
            self._lingering.discard(scope)
            generation.lingering = False

    def _begin_stop(self, entry: _AppEntry, generation: _Generation) -> None:
        generation.phase = _Phase.STOPPING
        if entry.accepting is generation:
            entry.accepting = None
        entry.stopping = generation
        if generation.driver is not None:
            generation.driver.request_shutdown()

    # -- the service side: one task per app, running its generations one after another --

    def _spawn(self, entry: _AppEntry) -> None:
        if self._task_group is None:
            self._unattached.append(entry)
        else:
            self._task_group.start_soon(
                self._run_entry, entry, name=f"lifespan of {describe_app(entry.app)}"
            )

    def _expect_host(self) -> None:
        """A host task is starting: queue leases until it attaches its task group."""
        self._host_starting = True

    def _attach(self, task_group: anyio.abc.TaskGroup) -> None:
        self._task_group = task_group
        waiting, self._unattached = self._unattached, []
        for entry in waiting:
            self._spawn(entry)

    async def _run_entry(self, entry: _AppEntry) -> None:
        # Shielded: a cancellation around the service must not cut an app's shutdown
        # short. Each phase is bounded by the driver's deadlines, and `_aclose` cancels
        # this scope if an app overruns them.
        with anyio.CancelScope(shield=True) as entry.cancel_scope:
            try:
                while (generation := entry.accepting) is not None:
                    if generation.count == 0 or self._closing:
                        self._settle(entry, generation, None)
                        break
                    await self._run_generation(entry, generation)
            except Exception:  # a bug of ours: log it, wake everyone, keep the service up
                logger.exception("the lifespan task of %s failed", describe_app(entry.app))
            finally:
                entry.task_running = False
                for leftover in (entry.accepting, entry.stopping):  # cancelled or failed
                    if leftover is not None:
                        self._settle(entry, leftover, None)
                self._unregister(entry)

    async def _run_generation(self, entry: _AppEntry, generation: _Generation) -> None:
        generation.phase = _Phase.STARTING
        generation.driver = LifespanDriver(
            entry.app,
            state=generation.state,
            startup_timeout=self._startup_timeout,
            shutdown_timeout=self._shutdown_timeout,
            on_started=lambda: self._on_started(entry, generation),
        )
        logger.debug(
            "starting ASGI app %s (generation %d)", describe_app(entry.app), generation.number
        )
        outcome: LifespanOutcome | None = None
        try:
            outcome = await generation.driver.run()
        finally:
            self._settle(entry, generation, outcome)

    def _on_started(self, entry: _AppEntry, generation: _Generation) -> None:
        generation.phase = _Phase.RUNNING
        generation.ready.set()
        if generation.count == 0 or self._closing:
            self._begin_stop(entry, generation)

    def _settle(
        self, entry: _AppEntry, generation: _Generation, outcome: LifespanOutcome | None
    ) -> None:
        """Mark a generation over, waking whoever waits on it (synchronous)."""
        if not generation.ready.is_set() and generation.failure is None:
            if outcome is not None and outcome.startup_error is not None:
                generation.failure = outcome.startup_error
                log = logger.debug if generation.count else logger.warning
                log("%s (%d leases waiting)", outcome.startup_error, generation.count)
            elif self._closing:
                generation.failure = None  # waiters learn that the service closed
            else:
                generation.failure = RuntimeError(
                    "the lifespan task was cancelled before the app started"
                )
        generation.phase = _Phase.STOPPED
        if entry.accepting is generation:
            entry.accepting = None
        if entry.stopping is generation:
            entry.stopping = None
        generation.ready.set()
        generation.stopped.set()

    def _unregister(self, entry: _AppEntry) -> None:
        if self._entries.get(id(entry.app)) is entry:
            del self._entries[id(entry.app)]
        if not self._entries and self._idle is not None:
            self._idle.set()

    # -- closing ------------------------------------------------------------------------

    async def _aclose(self) -> None:
        """Shut every app down and wait for it, bounded; the caller shields this."""
        self._closing = True
        for scope in self._lingering:
            scope.cancel()
        for entry in list(self._entries.values()):
            generation = entry.accepting
            if generation is None:
                continue
            if generation.phase is _Phase.RUNNING:
                self._begin_stop(entry, generation)
            elif generation.phase is _Phase.PENDING:
                self._settle(entry, generation, None)
            # STARTING: `_on_started` sees `_closing` and shuts the app down at once.
        if not self._entries:
            return
        self._idle = anyio.Event()
        limit = self._startup_timeout + self._shutdown_timeout + _GRACE
        with anyio.move_on_after(limit):
            await self._idle.wait()
        if not self._entries:
            return
        logger.error(
            "%s: apps still running %g s after close began; cancelling them: %s",
            self._name,
            limit,
            ", ".join(describe_app(entry.app) for entry in self._entries.values()),
        )
        for entry in list(self._entries.values()):
            if entry.cancel_scope is not None:
                entry.cancel_scope.cancel()
        with anyio.move_on_after(_GRACE):
            await self._idle.wait()

    def _abort(self, reason: BaseException) -> None:
        """Fail every waiter at once: the task group hosting the service is gone."""
        self._closing = True
        for entry in list(self._entries.values()):
            for generation in (entry.accepting, entry.stopping):
                if generation is not None and not generation.stopped.is_set():
                    if not generation.ready.is_set():
                        generation.failure = RuntimeError(f"the {self._name} failed: {reason!r}")
                        generation.failure.__cause__ = reason
                    self._settle(entry, generation, None)
            self._unregister(entry)

    async def _serve_until_cancelled(self) -> None:
        """Host this service (the default service's host task runs this)."""
        async with anyio.create_task_group() as task_group:
            self._attach(task_group)
            try:
                await anyio.sleep_forever()
            finally:
                with anyio.CancelScope(shield=True):
                    await self._aclose()


@asynccontextmanager
async def open_lifespan_service(
    *,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
) -> AsyncIterator[LifespanService]:
    """Open a lifespan service whose task group runs the lifespans of the apps leased.

    Inside the block the service is current: `app_lifespan_context` leases from it.
    Leaving the block shuts down every app still running (bounded by the timeouts);
    leases still held then become no-ops when they exit.

    Args:
        startup_timeout: Seconds an app may take to complete its startup.
        shutdown_timeout: Seconds an app may take to shut down.

    Raises:
        ValueError: A timeout is not a positive, finite number.
    """
    service = LifespanService(
        startup_timeout=startup_timeout, shutdown_timeout=shutdown_timeout, name="lifespan service"
    )
    body_error: BaseException | None = None
    try:
        async with anyio.create_task_group() as task_group:
            service._attach(task_group)
            token = current_service_var.set(service)
            try:
                yield service
            except BaseException as exc:
                # Kept out of the task group, which would wrap it in an ExceptionGroup.
                body_error = exc
            finally:
                current_service_var.reset(token)
                with anyio.CancelScope(shield=True):
                    await service._aclose()
    except anyio.get_cancelled_exc_class():
        if body_error is None:
            raise
    if body_error is not None:
        try:
            raise body_error
        finally:
            body_error = None
