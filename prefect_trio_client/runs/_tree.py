"""The outermost run: it opens the client (unless one was given), holds the program's
shared log shipper and owns the nursery of the events client; every flow and task under
it shares them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import anyio
import httpx

from prefect_trio_client.exceptions import PrefectHTTPStatusError, SettingsError
from prefect_trio_client.orchestration import get_client
from prefect_trio_client.runs._context import RunTree, current_run, given_client
from prefect_trio_client.runs._errors import RunTrackingError
from prefect_trio_client.runs._logs import install_handler
from prefect_trio_client.runs._shared_logs import shared_shipper
from prefect_trio_client.runs._tree_events import TreeEvents

if TYPE_CHECKING:
    from prefect_trio_client.orchestration.client import PrefectClient

__all__ = ["current_client", "in_run_tree", "unreachable"]

T = TypeVar("T")


async def in_run_tree(what: str, body: Callable[[RunTree], Awaitable[T]]) -> T:
    """Run `body` as an outermost run: with a client and the shared log shipper; the run's
    logs are sent before it returns, then the client is closed. `body`'s exceptions reach
    the caller as they are, not inside an exception group of the events nursery.

    Raises:
        RunTrackingError: The client could not be opened (`what` names the run).
    """
    install_handler()
    outcome: tuple[T] | None = None
    error: BaseException | None = None
    async with contextlib.AsyncExitStack() as stack:
        client = given_client()
        if client is None:
            try:
                client = await stack.enter_async_context(get_client())
            except (httpx.TransportError, PrefectHTTPStatusError, SettingsError) as exc:
                raise unreachable(what, exc) from exc
        shipper = await stack.enter_async_context(shared_shipper(client))
        async with anyio.create_task_group() as group:
            events = TreeEvents(client, group)
            try:
                outcome = (await body(RunTree(client, shipper, events)),)
            except anyio.get_cancelled_exc_class():
                raise  # the nursery and the scope that cancelled deal with it
            except BaseException as exc:
                error = exc
            finally:
                events.close()
    if error is not None:
        raise error
    assert outcome is not None
    return outcome[0]


def unreachable(what: str, exc: BaseException) -> RunTrackingError:
    """The error for a run that could not be recorded: names the run and the cause."""
    return RunTrackingError(
        f"{what} was not started: the Prefect API could not record it ({type(exc).__name__}: {exc})"
    )


@contextlib.asynccontextmanager
async def current_client() -> AsyncIterator[PrefectClient]:
    """The client of the current run; else the one `use_client` gave; else
    ``get_client()``, opened for the block."""
    run = current_run.get()
    if run is not None:
        yield run.tree.client
        return
    given = given_client()
    if given is not None:
        yield given
        return
    async with get_client() as client:
        yield client
