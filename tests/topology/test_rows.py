"""The topology's limit table and the engine drill's table, checked on made-up rows, and
the per-part CPU measure on this process."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.load.harness import Setting, render
from tests.load.test_report import fake_row
from tests.load.workload import parse_parts, process_tree_cpu, trees_cpu
from tests.topology.engine_drill import engine_drill_table
from tests.topology.rows import limit_table


def raw_row(**extra: Any) -> dict[str, Any]:
    """A raw-client row of the topology run: the load table's row, with each part's CPU."""
    row = fake_row("trio", 0, 20.0, calls={"POST /flow_runs/": 2000}, server_cpu_s=None)
    del row["round"]
    row.update(
        statuses={},
        failures=[],
        read_back={"incomplete": 0},
        client_cpu_s=4.0,
        source="commit abc",
        parts_cpu_s={
            "replica-0": 9.0,
            "replica-1": 7.0,
            "postgres": 6.0,
            "services": 1.0,
            "redis": 0.5,
            "proxy": 0.5,
        },
    )
    row.update(extra)
    return row


def cells(lines: list[str], client: str) -> list[str]:
    (line,) = [line for line in lines if f"| {client} |" in line]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_limit_is_the_busiest_replica_or_the_shared_cores() -> None:
    # 24 s of the topology's CPU on 2 cores: 12 s, above the busiest replica's 9 s
    lines = limit_table([raw_row()], cores=2)
    titles = [c.strip() for c in lines[0].strip("|").split("|")]
    row = dict(zip(titles, cells(lines, "trio"), strict=True))
    assert row["replica CPU ms/request"] == "8.0"  # (9 + 7) s over 2000 requests
    assert (row["busiest replica CPU s"], row["topology CPU s"]) == ("9.0", "24.0")
    assert (row["topology limit s"], row["wall/limit"]) == ("12.0", "1.67")
    assert (row["machine limit s"], row["wall/machine"]) == ("14.0", "1.43")  # + 4 s client
    # on 4 cores the busiest replica (one process, one core at most) is the floor
    lines = limit_table([raw_row()], cores=4)
    assert cells(lines, "trio")[9:11] == ["9.0", "2.22"]


def test_rows_measured_without_parts_are_left_out() -> None:
    lines = limit_table([raw_row(parts_cpu_s={}), raw_row(client="asyncio")], cores=2)
    assert len(lines) == 3
    assert "| asyncio |" in lines[2]


def test_an_engine_row_counts_every_request_the_program_sent() -> None:
    row = raw_row(kind="engine", requests={"POST /flow_runs/": 300, "POST /logs/": 100})
    assert cells(limit_table([row], cores=2), "trio")[:5] == ["engine", "trio", "16", "20.0", "400"]


def test_the_report_names_where_the_rows_were_measured() -> None:
    text = render([raw_row()], Setting(by="the topology run", server="nginx over replicas"))
    assert "by the topology run on" in text
    assert "nginx over replicas. Clients:" in text
    assert "SQLite" not in text
    # no single server process was measured: its columns and notes are left out
    assert "server CPU s" not in text
    assert "wall/least" not in text
    assert "| client | C | wall s | done/s |" in text


def test_the_engine_drill_table_counts_lost_task_runs_by_engine() -> None:
    rows = [
        {
            "drill": "refuse-upgrade",
            "client": "prefect",
            "runs": 50,
            "concurrency": 20,
            "wall_s": 12.5,
            "failed": 0,
            "problems": {"lost task runs": 100, "flow runs without Pending, Running, Completed": 1},
        },
        {
            "drill": "refuse-upgrade",
            "client": "trio",
            "runs": 50,
            "concurrency": 20,
            "wall_s": 6.0,
            "failed": 0,
            "problems": {},
        },
    ]
    lines = engine_drill_table(rows)
    assert cells(lines, "prefect")[5:] == [
        "0",
        "0",
        "100",
        "0",
        "0",
        "flow runs without Pending, Running, Completed: 1",
    ]
    assert cells(lines, "trio")[5:] == ["0", "0", "0", "0", "0", "-"]


def test_trees_cpu_reads_each_process_with_its_children() -> None:
    spent = trees_cpu({"me": os.getpid(), "init": 1})
    assert spent["me"] == pytest.approx(process_tree_cpu(os.getpid()), abs=0.05)
    assert spent["init"] >= spent["me"]  # every process descends from pid 1


def test_parts_are_name_equals_pid() -> None:
    assert parse_parts(["replica-0=12", "postgres=7"]) == {"replica-0": 12, "postgres": 7}
    with pytest.raises(ValueError, match="expected NAME=PID"):
        parse_parts(["replica-0"])
