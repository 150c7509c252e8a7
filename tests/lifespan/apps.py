"""Hand-written ASGI apps for the lifespan tests, instrumented to check the service.

`RecordingApp` records every lifespan event and the bodies that use it, and asserts the
service's promises as they happen: no two lifespan calls at once (generations never
overlap), no body outside a started app, no shutdown while a body runs. Every app made
here is tracked so the autouse fixture in ``conftest.py`` can fail a test that leaves a
lifespan open.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

StartupFailure = Literal["raise", "failed", "failed-raise", "hang", "return", "no-receive-hang"]
ShutdownFailure = Literal["raise", "failed", "hang", "return"]

_tracking: list[list[RecordingApp]] = []  # the innermost tracker receives new apps


def start_tracking() -> list[RecordingApp]:
    """Track every app made from now on, in the returned list."""
    tracked: list[RecordingApp] = []
    _tracking.append(tracked)
    return tracked


def stop_tracking() -> None:
    _tracking.pop()


def untrack(app: RecordingApp) -> None:
    """Forget an app (a test that needs it garbage-collected, or left open on purpose)."""
    for tracked in _tracking:
        if app in tracked:
            tracked.remove(app)


def open_lifespans(apps: list[RecordingApp]) -> list[str]:
    """Why each app in ``apps`` counts as left open (empty when none is)."""
    problems = []
    for app in apps:
        if app.active_calls:
            problems.append(f"{app.name}: its lifespan call is still running")
        if app.torn_down_open:
            problems.append(
                f"{app.name}: {app.torn_down_open} started generation(s) ended without "
                "ever receiving lifespan.shutdown"
            )
        if app.held:
            problems.append(f"{app.name}: {app.held} bodies still hold it")
    return problems


class StartupBoom(Exception):
    """What a RecordingApp raises when told to fail its startup by raising."""


class ShutdownBoom(Exception):
    """What a RecordingApp raises when told to fail its shutdown by raising."""


class RecordingApp:
    """A lifespan-speaking ASGI app that records and checks what the service does."""

    def __init__(
        self,
        name: str = "app",
        *,
        startup_delay: float = 0.0,
        shutdown_delay: float = 0.0,
        startup_failure: StartupFailure | None = None,
        shutdown_failure: ShutdownFailure | None = None,
        lifespan: bool = True,
        state: dict[str, Any] | None = None,
        failing_calls: frozenset[int] = frozenset(),
    ) -> None:
        self.name = name
        self.failing_calls = failing_calls  # lifespan calls (1-based) whose startup raises
        self.startup_delay = startup_delay
        self.shutdown_delay = shutdown_delay
        self.startup_failure = startup_failure
        self.shutdown_failure = shutdown_failure
        self.fail_next_startup: StartupFailure | None = None
        self.lifespan = lifespan
        self.state_to_set = state or {}
        self.startup_gate: anyio.Event | None = None
        self.shutdown_gate: anyio.Event | None = None
        self.events: list[tuple[str, int]] = []
        self.calls = 0  # lifespan calls (attempted generations)
        self.startups = 0  # completed startups
        self.shutdowns = 0  # completed shutdowns
        self.active_calls = 0
        self.max_active_calls = 0
        self.running = False
        self.generation = 0  # the generation now running, or the last one
        self.held = 0  # bodies inside a lease right now
        self.max_held = 0
        self.bodies = 0
        self.torn_down_open = 0
        self.violations: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.startup_began = anyio.Event()
        self.shutdown_began = anyio.Event()
        self.stopped = anyio.Event()
        if _tracking:
            _tracking[-1].append(self)

    def __repr__(self) -> str:
        return f"<RecordingApp {self.name}>"

    @property
    def open_generations(self) -> int:
        return self.startups - self.shutdowns

    def _violation(self, message: str) -> None:
        self.violations.append(message)
        raise AssertionError(f"{self.name}: {message}")

    # -- what a test body calls ---------------------------------------------------------

    def enter_body(self) -> int:
        """Called first thing in a lease's body: the app must be started."""
        if not self.running:
            self._violation("a body runs while the app is not started")
        self.held += 1
        self.bodies += 1
        self.max_held = max(self.max_held, self.held)
        return self.generation

    def exit_body(self, generation: int) -> None:
        """Called last thing in a lease's body: still the same running generation."""
        if not self.running or self.generation != generation:
            self._violation("the app stopped or restarted under a body")
        self.held -= 1

    @asynccontextmanager
    async def body(self) -> AsyncIterator[int]:
        generation = self.enter_body()
        try:
            yield generation
        finally:
            self.held -= 1
            if not self.running or self.generation != generation:
                self._violation("the app stopped or restarted under a body")

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            raise RuntimeError(f"unsupported scope {scope['type']!r}")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        state = scope.get("state")
        self.requests.append({"path": scope["path"], "state": state})
        body = {
            "path": scope["path"],
            "state": {k: v for k, v in (state or {}).items() if isinstance(v, (str, int, list))},
            "running": self.running,
        }
        if state is not None:
            state["touched_by_request"] = scope["path"]  # must not leak into other requests
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        self.active_calls += 1
        self.max_active_calls = max(self.max_active_calls, self.active_calls)
        if self.active_calls > 1:
            self._violation("two lifespan calls at once: generations overlap")
        self.stopped = anyio.Event()
        call = self.calls
        started = received_shutdown = False
        try:
            if not self.lifespan:
                raise RuntimeError("this app does not speak lifespan")
            failure, self.fail_next_startup = (
                self.fail_next_startup or self.startup_failure,
                None,
            )
            if call in self.failing_calls:
                failure = "raise"
            if failure == "no-receive-hang":
                await anyio.sleep_forever()
            message = await receive()
            assert message["type"] == "lifespan.startup", message
            self.events.append(("startup", call))
            self.startup_began.set()
            if self.startup_gate is not None:
                await self.startup_gate.wait()
            if self.startup_delay:
                await anyio.sleep(self.startup_delay)
            if failure == "raise":
                raise StartupBoom(f"{self.name} startup {call} failed")
            if failure in ("failed", "failed-raise"):
                self.events.append(("startup-failed", call))
                await send({"type": "lifespan.startup.failed", "message": f"no database ({call})"})
                if failure == "failed-raise":
                    raise StartupBoom(f"{self.name} startup {call} failed")
                return
            if failure == "hang":
                await anyio.sleep_forever()
            if failure == "return":
                return
            if self.held:
                self._violation("a body ran before startup completed")
            scope["state"].update(self.state_to_set)
            scope["state"]["generation"] = call
            self.generation = call
            self.running = started = True
            self.startups += 1
            self.events.append(("started", call))
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown", message
            received_shutdown = True
            if self.held:
                self._violation("shutdown began while a body holds the app")
            self.running = False
            self.events.append(("shutdown", call))
            self.shutdown_began.set()
            if self.shutdown_gate is not None:
                await self.shutdown_gate.wait()
            if self.shutdown_delay:
                await anyio.sleep(self.shutdown_delay)
            if self.shutdown_failure == "raise":
                raise ShutdownBoom(f"{self.name} shutdown {call} failed")
            if self.shutdown_failure == "failed":
                await send({"type": "lifespan.shutdown.failed", "message": "disk full"})
                return
            if self.shutdown_failure == "hang":
                await anyio.sleep_forever()
            if self.shutdown_failure == "return":
                return
            self.shutdowns += 1
            self.events.append(("stopped", call))
            await send({"type": "lifespan.shutdown.complete"})
        finally:
            self.running = False
            self.active_calls -= 1
            if started and not received_shutdown:
                self.torn_down_open += 1
            if started and received_shutdown and self.shutdowns < self.startups:
                self.shutdowns = self.startups  # failed or timed-out shutdowns still end it
            self.stopped.set()
