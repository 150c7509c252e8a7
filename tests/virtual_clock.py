"""A virtual-time asyncio event loop: the asyncio twin of trio's autojumping MockClock.

When the loop has nothing ready and would block in ``select()`` until its next timer,
it advances its clock to that timer instead of waiting. Sleeps, timeouts and retry
delays therefore cost no wall time, exactly as under ``MockClock(autojump_threshold=0)``.
Only for tests whose I/O is in-process (mock transports, ASGI apps): time also jumps while
a real socket or thread would still be working.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any

import trio.testing


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualTimeEventLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or self.loop is None or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:
            # No timer is pending: only another thread can wake us, so really wait.
            return super().select(None)
        self.loop.advance(timeout)
        return []


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual and jumps over idle waits."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual_now = 0.0

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds


def new_virtual_time_loop(*_args: Any) -> VirtualTimeEventLoop:
    return VirtualTimeEventLoop()


def virtual_time_backend(name: str) -> tuple[str, dict[str, Any]]:
    """The ``anyio_backend`` value that runs `name` ("trio" or "asyncio") on virtual time:
    trio with a fresh autojumping ``MockClock``, asyncio on `VirtualTimeEventLoop`."""
    if name == "trio":
        return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})
    return ("asyncio", {"loop_factory": new_virtual_time_loop})
