"""`@task` against the embedded server, on trio and asyncio."""

from __future__ import annotations

import anyio
import anyio.to_thread
import pytest

from prefect_trio_client.runs import (
    TaskRunTimeoutError,
    flow,
    get_run_logger,
    task,
)
from prefect_trio_client.schemas.objects import StateType
from tests.runs.helpers import logs, only_flow_run, state_names, task_runs

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


async def test_a_task_outside_any_flow_is_a_task_run_of_its_own() -> None:
    @task
    async def alone(x: int) -> int:
        return x + 1

    assert await alone(1) == 2
    [run] = await task_runs()
    assert run.flow_run_id is None
    assert run.name == "alone"
    assert run.dynamic_key.startswith(run.task_key + "-")
    assert await state_names(task_run_id=run.id) == ["Pending", "Running", "Completed"]


async def test_task_retries_are_made_by_the_client_as_prefect_does() -> None:
    calls = 0

    @task(retries=2, retry_delay_seconds=[0, 0.05])
    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Boom(f"attempt {calls}")
        return "ok"

    @flow
    async def holder() -> str:
        return await flaky()

    assert await holder() == "ok"
    [run] = await task_runs((await only_flow_run("holder")).id)
    assert run.run_count == 3
    assert await state_names(task_run_id=run.id) == [
        "Pending",
        "Running",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


async def test_a_failing_task_fails_its_run_and_then_its_flow() -> None:
    error = Boom("bad row")

    @task
    async def breaks() -> None:
        raise error

    @flow
    async def carrier() -> None:
        await breaks()

    with pytest.raises(Boom) as caught:
        await carrier()
    assert caught.value is error
    flow_run = await only_flow_run("carrier")
    [run] = await task_runs(flow_run.id)
    assert run.state is not None
    assert run.state.message == "Task run encountered an exception Boom: bad row"
    assert flow_run.state_type is StateType.FAILED


async def test_a_task_timeout_fails_it_as_timed_out() -> None:
    @task(timeout_seconds=0.1)
    async def stuck() -> None:
        await anyio.sleep(60)

    with pytest.raises(TaskRunTimeoutError):
        await stuck()
    [run] = await task_runs()
    assert run.state is not None
    assert (run.state.type, run.state.name) == (StateType.FAILED, "TimedOut")
    assert run.state.message == "Task run exceeded timeout of 0.1 second(s)"


async def test_task_run_names_format_the_parameters() -> None:
    @task(task_run_name="load-{table}")
    async def load(table: str) -> None:
        pass

    @task(task_run_name=lambda parameters: f"calc-{parameters['n'] * 2}")
    async def calc(n: int) -> None:
        pass

    @task(task_run_name="bad-{missing}")
    async def bad(n: int) -> None:
        pass

    await load("users")
    await calc(4)
    with pytest.raises(ValueError, match=r"bad-\{missing\}.*'n'"):
        await bad(1)
    assert sorted(run.name for run in await task_runs()) == ["calc-8", "load-users"]


async def test_records_logged_from_worker_threads_reach_the_right_run() -> None:
    @task
    async def threaded() -> None:
        logger = get_run_logger()
        await anyio.to_thread.run_sync(logger.info, "from a worker thread")

    @flow
    async def owner() -> None:
        get_run_logger().info("from the flow")
        await threaded()

    await owner()
    flow_run = await only_flow_run("owner")
    [task_run] = await task_runs(flow_run.id)
    entries = {entry.message: entry for entry in await logs(flow_run.id)}
    assert entries["from a worker thread"].task_run_id == task_run.id
    assert entries["from a worker thread"].name == "prefect.task_runs"
    assert entries["from the flow"].task_run_id is None
    assert entries["from the flow"].name == "prefect.flow_runs"


def test_get_run_logger_outside_a_run_says_where_to_call_it() -> None:
    with pytest.raises(RuntimeError, match="outside a flow or task run"):
        get_run_logger()


async def test_a_task_in_a_task_belongs_to_the_same_flow_run() -> None:
    @task
    async def inner() -> int:
        return 1

    @task
    async def outer() -> int:
        return await inner() + await inner()

    @flow
    async def nest() -> int:
        return await outer()

    assert await nest() == 2
    runs = await task_runs((await only_flow_run("nest")).id)
    assert sorted(run.name for run in runs) == ["inner-0", "inner-1", "outer-0"]
