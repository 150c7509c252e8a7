"""The faults workload's own checks: its targets can fail, and a small run meets them."""

from __future__ import annotations

import pytest

from tests.faults.run import Row, main, table


def test_a_row_misses_a_target_when_it_should() -> None:
    row = Row("embedded", "trio", runs=10, concurrency=2, rate=0.3, stored=10)
    assert row.missed() == []
    for change, says in [
        ({"stored": 9}, "9 of 10 flow runs stored"),
        ({"duplicates": 1}, "1 duplicate flow runs"),
        ({"duplicate_task_runs": 2}, "2 duplicate task runs"),
        ({"broken_task_runs": 1}, "broken histories: 0 flow runs, 1 task runs"),
        ({"broken_flow_runs": 3}, "broken histories: 3 flow runs, 0 task runs"),
        ({"runs_missing_task_runs": 1}, "1 flow runs missing task runs"),
        ({"gave_up": 1}, "1 runs given up"),
    ]:
        broken = Row("embedded", "trio", runs=10, concurrency=2, rate=0.3, stored=10)
        for name, value in change.items():
            setattr(broken, name, value)
        assert broken.missed() == [says]


def test_the_table_has_one_line_per_row() -> None:
    rows = [Row("embedded", b, runs=1, concurrency=1, rate=0.3, stored=1) for b in ("trio", "x")]
    rows[0].faults = {"503": 2, "tcp-stall": 1}
    lines = table(rows).splitlines()
    assert len(lines) == 4
    assert "3: 503 2, tcp-stall 1" in lines[2]


def test_a_small_run_meets_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--servers", "embedded", "--runs", "6", "--concurrency", "3", "--rate", "0.3"]
    argv += ["--retry-after", "0", "--stall-seconds", "0.01", "--check", "--seed", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| embedded | trio | 6 / 6 | 0 | 0 / 0 |" in out
    assert "| embedded | asyncio | 6 / 6 | 0 | 0 / 0 |" in out
