"""What an engine row left on the server, read back with plain httpx and checked.

Each flow run of the row (its flow is ``engine-load-<tag>``, its parameter ``index``) must
be stored once, Completed after Pending and Running, with 2 task runs each Completed
after Pending and Running, and its one log line. Prefect's task-run recorder writes task
runs from events after the flows have returned, so `check_records` reads again until the
records are complete or its deadline passes (no fixed sleep).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

import anyio
import httpx

from tests.load.engine_driver import TASKS_PER_FLOW_RUN, flow_name

__all__ = ["check_records", "records_problems"]

_STATES = ["PENDING", "RUNNING", "COMPLETED"]


async def _all(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        answer = await http.post(path, json={**body, "limit": 200, "offset": len(found)})
        answer.raise_for_status()
        batch = answer.json()
        found.extend(batch)
        if len(batch) < 200:
            return found


async def _states(http: httpx.AsyncClient, kind: str, run_id: str) -> list[str]:
    answer = await http.get(f"{kind}_run_states/", params={f"{kind}_run_id": run_id})
    answer.raise_for_status()
    ordered = sorted(answer.json(), key=lambda state: state["timestamp"])
    return [state["type"] for state in ordered]


async def read_records(api_url: str, tag: str) -> dict[str, Any]:
    """The row's flow runs, their task runs, states and log lines."""
    async with httpx.AsyncClient(base_url=api_url.rstrip("/") + "/", timeout=60) as http:
        flows = {"flows": {"name": {"any_": [flow_name(tag)]}}}
        flow_runs = await _all(http, "flow_runs/filter", flows)
        ids = [run["id"] for run in flow_runs]
        task_runs: list[dict[str, Any]] = []
        logs: list[dict[str, Any]] = []
        for start in range(0, len(ids), 50):
            chunk = {"any_": ids[start : start + 50]}
            task_runs += await _all(http, "task_runs/filter", {"task_runs": {"flow_run_id": chunk}})
            logs += await _all(http, "logs/filter", {"logs": {"flow_run_id": chunk}})
        states: dict[str, list[str]] = {}
        limiter = anyio.Semaphore(8)

        async def read(kind: str, run_id: str) -> None:
            async with limiter:
                states[run_id] = await _states(http, kind, run_id)

        async with anyio.create_task_group() as group:
            for run in flow_runs:
                group.start_soon(read, "flow", run["id"])
            for task_run in task_runs:
                group.start_soon(read, "task", task_run["id"])
    return {"flow_runs": flow_runs, "task_runs": task_runs, "logs": logs, "states": states}


def records_problems(records: dict[str, Any], runs: int) -> dict[str, Any]:
    """Lost and duplicated records of a row of `runs` flow runs, by kind."""
    by_index: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for run in records["flow_runs"]:
        by_index[int(run["parameters"].get("index", -1))].append(run)
    tasks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for task_run in records["task_runs"]:
        tasks[task_run["flow_run_id"]].append(task_run)
    lines: Counter[str] = Counter(
        log["flow_run_id"] for log in records["logs"] if log["message"].startswith("engine load ")
    )
    states = records["states"]
    problems: Counter[str] = Counter()
    for index in range(runs):
        copies = by_index.get(index, [])
        if not copies:
            problems["lost flow runs"] += 1
            continue
        problems["duplicated flow runs"] += len(copies) - 1
        run = copies[0]
        if states.get(run["id"]) != _STATES:
            problems["flow runs without Pending, Running, Completed"] += 1
        mine = tasks.get(run["id"], [])
        problems["lost task runs"] += max(TASKS_PER_FLOW_RUN - len(mine), 0)
        problems["duplicated task runs"] += max(len(mine) - TASKS_PER_FLOW_RUN, 0)
        problems["task runs without Pending, Running, Completed"] += sum(
            states.get(task_run["id"]) != _STATES for task_run in mine
        )
        problems["lost log lines"] += lines[run["id"]] == 0
        problems["duplicated log lines"] += max(lines[run["id"]] - 1, 0)
    found = {kind: n for kind, n in problems.items() if n}
    return {"problems": found, "lost": _sum(found, "lost"), "duplicated": _sum(found, "duplicated")}


def _sum(problems: dict[str, int], word: str) -> int:
    return sum(n for kind, n in problems.items() if kind.startswith(word))


async def check_records(
    api_url: str, tag: str, runs: int, deadline: float = 120.0
) -> dict[str, Any]:
    """`records_problems` once the records are complete, or at `deadline` seconds (read
    again each second meanwhile: Prefect's recorder writes task runs after the fact)."""
    give_up = time.monotonic() + deadline
    while True:
        checked = records_problems(await read_records(api_url, tag), runs)
        checked["waited_s"] = round(deadline - (give_up - time.monotonic()), 1)
        if not checked["problems"] or time.monotonic() >= give_up:
            return checked
        await anyio.sleep(1.0)
