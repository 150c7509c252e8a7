"""The read-back's counts of lost and duplicated task runs and log lines (issue 16's drills
count them, not only flow runs)."""

from __future__ import annotations

from typing import Any

from tests.load.workload import record_counts


def _tasks(run_id: str, *keys: int) -> list[dict[str, Any]]:
    return [{"flow_run_id": run_id, "dynamic_key": str(k)} for k in keys]


def _logs(run_id: str, *lines: int) -> list[dict[str, Any]]:
    return [{"flow_run_id": run_id, "message": f"line {j}"} for j in lines]


def test_complete_runs_count_nothing() -> None:
    expected = {"r-0": [{"id": "a"}]}
    counts = record_counts(expected, {"a": _tasks("a", 0, 1)}, {"a": _logs("a", 0, 1, 2)})
    assert set(counts.values()) == {0}


def test_lost_and_duplicated_records_are_counted_per_flow_run() -> None:
    expected = {
        "r-0": [{"id": "a"}],  # a task run stored twice, a log line missing
        "r-1": [],  # never stored: its task runs and lines are all lost
        "r-2": [{"id": "b"}, {"id": "c"}],  # a duplicated flow run, each with its own records
    }
    task_runs = {"a": _tasks("a", 0, 1, 1), "b": _tasks("b", 0, 1), "c": _tasks("c", 0)}
    logs = {"a": _logs("a", 0, 1), "b": _logs("b", 0, 1, 2, 2), "c": _logs("c", 0, 1, 2)}
    assert record_counts(expected, task_runs, logs) == {
        "task_runs_lost": 2,
        "task_runs_duplicated": 1,
        "log_lines_lost": 1 + 3,
        "log_lines_duplicated": 1,
    }
