"""One run's life, shared by flow runs and task runs: Running, the body under its timeout,
retries, and the final state.

The body's outcome is captured first and reported afterwards, outside any ``except``
block, so the caller gets its own exception object back unchanged (no chained report
error, no exception group). A cancellation is reported as Cancelled, and anything else
that is not an `Exception` (KeyboardInterrupt, SystemExit) as Crashed, in a shielded scope
with a bounded timeout, and then propagates.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, TypeVar

import anyio

from prefect_trio_client import states
from prefect_trio_client.exceptions import Abort
from prefect_trio_client.schemas.objects import State

__all__ = [
    "REPORT_TIMEOUT",
    "Reporter",
    "RunOptions",
    "RunOutcome",
    "execute",
    "report_interrupted",
]

T = TypeVar("T")

_own_logger = logging.getLogger("prefect_trio_client.runs")

#: The most time spent reporting Cancelled or Crashed after the run was interrupted.
REPORT_TIMEOUT = 10.0


@dataclass(frozen=True)
class RunOptions:
    """What `@flow` and `@task` share about running."""

    retries: int = 0
    retry_delay_seconds: float | Sequence[float] = 0.0
    timeout_seconds: float | None = None
    log_prints: bool = False

    def retry_delay(self, retry_number: int) -> float:
        """The delay before retry `retry_number` (1-based); a list gives one per retry
        and its last value for any beyond it."""
        delays = self.retry_delay_seconds
        if isinstance(delays, (int, float)):
            return float(delays)
        if not delays:
            return 0.0
        return float(delays[min(retry_number, len(delays)) - 1])


class Reporter(Protocol):
    """How a run's states reach the API, and how its failures are retried.

    Prefect decides flow-run retries on the server (it answers a proposed Failed with
    AwaitingRetry while retries remain) and task-run retries in the client; a reporter
    says which with `client_side_retries`.
    """

    #: "Flow run" or "Task run", for messages.
    label: str
    #: The run's name, for messages.
    run_name: str
    client_side_retries: bool

    async def propose(self, state: State, *, force: bool = False, max_wait: float = 300.0) -> State:
        """Propose `state`; return what the server recorded. Raises `Abort`."""
        ...

    def failed_message(self, error: BaseException) -> str:
        """The Failed state's message for `error`, as Prefect words it."""
        ...


@dataclass
class RunOutcome:
    """How a run ended: its final state, and its value or the exception it raised."""

    state: State
    value: Any = None
    error: BaseException | None = None

    def result(self, return_state: bool) -> Any:
        """What the call gives its caller: the final state (``return_state``), else the
        body's value, or its exception raised unchanged."""
        if return_state:
            return self.state
        if self.error is not None:
            raise self.error
        return self.value


async def execute(
    reporter: Reporter,
    call: Callable[[], Awaitable[Any]],
    options: RunOptions,
    logger: logging.LoggerAdapter[Any],
    timeout_error: type[TimeoutError],
) -> RunOutcome:
    """Run `call` as the run `reporter` reports on: Running, then the body (again for each
    retry), then Completed or Failed / TimedOut. Returns the outcome for `Exception`s;
    cancellation and other `BaseException`s are reported and propagate.

    Raises:
        Abort: The server refused the run (an ABORT, or a state other than Running).
    """
    await _enter_running(reporter)
    retries_done = 0
    while True:
        value, error, timed_out = await _attempt(call, options.timeout_seconds)
        if timed_out:
            error = timeout_error(f"Scope timed out after {options.timeout_seconds} second(s).")
        if error is None:
            final = await reporter.propose(states.Completed())
            _log_final(logger, final)
            return RunOutcome(final, value=value)
        if not isinstance(error, Exception):
            await report_interrupted(reporter, error, logger)
            raise error
        if timed_out:
            message = f"{reporter.label} exceeded timeout of {options.timeout_seconds} second(s)"
            failed = states.Failed(name="TimedOut", message=message)
        else:
            failed = states.Failed(message=reporter.failed_message(error))
        if reporter.client_side_retries:
            described = f"{reporter.label} failed with exception: {error!r}"
            if retries_done < options.retries:
                retries_done += 1
                delay = options.retry_delay(retries_done)
                when = "immediately" if delay <= 0 else f"{delay:g} second(s) from now"
                logger.info(
                    "%s - Retry %d/%d will start %s", described, retries_done, options.retries, when
                )
                await _client_side_retry(reporter, delay)
                continue
            exhausted = " - Retries are exhausted" if options.retries else ""
            logger.error("%s%s", described, exhausted, exc_info=error)
            if timed_out:
                logger.error("%s", failed.message)
            final = await _report_failure(reporter, failed)
        else:
            if timed_out:
                logger.error("%s", failed.message)
            else:
                logger.error("Encountered exception during execution: %r", error, exc_info=error)
            final = await _report_failure(reporter, failed)
            if final.is_scheduled():  # the server's retry: AwaitingRetry until its time
                logger.info(
                    "Received non-final state %r when proposing final state %r and will"
                    " attempt to run again...",
                    final.name,
                    failed.name,
                )
                await _enter_running(reporter, max_wait=_seconds_until(final) + 300.0)
                continue
        _log_final(logger, final)
        return RunOutcome(final, error=error)


async def _enter_running(
    reporter: Reporter, *, force: bool = False, max_wait: float = 300.0
) -> None:
    running = states.Retrying() if force else states.Running()
    state = await reporter.propose(running, force=force, max_wait=max_wait)
    if not state.is_running():
        raise Abort(
            f"{reporter.label} {reporter.run_name!r} did not start: the server answered"
            f" {state.type.value}"
            + (f" ({state.message})" if state.message else "")
            + " to the proposal of Running"
        )


async def _report_failure(reporter: Reporter, failed: State) -> State:
    """Propose Failed; when that fails too, the run's own exception matters more: log
    the report's failure and go on with the state we meant."""
    try:
        return await reporter.propose(failed)
    except Exception as exc:
        _own_logger.warning(
            "could not report %s for %s %r: %s",
            failed.name,
            reporter.label.lower(),
            reporter.run_name,
            describe(exc),
        )
        return failed


def _seconds_until(state: State) -> float:
    scheduled = state.state_details.scheduled_time
    if scheduled is None:
        return 0.0
    return max(0.0, (scheduled - datetime.now(timezone.utc)).total_seconds())


def _log_final(logger: logging.LoggerAdapter[Any], state: State) -> None:
    shown = state.name or state.type.value.title()
    text = f"{shown}({state.message!r})" if state.message else f"{shown}()"
    level = logging.INFO if state.is_completed() else logging.ERROR
    logger.log(level, "Finished in state %s", text)


async def _attempt(
    call: Callable[[], Awaitable[Any]], timeout: float | None
) -> tuple[Any, BaseException | None, bool]:
    """Run the body once: (value, exception, timed out). A cancellation from outside is
    returned as the exception, to be reported before it propagates."""
    with anyio.CancelScope() as scope:
        if timeout is not None:
            scope.deadline = anyio.current_time() + timeout
        try:
            return await call(), None, False
        except BaseException as exc:
            if scope.cancel_called and isinstance(exc, anyio.get_cancelled_exc_class()):
                raise  # the timeout: this scope catches it
            error = exc
        return None, error, False
    return None, None, True  # reached only when the timeout scope caught its cancellation


async def _client_side_retry(reporter: Reporter, delay: float) -> None:
    """A task run's retry, as Prefect's engine makes it: AwaitingRetry while it waits (none
    without a delay), then Retrying, both forced."""
    if delay > 0:
        when = datetime.now(timezone.utc) + timedelta(seconds=delay)
        await reporter.propose(states.AwaitingRetry(scheduled_time=when), force=True)
        await anyio.sleep(delay)
    await _enter_running(reporter, force=True)


async def report_interrupted(
    reporter: Reporter, error: BaseException, logger: logging.LoggerAdapter[Any]
) -> None:
    """Report Cancelled (or Crashed) although the caller is being cancelled: shielded,
    and bounded by `REPORT_TIMEOUT`. A report that fails is only logged."""
    if isinstance(error, anyio.get_cancelled_exc_class()):
        message = f"{reporter.label} was cancelled."
        state = states.Cancelled(message=message)
        logger.info("%s", message)
    else:
        state = states.Crashed(message=_crash_message(error))
        logger.error("Crash detected! %s", state.message)
    with anyio.move_on_after(REPORT_TIMEOUT, shield=True):
        try:
            await reporter.propose(state, force=True)
        except Exception as exc:
            _own_logger.warning(
                "could not report %s for %s %r: %s",
                state.type.value,
                reporter.label.lower(),
                reporter.run_name,
                describe(exc),
            )


def _crash_message(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "Execution was aborted by an interrupt signal."
    if isinstance(error, SystemExit):
        return "Execution was aborted by Python system exit call."
    return f"Execution was interrupted by an unexpected exception: {describe(error)}"


def describe(error: BaseException) -> str:
    """``"Type: text"``, as Prefect formats an exception in a state message."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
