"""Quickstart: 50 concurrent flow runs against the embedded Prefect API, then a summary.

Needs no server and no configuration: with no ``PREFECT_API_URL`` set, `get_client()`
serves a Prefect-compatible API in this process (its database lives under
``PREFECT_HOME``, by default ``~/.prefect``). Set ``PREFECT_API_URL`` and the same program
runs against that server instead.

    python examples/quickstart.py                     # trio
    python examples/quickstart.py --backend asyncio   # asyncio, through anyio

Each flow run moves Pending -> Running -> Completed and runs three task runs through
Pending -> Running -> Completed; the middle task of every fifth run fails its first
attempt and is retried (Running -> AwaitingRetry -> Running). Every step ships a log
line. Then everything is read back with filters and summarised.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar
from uuid import UUID

import anyio

from prefect_trio_client import states
from prefect_trio_client.orchestration import PrefectClient, get_client
from prefect_trio_client.schemas.actions import LogCreate
from prefect_trio_client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect_trio_client.schemas.objects import FlowRun, Log, StateType, TaskRun

TASKS = ("extract", "transform", "load")
PAGE = 200
T = TypeVar("T")


def log(run_id: UUID, message: str, task_run_id: UUID | None = None) -> LogCreate:
    return LogCreate(
        name="quickstart",
        level=20,
        message=message,
        timestamp=datetime.now(timezone.utc),
        flow_run_id=run_id,
        task_run_id=task_run_id,
    )


async def run_task(
    client: PrefectClient, run_id: UUID, index: int, task: str, fail_first: bool
) -> list[LogCreate]:
    """One task run through its states; returns the log lines it wants shipped."""
    task_run = await client.create_task_run(
        flow_run_id=run_id, task_key=f"quickstart.{task}", dynamic_key=str(index)
    )
    lines = [log(run_id, f"{task}: pending", task_run.id)]
    await client.propose_state(states.Running(), task_run_id=task_run.id)
    if fail_first:
        lines.append(log(run_id, f"{task}: failed (simulated), retrying", task_run.id))
        await client.propose_state(
            states.AwaitingRetry(message="simulated failure"), task_run_id=task_run.id
        )
        await client.propose_state(states.Running(name="Retrying"), task_run_id=task_run.id)
    await anyio.sleep(0.01)  # the task's "work"
    await client.propose_state(states.Completed(message="ok"), task_run_id=task_run.id)
    lines.append(log(run_id, f"{task}: completed", task_run.id))
    return lines


async def run_flow(client: PrefectClient, flow_id: UUID, tag: str, index: int) -> None:
    run = await client.create_flow_run(
        flow_id, name=f"quickstart-{index:02d}", parameters={"index": index}, tags=[tag]
    )
    await client.propose_state(states.Running(), flow_run_id=run.id)
    lines = [log(run.id, f"flow run {index} started")]
    for position, task in enumerate(TASKS):
        fail_first = position == 1 and index % 5 == 0
        lines += await run_task(client, run.id, index, task, fail_first)
    await client.propose_state(states.Completed(), flow_run_id=run.id)
    lines.append(log(run.id, f"flow run {index} completed"))
    await client.create_logs(lines)


async def read_all(read: Callable[..., Awaitable[list[T]]], **filters: Any) -> list[T]:
    """Every matching row: the API answers at most 200 per request, so page."""
    rows: list[T] = []
    while True:
        page = await read(**filters, limit=PAGE, offset=len(rows))
        rows += page
        if len(page) < PAGE:
            return rows


def seconds(run: FlowRun | TaskRun) -> float:
    return run.total_run_time.total_seconds()


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    lines = [f"{'quickstart summary':<{width}}  value", f"{'-' * width}  {'-' * 30}"]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    tag = f"quickstart-{uuid.uuid4().hex[:8]}"
    start = anyio.current_time()
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("quickstart")
        async with anyio.create_task_group() as tg:
            for index in range(args.runs):
                tg.start_soon(run_flow, client, flow_id, tag, index)
        elapsed = anyio.current_time() - start

        ours = FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]))
        runs: list[FlowRun] = await read_all(client.read_flow_runs, flow_run_filter=ours)
        run_ids = [run.id for run in runs]
        task_runs: list[TaskRun] = await read_all(
            client.read_task_runs,
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=run_ids)),
        )
        logs: list[Log] = await read_all(
            client.read_logs, log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids))
        )
        completed = await client.count_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[tag]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED])),
            )
        )

    runs_by_state = Counter(run.state_name for run in runs)
    tasks_by_state = Counter(task.state_name for task in task_runs)
    retried = [task for task in task_runs if task.run_count > 1]
    durations = [seconds(run) for run in runs]
    logs_per_run = Counter(entry.flow_run_id for entry in logs)
    rows = [
        ("backend", args.backend),
        ("API", str(client.api_url) + f" ({client.server_type.value.lower()})"),
        ("flow runs", f"{len(runs)} (tag {tag})"),
        *((f"  {state}", str(n)) for state, n in sorted(runs_by_state.items())),
        ("completed (count_flow_runs)", str(completed)),
        ("task runs", str(len(task_runs))),
        *((f"  {state}", str(n)) for state, n in sorted(tasks_by_state.items())),
        ("task runs retried", str(len(retried))),
        ("flow run time p50 / max", f"{statistics.median(durations):.3f}s / {max(durations):.3f}s"),
        (
            "log lines",
            f"{len(logs)} ({min(logs_per_run.values())}-{max(logs_per_run.values())} per run)",
        ),
        ("wall time", f"{elapsed:.2f}s"),
    ]
    print(table(rows))
    # One line per flow run start and end, two per task run, one per simulated failure.
    expected_logs = args.runs * (2 + 2 * len(TASKS)) + len(retried)
    ok = (
        completed == args.runs == len(runs)
        and len(task_runs) == args.runs * len(TASKS)
        and len(logs) == expected_logs
    )
    return 0 if ok else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run flows against the embedded Prefect API.")
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    parser.add_argument("--runs", type=int, default=50, help="concurrent flow runs (50)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    sys.exit(anyio.run(main, arguments, backend=arguments.backend))
