"""`@flow` (and `@task` inside flows) against the embedded server, on trio and asyncio."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

import anyio
import pytest

from prefect_trio_client.runs import (
    FlowRunTimeoutError,
    ParameterBindError,
    ParameterSerializationWarning,
    ParameterValidationError,
    RunTrackingError,
    flow,
    get_run_logger,
    task,
)
from prefect_trio_client.schemas.objects import State, StateType
from tests.runs.helpers import flow_runs, logs, only_flow_run, state_names, task_runs

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


async def test_a_flow_run_is_recorded_pending_running_completed() -> None:
    @flow(name="adds", version="1.2", tags=["t1"])
    async def adds(x: int, y: int = 2) -> int:
        return x + y

    assert await adds(1) == 3
    run = await only_flow_run("adds")
    assert run.state_type is StateType.COMPLETED
    assert run.parameters == {"x": 1, "y": 2}
    assert run.tags == ["t1"]
    assert run.flow_version == "1.2"
    assert run.run_count == 1
    assert run.start_time is not None
    assert run.end_time is not None
    assert await state_names(flow_run_id=run.id) == ["Pending", "Running", "Completed"]


async def test_an_exception_fails_the_run_and_reaches_the_caller_unchanged() -> None:
    error = Boom("it broke")

    @flow
    async def breaks() -> None:
        raise error

    with pytest.raises(Boom) as caught:
        await breaks()
    assert caught.value is error
    assert caught.value.__context__ is None  # no report error chained to it
    run = await only_flow_run("breaks")
    assert run.state_type is StateType.FAILED
    assert run.state is not None
    assert run.state.message == "Flow run encountered an exception: Boom: it broke"
    errors = [entry.message for entry in await logs(run.id) if entry.level == 40]
    tracebacks = [message for message in errors if "Traceback" in message]
    assert len(tracebacks) == 1
    assert "it broke" in tracebacks[0]
    assert tracebacks[0].startswith("Encountered exception during execution: Boom('it broke')")
    assert "Finished in state Failed('Flow run encountered an exception: Boom: it broke')" in errors


async def test_return_state_gives_the_final_state_instead() -> None:
    @flow
    async def maybe(fail: bool) -> str:
        if fail:
            raise Boom("no")
        return "yes"

    completed: Any = await maybe(False, return_state=True)  # type: ignore[call-arg]  # Prefect's
    failed = await maybe.returning_state(True)  # the typed form
    assert isinstance(completed, State)
    assert completed.type is StateType.COMPLETED
    assert isinstance(failed, State)
    assert failed.type is StateType.FAILED


async def test_retries_run_the_body_again_after_awaiting_retry() -> None:
    attempts: list[float] = []

    @flow(retries=2, retry_delay_seconds=1)
    async def flaky() -> str:
        attempts.append(anyio.current_time())
        if len(attempts) < 3:
            raise Boom(f"attempt {len(attempts)}")
        return "done"

    assert await flaky() == "done"
    assert attempts[1] - attempts[0] >= 0.9  # the server's WAIT, whole seconds
    assert attempts[2] - attempts[1] >= 0.9
    run = await only_flow_run("flaky")
    assert run.run_count == 3
    assert run.state_type is StateType.COMPLETED
    history = await state_names(flow_run_id=run.id)
    assert history == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Running",
        "AwaitingRetry",
        "Running",
        "Completed",
    ]


async def test_exhausted_retries_fail_the_run() -> None:
    @flow(retries=1)
    async def always_fails() -> None:
        raise Boom("again")

    with pytest.raises(Boom):
        await always_fails()
    run = await only_flow_run("always-fails")
    assert run.run_count == 2
    assert run.state_type is StateType.FAILED


async def test_a_timeout_fails_the_run_as_timed_out() -> None:
    @flow(timeout_seconds=0.2)
    async def slow() -> None:
        await anyio.sleep(60)

    start = anyio.current_time()
    with pytest.raises(FlowRunTimeoutError, match=r"Scope timed out after 0\.2 second"):
        await slow()
    assert anyio.current_time() - start < 30
    run = await only_flow_run("slow")
    assert run.state is not None
    assert (run.state.type, run.state.name) == (StateType.FAILED, "TimedOut")


async def test_a_cancelled_run_is_reported_cancelled_and_the_cancellation_propagates() -> None:
    started = anyio.Event()

    @flow
    async def waits() -> None:
        started.set()
        await anyio.sleep_forever()

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(waits)
            await started.wait()
            scope.cancel()
    assert scope.cancelled_caught
    run = await only_flow_run("waits")
    assert run.state_type is StateType.CANCELLED


async def test_a_flow_inside_a_flow_is_a_subflow_with_a_parent_task_run() -> None:
    @flow
    async def child(x: int) -> int:
        return x * 10

    @flow
    async def parent() -> int:
        return await child(1) + await child(2)

    assert await parent() == 30
    parent_run = await only_flow_run("parent")
    stand_ins = await task_runs(parent_run.id)
    assert sorted(t.dynamic_key for t in stand_ins) == ["0", "1"]
    assert {t.state_type for t in stand_ins} == {StateType.COMPLETED}  # mirrored by the server
    children = await flow_runs("child")
    assert sorted(str(c.parent_task_run_id) for c in children) == sorted(
        str(t.id) for t in stand_ins
    )


async def test_parameters_that_are_not_json_are_stored_as_repr_with_a_warning() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    @flow(validate_parameters=False)
    async def takes(thing: Any, when: timedelta) -> str:
        return "ok"

    with pytest.warns(ParameterSerializationWarning, match="'thing'"):
        assert await takes(Opaque(), timedelta(seconds=3)) == "ok"
    run = await only_flow_run("takes")
    assert run.parameters["thing"] == "<opaque>"
    assert run.parameters["when"] == "PT3S"


async def test_parameters_are_validated_and_coerced_by_annotation() -> None:
    seen: list[Any] = []

    @flow
    async def typed(count: int) -> None:
        seen.append(count)

    await typed("3")  # type: ignore[arg-type]
    assert seen == [3]
    with pytest.raises(ParameterValidationError, match="count"):
        await typed("three")  # type: ignore[arg-type]
    assert seen == [3]
    runs = sorted(await flow_runs("typed"), key=lambda r: r.created or r.id)
    assert [r.state_type for r in runs] == [StateType.COMPLETED, StateType.FAILED]
    assert runs[1].state is not None
    assert runs[1].state.message is not None
    assert runs[1].state.message.startswith("Validation of flow parameters failed")


async def test_arguments_that_do_not_fit_are_refused_before_any_run() -> None:
    @flow
    async def one(x: int) -> None:
        pass

    with pytest.raises(ParameterBindError, match="one"):
        await one(1, 2)  # type: ignore[call-arg]


async def test_an_unreachable_api_fails_fast_before_the_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "0")
    ran = False

    @flow
    async def never() -> None:
        nonlocal ran
        ran = True

    with pytest.raises(RunTrackingError, match="flow 'never' was not started"):
        await never()
    assert not ran


async def test_log_prints_ships_print_output_of_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    import builtins

    original = builtins.print

    @flow(log_prints=True)
    async def chatty() -> None:
        print("hello from the run")
        get_run_logger().warning("and a warning")

    @flow
    async def quiet() -> None:
        print("not shipped")

    await chatty()
    await quiet()
    assert builtins.print is original
    assert "hello from the run" in capsys.readouterr().out
    chatty_logs = [e.message for e in await logs((await only_flow_run("chatty")).id)]
    assert "hello from the run" in chatty_logs
    assert "and a warning" in chatty_logs
    quiet_logs = [e.message for e in await logs((await only_flow_run("quiet")).id)]
    assert "not shipped" not in quiet_logs


async def test_tasks_run_concurrently_in_the_callers_task_group() -> None:
    all_started = anyio.Event()
    started = 0

    @task
    async def double(x: int) -> int:
        nonlocal started
        started += 1
        if started == 5:
            all_started.set()
        await all_started.wait()  # only returns if the five run at the same time
        return 2 * x

    @flow
    async def fan_out() -> None:
        async with anyio.create_task_group() as group:
            for x in range(5):
                group.start_soon(double, x)

    with anyio.fail_after(60):
        await fan_out()
    run = await only_flow_run("fan-out")
    runs = await task_runs(run.id)
    assert sorted(t.dynamic_key for t in runs) == ["0", "1", "2", "3", "4"]
    assert {t.name for t in runs} == {f"double-{k}" for k in range(5)}
    assert {t.state_type for t in runs} == {StateType.COMPLETED}
    assert {t.flow_run_id for t in runs} == {run.id}


def test_a_sync_function_is_refused_with_a_clear_error() -> None:
    def plain() -> None:
        pass

    with pytest.raises(TypeError, match="async function"):
        flow(plain)  # type: ignore[arg-type]
    with warnings.catch_warnings(), pytest.raises(ValueError, match="retries"):
        flow(retries=-1)(test_a_flow_run_is_recorded_pending_running_completed)
