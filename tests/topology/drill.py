"""Failure drills on the topology (issue 16): the load workload through the proxy while
one part fails partway in, then the stored runs are read back and counted.

Each row is one `python -m tests.load.harness row` (ours on trio or asyncio, or Prefect's
client in its own virtualenv): the same workload, read-back and counts as `nox -s load`.
This module only picks the proxy, times the failure, restores the topology between rows
and prints the table. The drills:

- ``replica-kill``: API replica 0 SIGKILLed (its in-flight requests get no answer);
- ``postgres-restart``: PostgreSQL stopped (fast: connections cut) and started 5 s later;
- ``redis-restart``: Redis stopped and started 2 s later, empty;
- ``idle-cut``: no failure, but through the proxy that closes connections idle for 1 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.topology.config import Layout
from tests.topology.rows import publish
from tests.topology.stack import Topology

__all__ = ["DRILLS", "Drill", "DrillOptions", "drill_table", "run_drills"]

REPOSITORY = Path(__file__).resolve().parent.parent.parent
OURS = ("trio", "asyncio")


@dataclass(frozen=True)
class Drill:
    name: str
    #: What happens, for the table's header.
    what: str
    #: The API URL the clients use.
    url: Callable[[Layout], str]
    #: The failure, started ``fail_at`` of the way into a row; None: the proxy is the drill.
    fail: Callable[[Topology], None] | None


DRILLS = {
    drill.name: drill
    for drill in (
        Drill(
            "replica-kill",
            "API replica 0 SIGKILLed",
            lambda layout: layout.api_url,
            lambda topology: topology.kill_replica(0),
        ),
        Drill(
            "postgres-restart",
            "PostgreSQL stopped (-m fast), started again 5 s later",
            lambda layout: layout.api_url,
            lambda topology: topology.restart_postgres(down_for=5.0),
        ),
        Drill(
            "redis-restart",
            "Redis stopped, started again (empty) 2 s later",
            lambda layout: layout.api_url,
            lambda topology: topology.restart_redis(down_for=2.0),
        ),
        Drill(
            "idle-cut",
            "the proxy closes connections idle for 1 s (and after 20 requests)",
            lambda layout: layout.api_url_idle_cut,
            None,
        ),
    )
}


@dataclass(frozen=True)
class DrillOptions:
    clients: list[str]
    runs: int
    concurrency: int
    #: The failure starts once this fraction of the row's flow runs were created (so
    #: the workload runs, whatever the machine's speed made of the driver's start-up).
    fail_at: float
    #: A python with Prefect (and not our package), for Prefect's client.
    prefect_python: str | None
    markdown: Path | None = None


def _restore(topology: Topology) -> None:
    """Every part running again after the last row's failure."""
    if topology.pid("postgres") is None:
        topology.start_postgres()
    if topology.pid("redis") is None:
        topology.start_redis()
    for index in range(len(topology.layout.ports.replicas)):
        if topology.pid(f"replica-{index}") is None:
            topology.start_replica(index)


#: Runs the workload makes before its timed part (tests/load/workload.py's ``warmup``).
WARMUP_RUNS = 2


def _flow_runs(topology: Topology) -> int:
    """How many flow runs the database holds, asked of the last replica directly."""
    request = urllib.request.Request(
        f"{topology.layout.replica_urls[-1]}/flow_runs/count",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return int(answer.read())


def _progressed(topology: Topology, driver: subprocess.Popen[bytes], target: int) -> bool:
    """Wait until the database holds ``target`` flow runs; False if the driver ended first."""
    while driver.poll() is None:
        if _flow_runs(topology) >= target:
            return True
        time.sleep(0.1)
    return False


def _row(
    topology: Topology, options: DrillOptions, drill: Drill, client: str, results: Path
) -> float | None:
    """Run one row, starting the failure ``fail_at`` of the way in; return how many
    seconds after the driver started it did (None: no failure, or the row ended first)."""
    command = [
        sys.executable,
        *("-m", "tests.load.harness", "row", "--client", client),
        *("--runs", str(options.runs), "--concurrency", str(options.concurrency)),
        *("--api-url", drill.url(topology.layout), "--results", str(results)),
    ]
    if options.prefect_python:
        command += ["--prefect-python", options.prefect_python]
    baseline = _flow_runs(topology)
    # The warm-up's runs, then the share of the row's.
    target = baseline + WARMUP_RUNS + max(1, round(options.fail_at * options.runs))
    started = time.monotonic()
    driver = subprocess.Popen(command, cwd=REPOSITORY)
    failed_at: float | None = None
    try:
        if drill.fail is not None and _progressed(topology, driver, target):
            failed_at = time.monotonic() - started
            drill.fail(topology)
            print(f"drill {drill.name}: {failed_at:.1f} s into the {client} row", flush=True)
    finally:
        try:
            code = driver.wait()
        except BaseException:
            driver.kill()
            driver.wait()
            raise
    if code != 0:
        raise RuntimeError(f"the {client} row's driver exited with {code} ({drill.name})")
    return failed_at


def drill_table(rows: list[dict[str, Any]]) -> list[str]:
    """One markdown line per row: what was lost, duplicated or retried."""
    lines = [
        "| drill | client | runs | C | failure at s | wall s | lost | dup flow runs "
        "| task runs lost / dup | log lines lost / dup | gave up | 500s | 502s | 503s "
        "| retries |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        failed = row.get("failed_at_s")
        stored = row["read_back"]
        statuses = row["status_totals"]
        lines.append(
            f"| {row.get('drill', '')} | {row['client']} | {row['runs']} | {row['concurrency']} "
            f"| {'-' if failed is None else f'{failed:.1f}'} | {row['wall_s']:.1f} "
            f"| {row['lost']} | {row['duplicates']} "
            f"| {stored.get('task_runs_lost', '?')} / {stored.get('task_runs_duplicated', '?')} "
            f"| {stored.get('log_lines_lost', '?')} / {stored.get('log_lines_duplicated', '?')} "
            f"| {row['gave_up']} | {statuses.get('500', 0)} | {statuses.get('502', 0)} "
            f"| {row['status_503']} | {row['retries']} |"
        )
    return lines


def _duplicated(row: dict[str, Any]) -> int:
    """Flow runs, task runs and log lines stored more than once."""
    stored = row["read_back"]
    return int(
        row["duplicates"]
        + stored.get("task_runs_duplicated", 0)
        + stored.get("log_lines_duplicated", 0)
    )


def run_drills(topology: Topology, drills: list[str], options: DrillOptions) -> int:
    """Run each drill for each client; print the table. Returns 1 when our client lost a
    flow run, duplicated a flow run, task run or log line, or a failure never happened."""
    unknown = sorted(set(drills) - set(DRILLS))
    if unknown:
        raise ValueError(f"unknown drills {unknown}: choose from {sorted(DRILLS)}")
    if "prefect" in options.clients and not options.prefect_python:
        raise ValueError("the prefect client needs prefect_python (a python with Prefect)")
    results = topology.root / "drill-rows.jsonl"
    results.unlink(missing_ok=True)
    done: list[tuple[Drill, float | None]] = []
    for name in drills:
        for client in options.clients:
            _restore(topology)
            done.append((DRILLS[name], _row(topology, options, DRILLS[name], client, results)))
    rows = [json.loads(line) for line in results.read_text().splitlines() if line]
    for row, (drill, at) in zip(rows, done, strict=True):
        row["drill"] = drill.name
        row["failed_at_s"] = at
    lines = [
        f"Failure drills: {options.runs} flow runs per row at concurrency "
        f"{options.concurrency} through nginx over {len(topology.layout.ports.replicas)} "
        f"API replicas (PostgreSQL, Redis, services); the failure starts once "
        f"{options.fail_at:.0%} of a row's flow runs were created (the time is counted from "
        "the start of the row's driver process).",
        "",
        *(f"- {DRILLS[name].name}: {DRILLS[name].what}" for name in drills),
        "",
        *drill_table(rows),
    ]
    publish("\n".join(lines) + "\n", options.markdown)
    bad = [
        f"{drill.name} {row['client']}"
        for row, (drill, at) in zip(rows, done, strict=True)
        if row["client"] in OURS
        and (row["lost"] or _duplicated(row) or (drill.fail is not None and at is None))
    ]
    if bad:
        print(f"drills FAILED for ours: {', '.join(bad)} (lost, duplicated, or no failure)")
        return 1
    return 0
