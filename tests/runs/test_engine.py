"""The run engine's rules on virtual time, with a fake reporter (no server)."""

from __future__ import annotations

import itertools
import logging

import anyio
import pytest

from prefect_trio_client.exceptions import Abort
from prefect_trio_client.runs._engine import REPORT_TIMEOUT, RunOptions, execute
from prefect_trio_client.runs._errors import TaskRunTimeoutError
from prefect_trio_client.schemas.objects import State, StateType

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]


class FakeReporter:
    label = "Task run"
    run_name = "fake-0"
    client_side_retries = True

    def __init__(self, answer: dict[StateType, State] | None = None) -> None:
        self.proposed: list[tuple[float, State]] = []
        self.answer = answer or {}
        self.hang_on: StateType | None = None
        self.fail_on: StateType | None = None

    def failed_message(self, error: BaseException) -> str:
        return f"failed: {error!r}"

    async def propose(self, state: State, *, force: bool = False, max_wait: float = 300.0) -> State:
        self.proposed.append((anyio.current_time(), state))
        if state.type is self.hang_on:
            await anyio.sleep_forever()
        if state.type is self.fail_on:
            raise ConnectionError("the API is down")
        return self.answer.get(state.type, state)

    def names(self) -> list[str]:
        return [state.name or state.type.value for _, state in self.proposed]


LOGGER = logging.LoggerAdapter(logging.getLogger("tests.runs.engine"), {})


class Boom(Exception):
    pass


async def test_retry_delays_are_slept_between_attempts() -> None:
    reporter = FakeReporter()
    attempts: list[float] = []

    async def body() -> str:
        attempts.append(anyio.current_time())
        if len(attempts) < 4:
            raise Boom
        return "ok"

    options = RunOptions(retries=3, retry_delay_seconds=[1, 10])
    outcome = await execute(reporter, body, options, LOGGER, TaskRunTimeoutError)
    assert outcome.value == "ok"
    assert outcome.error is None
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(attempts)]
    assert gaps == [1, 10, 10]  # the last delay serves every retry beyond the list
    assert reporter.names() == [
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    scheduled = [
        (s.state_details.scheduled_time - s.timestamp).total_seconds()
        for _, s in reporter.proposed
        if s.name == "AwaitingRetry" and s.state_details.scheduled_time and s.timestamp
    ]
    assert [round(x) for x in scheduled] == [1, 10, 10]


async def test_a_retry_without_delay_goes_straight_to_retrying() -> None:
    reporter = FakeReporter()
    calls = 0

    async def body() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Boom

    await execute(reporter, body, RunOptions(retries=1), LOGGER, TaskRunTimeoutError)
    assert reporter.names() == ["Running", "Retrying", "Completed"]


async def test_server_side_retries_follow_the_servers_awaiting_retry() -> None:
    """A flow run's retry: the server answers Failed with AwaitingRetry, the engine
    proposes Running again (the server's WAIT is slept inside propose_state)."""
    awaiting = State(type=StateType.SCHEDULED, name="AwaitingRetry")

    class ServerRetries(FakeReporter):
        client_side_retries = False

        async def propose(
            self, state: State, *, force: bool = False, max_wait: float = 300.0
        ) -> State:
            await super().propose(state)
            failures = sum(1 for _, s in self.proposed if s.type is StateType.FAILED)
            if state.type is StateType.FAILED and failures <= 2:
                return awaiting
            return state

    reporter = ServerRetries()

    async def body() -> None:
        raise Boom("always")

    outcome = await execute(reporter, body, RunOptions(), LOGGER, TaskRunTimeoutError)
    assert isinstance(outcome.error, Boom)
    assert reporter.names() == ["Running", "Failed", "Running", "Failed", "Running", "Failed"]


async def test_the_timeout_cancels_the_body_at_its_deadline() -> None:
    reporter = FakeReporter()
    start = anyio.current_time()

    async def body() -> None:
        await anyio.sleep(100)

    outcome = await execute(
        reporter, body, RunOptions(timeout_seconds=7), LOGGER, TaskRunTimeoutError
    )
    assert isinstance(outcome.error, TaskRunTimeoutError)
    assert anyio.current_time() - start == pytest.approx(7)
    final = reporter.proposed[-1][1]
    assert (final.type, final.name) == (StateType.FAILED, "TimedOut")
    assert final.message == "Task run exceeded timeout of 7 second(s)"
    assert str(outcome.error) == "Scope timed out after 7 second(s)."


async def test_a_timed_out_attempt_is_retried() -> None:
    reporter = FakeReporter()
    calls = 0

    async def body() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await anyio.sleep(100)
        return "second"

    options = RunOptions(retries=1, timeout_seconds=3)
    outcome = await execute(reporter, body, options, LOGGER, TaskRunTimeoutError)
    assert outcome.value == "second"
    assert reporter.names()[-1] == "Completed"


async def test_an_abort_from_the_server_ends_the_run_before_the_body() -> None:
    class Aborting(FakeReporter):
        async def propose(
            self, state: State, *, force: bool = False, max_wait: float = 300.0
        ) -> State:
            raise Abort("The enclosing flow must be running to begin task execution.")

    ran = False

    async def body() -> None:
        nonlocal ran
        ran = True

    with pytest.raises(Abort, match="enclosing flow must be running"):
        await execute(Aborting(), body, RunOptions(), LOGGER, TaskRunTimeoutError)
    assert not ran


async def test_a_run_the_server_keeps_from_running_does_not_run() -> None:
    cancelled = State(type=StateType.CANCELLED, message="cancelled by a user")
    reporter = FakeReporter(answer={StateType.RUNNING: cancelled})

    async def body() -> None:
        raise AssertionError("must not run")

    with pytest.raises(Abort, match="answered CANCELLED \\(cancelled by a user\\)"):
        await execute(reporter, body, RunOptions(), LOGGER, TaskRunTimeoutError)


async def test_cancellation_is_reported_shielded_and_bounded_then_propagates() -> None:
    reporter = FakeReporter()
    reporter.hang_on = StateType.CANCELLED  # the report never gets an answer

    async def body() -> None:
        await anyio.sleep_forever()

    with anyio.move_on_after(5) as scope:
        await execute(reporter, body, RunOptions(), LOGGER, TaskRunTimeoutError)
    assert scope.cancelled_caught
    assert reporter.names()[-1] == "Cancelled"
    assert anyio.current_time() == pytest.approx(5 + REPORT_TIMEOUT)


async def test_a_failed_cancellation_report_still_lets_the_cancellation_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reporter = FakeReporter()
    reporter.fail_on = StateType.CANCELLED

    async def body() -> None:
        await anyio.sleep_forever()

    with anyio.move_on_after(1) as scope:
        await execute(reporter, body, RunOptions(), LOGGER, TaskRunTimeoutError)
    assert scope.cancelled_caught
    assert "could not report CANCELLED" in caplog.text


class Interrupt(BaseException):
    pass


async def test_a_base_exception_is_reported_crashed_and_re_raised() -> None:
    reporter = FakeReporter()
    interrupt = Interrupt("stop")

    async def body() -> None:
        raise interrupt

    with pytest.raises(Interrupt) as caught:
        await execute(reporter, body, RunOptions(retries=3), LOGGER, TaskRunTimeoutError)
    assert caught.value is interrupt
    assert reporter.names() == ["Running", "Crashed"]  # not retried
    assert reporter.proposed[-1][1].message == (
        "Execution was interrupted by an unexpected exception: Interrupt: stop"
    )


def test_retry_delay_lists_and_numbers() -> None:
    assert RunOptions(retry_delay_seconds=3).retry_delay(5) == 3
    assert RunOptions(retry_delay_seconds=[1, 2]).retry_delay(1) == 1
    assert RunOptions(retry_delay_seconds=[1, 2]).retry_delay(9) == 2
    assert RunOptions(retry_delay_seconds=[]).retry_delay(1) == 0


async def test_a_failed_failure_report_still_gives_the_caller_its_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reporter = FakeReporter()
    reporter.fail_on = StateType.FAILED
    error = Boom("original")

    async def body() -> None:
        raise error

    outcome = await execute(reporter, body, RunOptions(), LOGGER, TaskRunTimeoutError)
    assert outcome.error is error
    assert outcome.state.type is StateType.FAILED
    assert "could not report Failed for task run 'fake-0': ConnectionError" in caplog.text
