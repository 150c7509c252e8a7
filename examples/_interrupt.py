"""Ctrl-C for the examples: one line and exit status 130, under trio as under asyncio.

A SIGINT handled by Python raises KeyboardInterrupt wherever the program happens to be
(inside a pydantic callback, say, which turns it into another error). Here the signal is
received instead, and cancels the program's scope: runs in flight are reported
Cancelled, and the program ends cleanly.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import anyio.abc

T = TypeVar("T")
INTERRUPTED = 130


def run(main: Callable[[T], Awaitable[int]], args: T, backend: str) -> int:
    """``anyio.run(main, args)``; Ctrl-C cancels it and gives `INTERRUPTED`."""

    async def guarded() -> int:
        status = INTERRUPTED
        async with anyio.create_task_group() as group:

            async def on_ctrl_c(*, task_status: anyio.abc.TaskStatus[None]) -> None:
                with anyio.open_signal_receiver(signal.SIGINT) as signals:
                    task_status.started()
                    async for _ in signals:
                        print("interrupted (Ctrl-C): runs in flight end Cancelled", file=sys.stderr)
                        group.cancel_scope.cancel()
                        return

            await group.start(on_ctrl_c)
            status = await main(args)
            group.cancel_scope.cancel()
        return status

    return anyio.run(guarded, backend=backend)
