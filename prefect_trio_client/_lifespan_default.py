"""`app_lifespan_context` and the default lifespan service of each event loop.

Prefect's ``app_lifespan_context(app)`` needs no service argument, so code that calls it
from unrelated tasks must still share one lifespan. That takes a task group that
outlives every user: one per event loop (an anyio ``RunVar``), hosted by a trio system
task or an asyncio task, ended by the loop itself when the run ends.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final

import anyio
import anyio.lowlevel

from prefect_trio_client._lifespan_driver import ASGIApp
from prefect_trio_client._lifespan_service import LifespanService, current_service_var

if TYPE_CHECKING:
    import asyncio

__all__ = ["app_lifespan_context", "current_lifespan_service"]

logger: Final = logging.getLogger("prefect_trio_client.lifespan")

_default_service: anyio.lowlevel.RunVar[LifespanService] = anyio.lowlevel.RunVar(
    "prefect_trio_client.lifespan.default_service"
)
# asyncio keeps only weak references to tasks: the host task is kept here, per loop.
_default_host_task: anyio.lowlevel.RunVar[asyncio.Task[None]] = anyio.lowlevel.RunVar(
    "prefect_trio_client.lifespan.default_host_task"
)


def current_lifespan_service() -> LifespanService:
    """The service `app_lifespan_context` leases from here.

    That is the innermost `open_lifespan_service` block of this context, else the
    default service of the running event loop, started on first use.

    Raises:
        RuntimeError: Called outside an async event loop, or while the loop is ending.
    """
    service = current_service_var.get()
    if service is not None:
        return service
    service = _default_service.get(None)
    if service is None or service.closed:
        service = LifespanService(name="default lifespan service")
        _start_host(service)
        _default_service.set(service)
    return service


@asynccontextmanager
async def app_lifespan_context(app: ASGIApp) -> AsyncIterator[None]:
    """Run ``app``'s lifespan around the block, shared with every concurrent user.

    The first user starts the app, concurrent users share that startup, and the last
    one to leave shuts the app down, whichever tasks they run in. See
    `LifespanService.lease` for the details; this leases from
    `current_lifespan_service()`.

    Args:
        app: The ASGI application.

    Raises:
        LifespanStartupError: The app failed to start; the cause is chained.
    """
    async with current_lifespan_service().lease(app):
        yield


def _start_host(service: LifespanService) -> None:
    # The host runs in a copy of the caller's context (trio's system tasks would get an
    # empty one), so context variables set around the first use reach the apps.
    context = contextvars.copy_context()
    service._expect_host()
    if _in_trio_task():
        import trio  # noqa: PLC0415  # imported already: we run under it

        trio.lowlevel.spawn_system_task(
            _host, service, name="prefect_trio_client default lifespan service", context=context
        )
    else:
        import asyncio  # noqa: PLC0415  # imported already: we run under it

        loop = asyncio.get_running_loop()
        task = context.run(
            loop.create_task, _host(service), name="prefect_trio_client default lifespan service"
        )
        _default_host_task.set(task)


async def _host(service: LifespanService) -> None:
    """Serve the default service until the loop cancels it. Never raises: a trio
    system task that raises crashes the run, so failures go to the waiting leases."""
    reason: BaseException = RuntimeError("the event loop ended")
    try:
        await service._serve_until_cancelled()
    except BaseException as exc:
        if _is_cancellation(exc):
            logger.debug("the default lifespan service ended with its event loop")
        else:
            reason = exc
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                service._abort(exc)
                raise  # only under asyncio: trio protects system tasks from these
            logger.exception("the default lifespan service failed", exc_info=exc)
    finally:
        service._abort(reason)


def _is_cancellation(exc: BaseException) -> bool:
    """A cancellation, or an exception group holding only cancellations."""
    inner: object = getattr(exc, "exceptions", None)  # (Base)ExceptionGroup on 3.10 too
    if isinstance(inner, tuple) and inner:
        return all(isinstance(e, BaseException) and _is_cancellation(e) for e in inner)
    # Neither loop's cancellation can exist before its library is imported.
    if sys.modules.get("asyncio") is not None:
        import asyncio  # noqa: PLC0415

        if isinstance(exc, asyncio.CancelledError):
            return True
    if sys.modules.get("trio") is not None:
        import trio  # noqa: PLC0415

        return isinstance(exc, trio.Cancelled)
    return False


def _in_trio_task() -> bool:
    """Whether a trio task runs this, without importing trio: a program that runs only
    asyncio never pays for importing it (README, "Import cost")."""
    if sys.modules.get("trio") is None:  # not imported, or blocked (None)
        return False
    import trio  # noqa: PLC0415

    return trio.lowlevel.in_trio_task()
