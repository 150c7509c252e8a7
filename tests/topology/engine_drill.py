"""The drill of a proxy that refuses websocket upgrades (issue 16, item 3), run by engines.

A common misconfiguration: the proxy answers the websocket upgrade of ``/events/in`` with
an error. Prefect's engine reports task runs only through events, so its task runs can
vanish while the flow runs complete; ours must get them recorded anyway. Each row is one
``python -m tests.load.harness engine-row`` (a `@flow` of 2 `@task`s and 1 log line) through
the topology's proxy that does not upgrade websockets; the harness reads the records back
(through the same proxy) and counts the lost and duplicated flow runs, task runs and log
lines, which this module prints as a table beside the other drills.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.topology.rows import harness, publish
from tests.topology.stack import Topology

__all__ = ["ENGINE_DRILLS", "EngineDrillOptions", "engine_drill_table", "run_engine_drills"]

OURS = ("trio", "asyncio")
#: The drills run by engines (not by the raw workload of tests/topology/drill.py).
ENGINE_DRILLS = {"refuse-upgrade": "the proxy answers websocket upgrades with 404"}


@dataclass(frozen=True)
class EngineDrillOptions:
    #: Engines: "prefect" (Prefect's, in ``prefect_python``), "trio" and "asyncio" (ours).
    clients: list[str]
    runs: int
    concurrency: int
    prefect_python: str | None
    markdown: Path | None = None


def _count(row: dict[str, Any], kind: str) -> int:
    return int(row["problems"].get(kind, 0))


def engine_drill_table(rows: list[dict[str, Any]]) -> list[str]:
    """One markdown line per engine row: its lost and duplicated records by kind."""
    lines = [
        "| drill | engine | runs | C | wall s | failed | lost flow runs | lost task runs "
        "| dup task runs | lost log lines | other problems |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    shown = {"lost flow runs", "lost task runs", "duplicated task runs", "lost log lines"}
    for row in rows:
        other = {kind: n for kind, n in row["problems"].items() if kind not in shown}
        lines.append(
            f"| {row.get('drill', '')} | {row['client']} | {row['runs']} | {row['concurrency']} "
            f"| {row['wall_s']:.1f} | {row['failed']} | {_count(row, 'lost flow runs')} "
            f"| {_count(row, 'lost task runs')} | {_count(row, 'duplicated task runs')} "
            f"| {_count(row, 'lost log lines')} "
            f"| {'; '.join(f'{k}: {n}' for k, n in sorted(other.items())) or '-'} |"
        )
    return lines


def run_engine_drills(topology: Topology, drills: list[str], options: EngineDrillOptions) -> int:
    """Run each engine drill with each engine; print the table. Returns 1 when our engine
    lost or duplicated a record (or a flow run failed), else 0."""
    unknown = sorted(set(drills) - set(ENGINE_DRILLS))
    if unknown:
        raise ValueError(f"unknown engine drills {unknown}: choose from {sorted(ENGINE_DRILLS)}")
    results = topology.root / "engine-drill-rows.jsonl"
    results.unlink(missing_ok=True)
    done: list[str] = []
    for name in drills:
        for client in options.clients:
            harness(
                topology,
                "engine-row",
                client=client,
                runs=options.runs,
                concurrency=options.concurrency,
                api_url=topology.layout.api_url_no_websocket,
                results=results,
                prefect_python=options.prefect_python,
            )
            done.append(name)
    rows = [json.loads(line) for line in results.read_text().splitlines() if line]
    for row, name in zip(rows, done, strict=True):
        row["drill"] = name
    lines = [
        f"Engine drills: {options.runs} flow runs of a `@flow` with 2 `@task`s and 1 log "
        f"line per row, {options.concurrency} in flight, records read back until complete "
        "or 120 s passed.",
        "",
        *(f"- {name}: {ENGINE_DRILLS[name]}" for name in drills),
        "",
        *engine_drill_table(rows),
    ]
    publish("\n".join(lines) + "\n", options.markdown)
    bad = [
        f"{row['drill']} {row['client']}"
        for row in rows
        if row["client"] in OURS and (row["lost"] or row["duplicated"] or row["failed"])
    ]
    if bad:
        print(f"engine drills FAILED for ours: {', '.join(bad)} (lost, duplicated or failed)")
        return 1
    return 0
