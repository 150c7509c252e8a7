"""The load table's arithmetic: median rounds, per-round ratios and the per-row limit.

The table is what the README quotes, so its numbers must mean what its notes say.
"""

from __future__ import annotations

from typing import Any

from tests.load.harness import table


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
