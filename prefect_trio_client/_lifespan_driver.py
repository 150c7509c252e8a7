"""The ASGI lifespan protocol, spoken from the server's side for one run of one app.

Written here rather than borrowed because the details decide correctness: an app that
fails before it has *received* ``lifespan.startup`` does not speak lifespan and is served
without it, while one that fails after receiving it has failed to start; ``*.failed``
messages carry the app's reason; both phases are bounded by timeouts. The driver knows
nothing of leases or services: it calls ``on_started`` once the app may serve requests
and shuts the app down when ``request_shutdown()`` is called.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

import anyio
import anyio.lowlevel

from prefect_trio_client.exceptions import LifespanStartupError

__all__ = ["ASGIApp", "LifespanDriver", "LifespanOutcome", "Message", "Receive", "Scope", "Send"]

logger: Final = logging.getLogger("prefect_trio_client.lifespan")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_STARTUP: Final = "lifespan.startup"
_STARTUP_COMPLETE: Final = "lifespan.startup.complete"
_STARTUP_FAILED: Final = "lifespan.startup.failed"
_SHUTDOWN: Final = "lifespan.shutdown"
_SHUTDOWN_COMPLETE: Final = "lifespan.shutdown.complete"
_SHUTDOWN_FAILED: Final = "lifespan.shutdown.failed"


def describe_app(app: object) -> str:
    """A short name for an app in messages: its qualified name, else its class's."""
    name = getattr(app, "__qualname__", None)
    if isinstance(name, str):
        return name
    return f"<{type(app).__qualname__} object>"


@dataclass(frozen=True)
class LifespanOutcome:
    """How one run of the lifespan protocol went, for the service that ran it.

    Attributes:
        started: The app reached a state where it may serve requests (its startup
            completed, or it does not speak lifespan and is served without it).
        supported: The app received ``lifespan.startup``.
        startup_error: Why the startup failed, when it did (``started`` is then false).
    """

    started: bool
    supported: bool
    startup_error: LifespanStartupError | None = None


class LifespanDriver:
    """Runs one app's lifespan once: startup, serving, shutdown, in the calling task.

    ``run()`` never raises an app's exception: startup failures are returned in the
    outcome, shutdown failures are logged. Only a cancellation of the task running it
    propagates. Every state change happens in this one task, inside one cancel scope
    whose deadline is the startup deadline, then none while serving, then the
    shutdown deadline.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        state: dict[str, Any],
        startup_timeout: float,
        shutdown_timeout: float,
        on_started: Callable[[], None],
    ) -> None:
        self._app = app
        self._name = describe_app(app)
        self._state = state
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._on_started = on_started
        self._shutdown_requested = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._startup_received = False
        self._startup_complete = False
        self._startup_failed_message: str | None = None
        self._shutdown_sent = False
        self._shutdown_complete = False
        self._shutdown_failed_message: str | None = None

    def request_shutdown(self) -> None:
        """Ask the app to shut down as soon as it has started (idempotent, no checkpoint)."""
        self._shutdown_requested.set()

    async def run(self) -> LifespanOutcome:
        """Run the protocol until the app has shut down or failed to start.

        Returns:
            The outcome; ``on_started`` has been called exactly when ``outcome.started``.
        """
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self._state,
        }
        error: Exception | None = None
        with anyio.CancelScope(deadline=anyio.current_time() + self._startup_timeout) as cs:
            self._scope = cs
            try:
                await self._app(scope, self._receive, self._send)
            except Exception as exc:
                error = exc
        timed_out = cs.cancelled_caught

        if not self._startup_received:
            if timed_out:
                return self._startup_failure(
                    TimeoutError(
                        f"the app did not ask for lifespan.startup within "
                        f"{self._startup_timeout:g} s"
                    )
                )
            logger.debug(
                "ASGI app %s does not support the lifespan protocol (%s before receiving "
                "lifespan.startup); serving it without lifespan",
                self._name,
                f"raised {error!r}" if error is not None else "returned",
            )
            await self._serve_without_lifespan()
            return LifespanOutcome(started=True, supported=False)

        if not self._startup_complete:
            if timed_out:
                cause: BaseException | None = TimeoutError(
                    f"lifespan.startup did not complete within {self._startup_timeout:g} s"
                )
            elif error is not None:
                cause = error
            elif self._startup_failed_message is None:
                cause = RuntimeError("the app returned without completing lifespan.startup")
            else:
                cause = None
            return self._startup_failure(cause)

        self._report_shutdown(error, timed_out=timed_out)
        if not self._shutdown_sent:
            # The app's lifespan ended while it was serving: keep the generation until
            # its last lease leaves, as if the app had no lifespan from now on.
            await self._serve_without_lifespan()
        return LifespanOutcome(started=True, supported=True)

    async def _serve_without_lifespan(self) -> None:
        if not self._startup_complete:
            self._startup_complete = True
            self._on_started()
        await self._shutdown_requested.wait()

    def _startup_failure(self, cause: BaseException | None) -> LifespanOutcome:
        if self._startup_failed_message is not None:
            detail = f"lifespan.startup.failed: {self._startup_failed_message}"
        elif cause is not None:
            detail = f"{type(cause).__name__}: {cause}"
        else:  # pragma: no cover - every failure without a message has a cause
            detail = "unknown error"
        error = LifespanStartupError(f"ASGI app {self._name} failed to start: {detail}")
        error.__cause__ = cause
        return LifespanOutcome(started=False, supported=True, startup_error=error)

    def _report_shutdown(self, error: Exception | None, *, timed_out: bool) -> None:
        if timed_out:
            logger.error(
                "ASGI app %s did not finish lifespan.shutdown within %g s; it was cancelled",
                self._name,
                self._shutdown_timeout,
            )
        elif error is not None:
            when = "during lifespan.shutdown" if self._shutdown_sent else "while serving"
            logger.error("ASGI app %s raised %s", self._name, when, exc_info=error)
        elif self._shutdown_failed_message is not None:
            logger.error(
                "ASGI app %s failed to shut down: lifespan.shutdown.failed: %s",
                self._name,
                self._shutdown_failed_message,
            )
        elif self._shutdown_sent and not self._shutdown_complete:
            logger.warning(
                "ASGI app %s returned without sending lifespan.shutdown.complete", self._name
            )
        elif not self._shutdown_sent:
            logger.debug("ASGI app %s ended its lifespan before shutdown was asked", self._name)
        else:
            logger.debug("ASGI app %s shut down", self._name)

    async def _receive(self) -> Message:
        if not self._startup_received:
            await anyio.lowlevel.checkpoint()
            self._startup_received = True
            return {"type": _STARTUP}
        if self._startup_complete and not self._shutdown_sent:
            await self._shutdown_requested.wait()
            self._shutdown_sent = True
            if self._scope is not None:
                self._scope.deadline = anyio.current_time() + self._shutdown_timeout
            return {"type": _SHUTDOWN}
        # Out of protocol order (before startup completed, or after shutdown was sent):
        # nothing will come; the phase's deadline ends the wait.
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, message: Message) -> None:
        await anyio.lowlevel.checkpoint()
        kind = message.get("type")
        if kind == _STARTUP_COMPLETE and self._startup_received and not self._finished_startup:
            self._startup_complete = True
            if self._scope is not None:
                self._scope.deadline = math.inf
            logger.debug("ASGI app %s started", self._name)
            self._on_started()
        elif kind == _STARTUP_FAILED and self._startup_received and not self._finished_startup:
            self._startup_failed_message = str(message.get("message", ""))
        elif kind == _SHUTDOWN_COMPLETE and self._shutdown_sent and not self._finished_shutdown:
            self._shutdown_complete = True
        elif kind == _SHUTDOWN_FAILED and self._shutdown_sent and not self._finished_shutdown:
            self._shutdown_failed_message = str(message.get("message", ""))
        else:
            raise RuntimeError(f"unexpected ASGI lifespan message {kind!r} at this point")

    @property
    def _finished_startup(self) -> bool:
        return self._startup_complete or self._startup_failed_message is not None

    @property
    def _finished_shutdown(self) -> bool:
        return self._shutdown_complete or self._shutdown_failed_message is not None
