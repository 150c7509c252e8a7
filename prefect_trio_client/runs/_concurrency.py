"""``async with concurrency("db", occupy=2)``: global concurrency slots held under a lease.

The slots are taken with a lease (``increment-with-lease``); while the block runs, a task
in a nursery of the block's own renews the lease every three quarters of its duration;
on exit, also when cancelled, the slots are given back in a shielded scope bounded by
`RELEASE_TIMEOUT`, so no slot outlives its block by more than that (and none outlives
its lease). A full limit answers 423 with ``Retry-After``: the block waits that long
(capped) and asks again, within ``timeout_seconds``.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import anyio

from prefect_trio_client.exceptions import PrefectException, PrefectHTTPStatusError
from prefect_trio_client.runs._context import TaskRunContext, current_run
from prefect_trio_client.runs._tree import current_client
from prefect_trio_client.schemas.objects import ConcurrencyLeaseHolder

if TYPE_CHECKING:
    from prefect_trio_client.orchestration.client import PrefectClient

__all__ = [
    "RELEASE_TIMEOUT",
    "AcquireConcurrencySlotTimeoutError",
    "ConcurrencySlotAcquisitionError",
    "concurrency",
    "task_tag_slots",
]

#: The most time spent giving the slots back when the block ends.
RELEASE_TIMEOUT = 10.0
#: The longest single wait on a full limit, whatever ``Retry-After`` says.
MAX_WAIT_STEP = 30.0

_logger = logging.getLogger("prefect_trio_client.runs")


class ConcurrencySlotAcquisitionError(PrefectException, RuntimeError):
    """The slots could not be taken (no such limit with ``strict``, more slots asked than
    the limit has, or the API refused)."""


class AcquireConcurrencySlotTimeoutError(PrefectException, TimeoutError):
    """The slots did not free up within ``timeout_seconds``."""


@contextlib.asynccontextmanager
async def concurrency(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    lease_duration: float = 300,
    strict: bool = False,
) -> AsyncIterator[None]:
    """Hold `occupy` slots of each named global concurrency limit for the block.

    Inside a flow or task the run's client is used (and the run is recorded as the
    lease's holder); elsewhere ``get_client()`` is opened for the block.

    Args:
        names: One limit's name, or several (the slots are taken from all at once).
        occupy: Slots taken from each limit.
        timeout_seconds: The most time spent waiting for the slots.
        max_retries: The most times a full limit is asked again (None: no bound).
        lease_duration: Seconds the server keeps the slots without a renewal (60-86400).
        strict: Raise when a limit does not exist, instead of running the block without it.

    Raises:
        AcquireConcurrencySlotTimeoutError: The slots did not free up in time.
        ConcurrencySlotAcquisitionError: The slots cannot be taken at all.
        ValueError: `occupy` or `lease_duration` out of range.
    """
    wanted = sorted({names} if isinstance(names, str) else set(names))
    if occupy < 1:
        raise ValueError(f"concurrency() occupy must be 1 or more, got {occupy}")
    if not 60 <= lease_duration <= 86400:
        raise ValueError(
            f"concurrency() lease_duration must be 60 to 86400 seconds, got {lease_duration}"
        )
    async with _hold(
        wanted, occupy, timeout_seconds, max_retries, lease_duration, strict, quiet=False
    ):
        yield


@contextlib.asynccontextmanager
async def task_tag_slots(tags: Sequence[str]) -> AsyncIterator[None]:
    """One slot of each tag's limit (``tag:<tag>``) for the current task run, as Prefect
    3's engine takes them for a task run it reports by events (lease of 60 s); tags
    without a limit are skipped quietly."""
    async with _hold(sorted({f"tag:{tag}" for tag in tags}), 1, None, None, 60, False, quiet=True):
        yield


@contextlib.asynccontextmanager
async def _hold(
    wanted: list[str],
    occupy: int,
    timeout_seconds: float | None,
    max_retries: int | None,
    lease_duration: float,
    strict: bool,
    *,
    quiet: bool,
) -> AsyncIterator[None]:
    if not wanted:
        yield
        return
    async with current_client() as client:
        lease_id = await _acquire(
            client, wanted, occupy, timeout_seconds, max_retries, lease_duration, strict, quiet
        )
        if lease_id is None:
            yield
            return
        error: BaseException | None = None
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(_renew, client, lease_id, lease_duration, wanted)
                try:
                    yield
                except anyio.get_cancelled_exc_class():
                    raise
                except BaseException as exc:
                    error = exc
                finally:
                    group.cancel_scope.cancel()
        finally:
            await _release(client, lease_id, wanted)
        if error is not None:
            raise error


def _holder() -> ConcurrencyLeaseHolder | None:
    run = current_run.get()
    if run is None:
        return None
    if isinstance(run, TaskRunContext):
        return ConcurrencyLeaseHolder(type="task_run", id=run.task_run.id)
    return ConcurrencyLeaseHolder(type="flow_run", id=run.flow_run.id)


async def _acquire(
    client: PrefectClient,
    names: list[str],
    occupy: int,
    timeout_seconds: float | None,
    max_retries: int | None,
    lease_duration: float,
    strict: bool,
    quiet: bool = False,
) -> UUID | None:
    """The lease's id; None when no named limit exists (and not `strict`)."""
    holder = _holder()
    retries = 0
    with anyio.move_on_after(timeout_seconds if timeout_seconds is not None else float("inf")):
        while True:
            try:
                answer = await client.increment_concurrency_slots_with_lease(
                    names, occupy, lease_duration=lease_duration, holder=holder
                )
            except PrefectHTTPStatusError as exc:
                if exc.status_code != 423 or (max_retries is not None and retries >= max_retries):
                    raise ConcurrencySlotAcquisitionError(
                        f"Unable to acquire concurrency slots on {names}: {exc}"
                    ) from exc
                retries += 1
                await anyio.sleep(_wait(exc.response.headers.get("Retry-After")))
                continue
            if not answer.limits:
                await _release(client, answer.lease_id, names)
                if strict:
                    raise ConcurrencySlotAcquisitionError(
                        f"Concurrency limits {names} must be created before acquiring slots"
                    )
                _logger.log(
                    logging.DEBUG if quiet else logging.WARNING,
                    "Concurrency limits %s do not exist - skipping acquisition.",
                    names,
                )
                return None
            return answer.lease_id
    raise AcquireConcurrencySlotTimeoutError(
        f"Attempt to acquire concurrency slots timed out after {timeout_seconds} second(s)"
    )


def _wait(retry_after: str | None) -> float:
    """The wait a 423 asks for: its ``Retry-After`` (capped, with a little jitter)."""
    try:
        seconds = float(retry_after) if retry_after is not None else 1.0
    except ValueError:
        seconds = 1.0
    seconds = min(max(seconds, 0.05), MAX_WAIT_STEP)
    return seconds * random.uniform(1.0, 1.2)


async def _renew(client: PrefectClient, lease_id: UUID, duration: float, names: list[str]) -> None:
    """Keep the lease alive while the block runs; a failed renewal is logged (the slots
    may then be given to others when the lease expires)."""
    while True:
        await anyio.sleep(duration * 0.75)
        try:
            await client.renew_concurrency_lease(lease_id, duration)
        except Exception as exc:
            _logger.warning(
                "could not renew the concurrency lease on %s: %s: %s",
                names,
                type(exc).__name__,
                exc,
            )


async def _release(client: PrefectClient, lease_id: UUID, names: list[str]) -> None:
    with anyio.move_on_after(RELEASE_TIMEOUT, shield=True) as scope:
        try:
            await client.release_concurrency_slots_with_lease(lease_id)
        except Exception as exc:
            _logger.warning(
                "could not release the concurrency slots on %s (they return when the lease"
                " expires): %s: %s",
                names,
                type(exc).__name__,
                exc,
            )
    if scope.cancelled_caught:
        _logger.warning(
            "releasing the concurrency slots on %s took over %gs; they return when the"
            " lease expires",
            names,
            RELEASE_TIMEOUT,
        )
