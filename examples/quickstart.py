"""Quickstart: 50 concurrent flow runs with `@flow` / `@task`, then a summary read back.

Needs no server and no configuration: with no ``PREFECT_API_URL`` set, flows report to
a Prefect-compatible API served in this process (its database lives under
``PREFECT_HOME``, by default ``~/.prefect``). Set ``PREFECT_API_URL`` and the same program
reports to that server instead.

    python examples/quickstart.py                     # trio
    python examples/quickstart.py --backend asyncio   # asyncio, through anyio

Each flow run extracts two sources concurrently (two task runs in the flow's own task
group), transforms and loads them; the transform of every fifth run fails its first
attempt and is retried. Everything is logged through `get_run_logger`. Then the runs,
task runs and logs are read back with filters and summarised.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import _interrupt  # Ctrl-C: one line, exit status 130
import anyio

from prefect_trio_client import flow, get_run_logger, task
from prefect_trio_client.orchestration import get_client
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

SOURCES = ("orders", "refunds")
PAGE = 200
T = TypeVar("T")
_failed_once: set[int] = set()  # runs whose transform already failed its first attempt


@task
async def extract(index: int, source: str) -> list[int]:
    await anyio.sleep(0.01)  # the "work": reading a source
    rows = [index * 10 + n for n in range(3)]
    get_run_logger().info("extracted %d rows from %s", len(rows), source)
    return rows


@task(retries=1)
async def transform(index: int, rows: list[int]) -> list[int]:
    if index % 5 == 0 and index not in _failed_once:
        _failed_once.add(index)
        raise RuntimeError(f"simulated failure in run {index}")
    return sorted(row * 2 for row in rows)


@task
async def load(index: int, rows: list[int]) -> int:
    get_run_logger().info("loaded %d rows", len(rows))
    return len(rows)


@flow(name="quickstart")
async def pipeline(index: int) -> int:
    rows: list[int] = []

    async def extract_into(source: str) -> None:
        rows.extend(await extract(index, source))

    async with anyio.create_task_group() as group:  # the two extracts run concurrently
        for source in SOURCES:
            group.start_soon(extract_into, source)
    loaded = await load(index, await transform(index, rows))
    get_run_logger().info("flow run %d done: %d rows", index, loaded)
    return loaded


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
    tagged = pipeline.with_options(tags=[tag])  # to find this program's runs afterwards
    print(f"running {args.runs} flow runs (Ctrl-C to stop)...", flush=True)
    start = anyio.current_time()
    async with anyio.create_task_group() as group:
        for index in range(args.runs):
            group.start_soon(tagged, index)
    elapsed = anyio.current_time() - start

    async with get_client() as client:
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
            f"{len(logs)} ({min(logs_per_run.values(), default=0)}"
            f"-{max(logs_per_run.values(), default=0)} per run)",
        ),
        ("wall time", f"{elapsed:.2f}s"),
    ]
    print(table(rows))
    tasks_per_run = len(SOURCES) + 2
    user_lines = len(SOURCES) + 2  # one per extract, one for load, one for the flow
    ok = (
        completed == args.runs == len(runs)
        and len(task_runs) == args.runs * tasks_per_run
        and tasks_by_state == Counter({"Completed": args.runs * tasks_per_run})
        and len(retried) == len(range(0, args.runs, 5))
        and len(logs_per_run) == args.runs
        and min(logs_per_run.values()) >= user_lines
    )
    return 0 if ok else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run flows against the embedded Prefect API.")
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    parser.add_argument("--runs", type=int, default=50, help="concurrent flow runs (50)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    sys.exit(_interrupt.run(main, arguments, arguments.backend))
