"""The replica-kill drill (issue 16): the load workload through the proxy while one API
replica is SIGKILLed partway in, then the stored runs are read back and counted.

Each row is one `python -m tests.load.harness row` (ours on trio or asyncio, or Prefect's
client in its own virtualenv): the same workload, read-back and counts as `nox -s load`.
This module only times the kill, restarts the replica between rows and prints the table.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.topology.stack import Topology

__all__ = ["DrillOptions", "drill_table", "replica_kill_drill"]

REPOSITORY = Path(__file__).resolve().parent.parent.parent
#: The replica the drill kills.
VICTIM = 0
OURS = ("trio", "asyncio")


@dataclass(frozen=True)
class DrillOptions:
    clients: list[str]
    runs: int
    concurrency: int
    #: Seconds after a row's driver starts at which the replica is killed.
    kill_after: float
    #: A python with Prefect (and not our package), for Prefect's client.
    prefect_python: str | None
    markdown: Path | None = None


def _row(topology: Topology, options: DrillOptions, client: str, results: Path) -> float | None:
    """Run one row, killing the victim ``kill_after`` seconds in; return when it was
    killed (None: the row ended first)."""
    command = [
        sys.executable,
        *("-m", "tests.load.harness", "row", "--client", client),
        *("--runs", str(options.runs), "--concurrency", str(options.concurrency)),
        *("--api-url", topology.layout.api_url, "--results", str(results)),
    ]
    if options.prefect_python:
        command += ["--prefect-python", options.prefect_python]
    started = time.monotonic()
    driver = subprocess.Popen(command, cwd=REPOSITORY)
    killed_at: float | None = None
    try:
        driver.wait(timeout=options.kill_after)
    except subprocess.TimeoutExpired:
        topology.kill_replica(VICTIM)
        killed_at = time.monotonic() - started
        print(f"drill: replica {VICTIM} killed {killed_at:.1f} s into the {client} row", flush=True)
    finally:
        try:
            code = driver.wait()
        except BaseException:
            driver.kill()
            driver.wait()
            raise
    if code != 0:
        raise RuntimeError(f"the {client} row's driver exited with {code}")
    return killed_at


def drill_table(rows: list[dict[str, Any]]) -> list[str]:
    """One markdown line per row: what was lost, duplicated or retried."""
    lines = [
        "| client | runs | C | replica killed at s | wall s | lost | dup flow runs "
        "| extra logs | gave up | 502s | 503s | retries |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        killed = row.get("killed_at_s")
        lines.append(
            f"| {row['client']} | {row['runs']} | {row['concurrency']} "
            f"| {'-' if killed is None else f'{killed:.1f}'} | {row['wall_s']:.1f} "
            f"| {row['lost']} | {row['duplicates']} "
            f"| {row['read_back'].get('runs_with_extra_logs', 0)} | {row['gave_up']} "
            f"| {row['status_totals'].get('502', 0)} | {row['status_503']} | {row['retries']} |"
        )
    return lines


def replica_kill_drill(topology: Topology, options: DrillOptions) -> int:
    """Run the drill for each client; print the table. Returns 1 when our client lost or
    duplicated a flow run (or the replica was never killed), else 0."""
    if "prefect" in options.clients and not options.prefect_python:
        raise ValueError("the prefect client needs prefect_python (a python with Prefect)")
    results = topology.root / "drill-rows.jsonl"
    results.unlink(missing_ok=True)
    killed: list[float | None] = []
    for client in options.clients:
        for index in range(len(topology.layout.ports.replicas)):
            if topology.pid(f"replica-{index}") is None:
                topology.start_replica(index)  # the last row killed it
        killed.append(_row(topology, options, client, results))
    rows = [json.loads(line) for line in results.read_text().splitlines() if line]
    for row, at in zip(rows, killed, strict=True):
        row["killed_at_s"] = at
    lines = [
        f"Replica-kill drill: {options.runs} flow runs per row at concurrency "
        f"{options.concurrency} through nginx over {len(topology.layout.ports.replicas)} "
        f"replicas (PostgreSQL, Redis); replica {VICTIM} SIGKILLed "
        f"{options.kill_after:g} s into each row.",
        "",
        *drill_table(rows),
    ]
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    if options.markdown is not None:
        options.markdown.write_text(text, encoding="utf-8")
    bad = [
        r["client"]
        for r, at in zip(rows, killed, strict=True)
        if r["client"] in OURS and (r["lost"] or r["duplicates"] or at is None)
    ]
    if bad:
        print(f"drill: FAILED for {', '.join(bad)} (lost, duplicated, or no kill)", flush=True)
        return 1
    return 0
