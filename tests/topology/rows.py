"""The load table's rows on the topology (issue 16), and what the topology itself can serve.

The rows are `nox -s load`'s own (``python -m tests.load.harness row`` and ``engine-row``,
through the proxy), so the table and its ratios come from the harness's report. Each row
also measures, over its timed part, the CPU time of every part of the topology (``--part``:
each replica, the services, PostgreSQL, Redis, nginx, each with its children), from which
`limit_table` says how fast the topology could have done that row's work:

- a replica is one Python process, so it serves at most one core's worth: the busiest
  replica's CPU time is a floor on the wall time;
- the topology's parts share the machine's cores: their CPU time over the cores is another;
- the topology's limit is the larger of the two, and wall / limit how close the client came
  to it. The same with the client's own CPU added to the shared cores says what this one
  machine (client and topology on the same cores) could have done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.load.harness import Setting, render
from tests.topology.stack import Topology

__all__ = ["LoadOptions", "harness", "limit_table", "parts", "publish", "run_load"]

REPOSITORY = Path(__file__).resolve().parent.parent.parent
OURS = ("trio", "asyncio")


@dataclass(frozen=True)
class LoadOptions:
    #: Prefect's client ("prefect") and ours ("trio", "asyncio"), in this order per C.
    clients: list[str]
    #: A python with Prefect (and not our package), for Prefect's client and engine.
    prefect_python: str | None
    runs: int = 200
    concurrencies: list[int] = field(default_factory=lambda: [16, 64])
    engine_runs: int = 100
    engine_concurrencies: list[int] = field(default_factory=lambda: [20])
    markdown: Path | None = None


def parts(topology: Topology) -> dict[str, int]:
    """The pid of every running part of the topology, by name."""
    names = [f"replica-{i}" for i in range(len(topology.layout.ports.replicas))]
    names += ["services", "postgres", "redis", "proxy"]
    found = {name: topology.pid(name) for name in names}
    return {name: pid for name, pid in found.items() if pid is not None}


def harness(
    topology: Topology,
    command: str,
    *,
    client: str,
    runs: int,
    concurrency: int,
    api_url: str,
    results: Path,
    prefect_python: str | None,
) -> None:
    """One ``python -m tests.load.harness row|engine-row``, appending to ``results``.

    Raises:
        RuntimeError: the harness exited with an error (its output says why).
    """
    argv = [
        sys.executable,
        *("-m", "tests.load.harness", command, "--client", client),
        *("--runs", str(runs), "--concurrency", str(concurrency)),
        *("--api-url", api_url, "--results", str(results)),
        *(f"--part={name}={pid}" for name, pid in parts(topology).items()),
    ]
    if prefect_python:
        argv += ["--prefect-python", prefect_python]
    code = subprocess.run(argv, cwd=REPOSITORY, check=False).returncode
    if code != 0:
        raise RuntimeError(f"the {client} {command} (C={concurrency}) exited with {code}")


def _requests(row: dict[str, Any]) -> int:
    """HTTP requests of the row's timed part (an engine row counts them to its exit)."""
    if row.get("kind") == "engine":
        return int(sum(row["requests"].values()))
    return int(row["requests_total"])


def _bounds(row: dict[str, Any], cores: int) -> dict[str, float]:
    cpu: dict[str, float] = row.get("parts_cpu_s") or {}
    replicas = [seconds for name, seconds in cpu.items() if name.startswith("replica-")]
    topology = sum(cpu.values())
    shared = topology / cores
    busiest = max(replicas, default=0.0)
    return {
        "replicas": sum(replicas),
        "busiest": busiest,
        "topology": topology,
        "limit": max(busiest, shared),
        "machine": max(busiest, (topology + float(row["client_cpu_s"])) / cores),
    }


LIMIT_COLUMNS = [
    "row",
    "client",
    "C",
    "wall s",
    "requests",
    "replica CPU ms/request",
    "busiest replica CPU s",
    "topology CPU s",
    "client CPU s",
    "topology limit s",
    "wall/limit",
    "machine limit s",
    "wall/machine",
]


def limit_table(rows: list[dict[str, Any]], cores: int | None = None) -> list[str]:
    """Per row, the topology's CPU for its work and the wall-time floors it sets (the
    module's docstring); rows measured without ``--part`` are left out."""
    cores = cores or os.cpu_count() or 1
    lines = [
        "| " + " | ".join(LIMIT_COLUMNS) + " |",
        "|" + "|".join("---" if i < 2 else "--:" for i in range(len(LIMIT_COLUMNS))) + "|",
    ]
    for row in rows:
        if not row.get("parts_cpu_s"):
            continue
        bound = _bounds(row, cores)
        requests = _requests(row)
        wall = float(row["wall_s"])
        cells = [
            "engine" if row.get("kind") == "engine" else "raw",
            row["client"],
            str(row["concurrency"]),
            f"{wall:.1f}",
            str(requests),
            f"{bound['replicas'] / requests * 1000:.1f}" if requests else "",
            f"{bound['busiest']:.1f}",
            f"{bound['topology']:.1f}",
            f"{row['client_cpu_s']:.1f}",
            f"{bound['limit']:.1f}",
            f"{wall / bound['limit']:.2f}" if bound["limit"] else "",
            f"{bound['machine']:.1f}",
            f"{wall / bound['machine']:.2f}" if bound["machine"] else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _limit_notes(cores: int) -> list[str]:
    return [
        "- topology CPU s: CPU time of the replicas, the services, PostgreSQL, Redis and "
        "nginx (each with its children, from /proc) during the row's timed part; replica "
        "CPU ms/request: the replicas' share per HTTP request.",
        "- topology limit s: the least wall time the topology needed for this work, the "
        "larger of the busiest replica's CPU time (one Python process: at most one core) "
        f"and the topology's CPU time over the machine's {cores} cores. wall/limit: how "
        "close the client came to what the topology itself can serve.",
        "- machine limit s: the same with the client's CPU time added to the shared cores "
        "(client and topology run on this one machine).",
    ]


def _others(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its "other" CPU (the rest of the machine) less the topology's parts,
    which the harness counts there since it measured no server process of its own."""
    if row.get("server_cpu_s") is None and "other_cpu_s" in row:
        row["other_cpu_s"] -= sum((row.get("parts_cpu_s") or {}).values())
    return row


def run_load(topology: Topology, options: LoadOptions) -> int:
    """The raw-client rows at each C, then the engine rows, through the proxy; print the
    harness's table and the topology's limits. Returns 1 when ours lost or duplicated
    anything, else 0."""
    if "prefect" in options.clients and not options.prefect_python:
        raise ValueError("Prefect's client needs prefect_python (a python with Prefect)")
    results = topology.root / "load-rows.jsonl"
    results.unlink(missing_ok=True)

    def one(command: str, client: str, runs: int, concurrency: int) -> None:
        harness(
            topology,
            command,
            client=client,
            runs=runs,
            concurrency=concurrency,
            api_url=topology.layout.api_url,
            results=results,
            prefect_python=options.prefect_python,
        )

    for concurrency in options.concurrencies:
        for client in options.clients:
            one("row", client, options.runs, concurrency)
    for concurrency in options.engine_concurrencies:
        for client in options.clients:
            one("engine-row", client, options.engine_runs, concurrency)
    rows = [_others(json.loads(line)) for line in results.read_text().splitlines() if line]
    cores = os.cpu_count() or 1
    replicas = len(topology.layout.ports.replicas)
    where = (
        f"the topology through nginx round-robin over {replicas} `prefect server start "
        "--no-services` replicas on one PostgreSQL, with Redis and `prefect server services "
        "start` (tests/topology), the same for every row"
    )
    setting = Setting(
        by="`python -m tests.topology run --load` (`nox -s topology`)",
        server=where,
        engine_server=where,
    )
    text = "\n".join(
        [
            render(rows, setting),
            "## What the topology itself can serve",
            "",
            *limit_table(rows, cores),
            "",
            *_limit_notes(cores),
            "",
        ]
    )
    publish(text, options.markdown)
    bad = [
        f"{row.get('kind', 'raw')} {row['client']} C={row['concurrency']}"
        for row in rows
        if row["client"] in OURS
        and (row["lost"] or row.get("duplicates", 0) or row.get("duplicated", 0))
    ]
    if bad:
        print(f"load rows FAILED for ours (lost or duplicated): {', '.join(bad)}", flush=True)
        return 1
    return 0


def publish(text: str, markdown: Path | None) -> None:
    """Print a report, and write it to `markdown` when one was asked for."""
    print(text, flush=True)
    if markdown is not None:
        markdown.write_text(text, encoding="utf-8")
