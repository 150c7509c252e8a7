"""Same program, two engines: Prefect's own `@flow` / `@task` (asyncio) and ours (trio and
asyncio), against the same real server; what each leaves on the server must match.

Prefect 3's engine reports task runs as events that the server's task-run recorder
writes, so this needs a server started with its services: `nox -s interop` runs this
module once more against one (``PREFECT_TRIO_CLIENT_INTEROP_SERVICES=1``); elsewhere it
is skipped. The differences we keep on purpose are listed in `ALLOWED` and in the README
("What differs from Prefect's engine").
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any
from uuid import UUID

import anyio
import pytest

from prefect_trio_client.orchestration import get_client
from prefect_trio_client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect_trio_client.schemas.objects import FlowRun, TaskRun

pytestmark = [
    pytest.mark.interop,
    pytest.mark.anyio,
    pytest.mark.skipif(
        os.environ.get("PREFECT_TRIO_CLIENT_INTEROP_SERVICES") != "1",
        reason="needs a Prefect server with its services (nox -s interop runs it)",
    ),
]

PROGRAM = """
import sys
{imports}

ENGINE = sys.argv[1]
attempts = {{"add": 0}}


@task(retries=1)
async def add(x: int, y: int) -> int:
    get_run_logger().info("adding %d and %d", x, y)
    attempts["add"] += 1
    if attempts["add"] == 1:
        raise RuntimeError("flaky")
    return x + y


@task
async def boom() -> None:
    raise ValueError("boom")


@flow
async def child(engine: str, n: int) -> int:
    get_run_logger().info("child got %d", n)
    return n


@flow
async def parent(engine: str) -> int:
    get_run_logger().info("parent starts")
    total = await add(1, 2)
    total += await child(engine, 3)
    try:
        await boom()
    except ValueError:
        pass
    return total


@flow
async def fails(engine: str) -> None:
    raise KeyError("missing")


async def main() -> None:
    assert await parent(ENGINE) == 6
    try:
        await fails(ENGINE)
    except KeyError:
        pass
    else:
        raise AssertionError("fails() did not raise")


{run}
"""

PREFECT = PROGRAM.format(
    imports="import asyncio\nfrom prefect import flow, get_run_logger, task",
    run="asyncio.run(main())",
)
OURS = PROGRAM.format(
    imports="import anyio\nfrom prefect_trio_client import flow, get_run_logger, task",
    run="anyio.run(main, backend=sys.argv[2])",
)

#: Left out of the comparison on purpose (see the README): the names and dynamic keys of
#: task runs (Prefect 3: a random UUID and "<task>-<3 hex>"; ours: a count per flow run),
#: run names (the server draws them), and an absent state message, which Prefect's event
#: path records as "" and HTTP orchestration as null.
RUN_NAME = re.compile(r"(Beginning (?:sub)?flow run) '[^']*'")


def line(message: str) -> str:
    """A log message's first line, without the drawn run name."""
    return RUN_NAME.sub(r"\1 '<name>'", message.splitlines()[0])


def states_of(history: list[Any]) -> list[tuple[str, str | None, str]]:
    return [(state.type.value, state.name, state.message or "") for state in history]


async def run_program(code: str, *args: str, api_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_API_URL": api_url, "PREFECT_LOGGING_LEVEL": "INFO"})
    result = await anyio.run_process([sys.executable, "-c", code, *args], env=env, check=False)
    assert result.returncode == 0, result.stderr.decode()[-4000:]


async def record_of(engine: str) -> dict[str, Any]:
    """What the server holds for one engine's runs, without ids, names and times."""
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["parent", "child", "fails"]))
        )
        mine = [run for run in runs if run.parameters.get("engine") == engine]
        flow_names = {flow.id: flow.name for flow in await client.read_flows()}
        record: dict[str, Any] = {}
        task_ids: dict[UUID, str] = {}
        for run in mine:
            tasks = await client.read_task_runs(
                task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run.id]))
            )
            for task_run in tasks:
                task_ids[task_run.id] = flow_names[run.flow_id]
            record[flow_names[run.flow_id]] = await describe_flow_run(client, run, tasks)
        for run in mine:
            name = flow_names[run.flow_id]
            parent = task_ids.get(run.parent_task_run_id) if run.parent_task_run_id else None
            record[name]["subflow of"] = parent
    return record


async def describe_flow_run(client: Any, run: FlowRun, tasks: list[TaskRun]) -> dict[str, Any]:
    states = await client.read_flow_run_states(run.id)
    logs = await client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))
    )
    task_records = []
    for task_run in tasks:
        task_states = await client.read_task_run_states(task_run.id)
        task_records.append(
            {
                "task": task_run.task_key.rsplit("-", 1)[0],
                "states": states_of(task_states),
                "run_count": task_run.run_count,
                "times set": task_run.start_time is not None and task_run.end_time is not None,
                "logs": sorted(
                    line(entry.message) for entry in logs if entry.task_run_id == task_run.id
                ),
            }
        )
    return {
        "states": states_of(states),
        "run_count": run.run_count,
        "times set": run.start_time is not None and run.end_time is not None,
        "logs": sorted(line(entry.message) for entry in logs if entry.task_run_id is None),
        "tasks": sorted(task_records, key=lambda t: (t["task"], t["states"])),
    }


async def until_task_runs_recorded(engine: str, count: int) -> dict[str, Any]:
    """Prefect's recorder writes task runs from events a moment later: read until all
    are there (bounded: 60 s)."""
    with anyio.fail_after(60):
        while True:
            record = await record_of(engine)
            recorded = sum(len(flow["tasks"]) for flow in record.values())
            finals = all(
                task["states"] and task["states"][-1][0] in ("COMPLETED", "FAILED")
                for flow in record.values()
                for task in flow["tasks"]
            )
            if recorded >= count and finals:
                return record
            await anyio.sleep(0.5)


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_our_engine_leaves_the_records_prefects_engine_leaves(
    api_url: str, backend: str, anyio_backend: str
) -> None:
    prefect_engine = f"prefect-{backend}"
    ours = f"ours-{backend}"
    await run_program(PREFECT, prefect_engine, api_url=api_url)
    await run_program(OURS, ours, backend, api_url=api_url)
    theirs = await until_task_runs_recorded(prefect_engine, count=3)
    mine = await until_task_runs_recorded(ours, count=3)
    assert json.dumps(mine, indent=1, sort_keys=True) == json.dumps(
        theirs, indent=1, sort_keys=True
    )
