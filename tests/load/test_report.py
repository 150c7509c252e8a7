"""The load table's arithmetic: median rounds, per-round ratios and the per-row limit.

The table is what the README quotes, so its numbers must mean what its notes say.
"""

from __future__ import annotations

from typing import Any

from tests.load.engine_records import records_problems
from tests.load.harness import engine_table, table


def fake_row(client: str, round_index: int, wall: float, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "client": client,
        "round": round_index,
        "concurrency": 16,
        "wall_s": wall,
        "runs": 200,
        "lost": 0,
        "stored": 200,
        "duplicates": 0,
        "status_503": 0,
        "status_429": 0,
        "retries": 0,
        "calls": {"POST /flow_runs/": 1000, "POST /task_runs/": 1000},
        "requests_total": 2000,
        "server_cpu_s": wall * 0.5,
        "client_cpu_s": 1.0,
        "latency_all_ms": {"n": 2000, "mean": 10.0},
    }
    row.update(extra)
    return row


def cells(lines: list[str], client: str) -> list[str]:
    (line,) = [line for line in lines if line.startswith(f"| {client} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_a_row_shows_its_median_round_and_the_median_of_same_round_ratios() -> None:
    rows = [
        fake_row("prefect", 0, 100.0),
        fake_row("trio", 0, 50.0),  # ratio 2.0
        fake_row("prefect", 1, 40.0),
        fake_row("trio", 1, 40.0),  # ratio 1.0
        fake_row("prefect", 2, 90.0),
        fake_row("trio", 2, 30.0, lost=3),  # ratio 3 x 197/200
    ]
    lines, _ = table(rows)
    trio = cells(lines, "trio")
    assert trio[2] == "40.0 (30.0-50.0)"  # the median round, then the range
    assert trio[4] == "3"  # lost: summed over the rounds
    assert trio[-1] == "2.00"  # the median of 2.0, 1.0 and 2.955, not a ratio of medians
    prefect = cells(lines, "prefect")
    assert prefect[2] == "90.0 (40.0-100.0)"
    assert prefect[-1] == ""


def test_the_limit_is_the_rows_own_useful_server_time() -> None:
    # 2000 calls in 2500 requests: a fifth of the server's 40 s went to refused requests
    row = fake_row("prefect", 0, 80.0, requests_total=2500, server_cpu_s=40.0)
    lines, limits = table([row, fake_row("trio", 0, 20.0, server_cpu_s=10.0)])
    prefect = cells(lines, "prefect")
    assert prefect[15] == "32.0"  # 40 s x 2000 / 2500
    assert prefect[16] == "2.50"  # 80 / 32
    assert limits["cpu_per_run"] == 10.0 / 200  # the least any row needed
    assert prefect[17] == "8.00"  # wall over 200 runs x 50 ms


# --- the engine table (issue 15) ------------------------------------------------------


def engine_row(client: str, round_index: int, wall: float, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": "engine",
        "client": client,
        "round": round_index,
        "concurrency": 20,
        "runs": 100,
        "failed": 0,
        "wall_s": wall,
        "requests": {"POST /flow_runs/": 100, "POST /flow_runs/{id}/set_state": 200},
        "problems": {},
        "lost": 0,
        "duplicated": 0,
    }
    row.update(extra)
    return row


def test_the_engine_table_shows_median_rates_and_same_round_ratios() -> None:
    rows = [
        engine_row("prefect", 0, 50.0),  # 2 runs/s
        engine_row("trio", 0, 10.0),  # 10 runs/s: ratio 5
        engine_row("prefect", 1, 100.0),  # 1 run/s
        engine_row("trio", 1, 25.0, failed=20),  # 80 returned: 3.2 runs/s, ratio 3.2
        engine_row("prefect", 2, 25.0),  # 4 runs/s
        engine_row(
            "trio",
            2,
            20.0,  # 5 runs/s: ratio 1.25
            requests={"POST /flow_runs/": 400},
            problems={"lost task runs": 2, "duplicated log lines": 1},
            lost=2,
            duplicated=1,
        ),
    ]
    lines = engine_table(rows)
    trio = cells(lines, "trio")
    assert trio[2] == "5.00 (3.20-10.00)"  # the median round's rate, then the range
    assert trio[3] == "3.00"  # requests per flow run: the median of 3, 3 and 4
    assert (trio[4], trio[5]) == ("2", "1")  # summed over the rounds
    assert trio[6] == "duplicated log lines: 1; lost task runs: 2"
    assert trio[7] == "3.20"  # the median of 5, 3.2 and 1.25: not a ratio of medians
    prefect = cells(lines, "prefect")
    assert prefect[2] == "2.00 (1.00-4.00)"
    assert (prefect[6], prefect[7]) == ("all as expected", "")


def test_the_records_check_counts_lost_and_duplicated_records() -> None:
    def run(index: int, run_id: str) -> dict[str, Any]:
        return {"id": run_id, "parameters": {"index": index}}

    done = ["PENDING", "RUNNING", "COMPLETED"]
    records = {
        # index 0 twice, index 1 fine, index 2 lost
        "flow_runs": [run(0, "a"), run(0, "a2"), run(1, "b")],
        "task_runs": [
            *({"id": f"a{k}", "flow_run_id": "a"} for k in range(3)),  # one too many
            {"id": "b0", "flow_run_id": "b"},  # one lost
        ],
        "logs": [
            {"flow_run_id": "a", "message": "engine load 0"},
            {"flow_run_id": "b", "message": "Beginning flow run"},  # not the program's line
        ],
        "states": {"a": done, "b": done[1:], "a0": done, "a1": done, "a2": done, "b0": done},
    }
    checked = records_problems(records, runs=3)
    assert checked["problems"] == {
        "lost flow runs": 1,
        "duplicated flow runs": 1,
        "duplicated task runs": 1,
        "lost task runs": 1,
        "lost log lines": 1,
        "flow runs without Pending, Running, Completed": 1,
    }
    assert (checked["lost"], checked["duplicated"]) == (3, 2)
