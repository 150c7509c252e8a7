"""What a stress run prints: a progress bar while it runs, a summary table at the end.

With `rich` installed (``pip install 'prefect-trio-client[stress]'``) and stdout a
terminal, both are drawn by rich; otherwise the same facts come as plain lines, so the
tool works the same in CI logs and without the extra.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

__all__ = ["Check", "Output", "Report", "choose_output"]

Style = Literal["rich", "plain"]

#: How many problems a report keeps (the first ones are the ones to read).
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Check:
    """One invariant: PASS (True), FAIL (False), or not applicable (None)."""

    name: str
    ok: bool | None
    detail: str = ""

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.ok]


@dataclass
class Report:
    """The summary of one run: measured values, invariants, and the first problems seen."""

    title: str
    rows: list[tuple[str, object]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def row(self, name: str, value: object) -> None:
        self.rows.append((name, value))

    def check(self, name: str, ok: bool | None, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))

    def problem(self, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    @property
    def passed(self) -> bool:
        """No invariant failed (the exit status is 1 otherwise)."""
        return all(check.ok is not False for check in self.checks)


def rich_installed() -> bool:
    return importlib.util.find_spec("rich") is not None


def choose_output(requested: str, stream: TextIO) -> Style:
    """``auto`` is rich on a terminal when rich is installed, plain otherwise.

    Raises:
        SystemExit: ``rich`` was asked for and is not installed (the message says how).
    """
    if requested == "plain":
        return "plain"
    if requested == "rich":
        if not rich_installed():
            raise SystemExit(
                "--output rich needs the rich package: pip install 'prefect-trio-client[stress]'"
            )
        return "rich"
    return "rich" if stream.isatty() and rich_installed() else "plain"


class Output:
    """Progress and the final table on one stream, drawn by rich or as plain lines."""

    def __init__(self, style: Style, stream: TextIO | None = None) -> None:
        self.style = style
        self.stream = stream if stream is not None else sys.stdout
        self._total = 0
        self._done = 0
        self._next_line = 0
        self._label = ""
        self._progress: Any = None
        self._task: Any = None

    # -------------------------------------------------------------- progress

    def start(self, label: str, total: int) -> None:
        """Begin a progress bar of `total` steps."""
        self._label, self._total, self._done = label, total, 0
        self._next_line = max(total // 10, 1)
        if self.style == "rich":
            from rich.console import Console  # noqa: PLC0415  # an optional extra
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
            )
            self._progress.start()
            self._task = self._progress.add_task(label, total=total)
        else:
            self._line(f"{label}: 0/{total}")

    def advance(self, steps: int = 1) -> None:
        self._done += steps
        if self._progress is not None:
            self._progress.update(self._task, completed=self._done)
        elif self._done >= self._next_line or self._done == self._total:
            while self._next_line <= self._done:
                self._next_line += max(self._total // 10, 1)
            self._line(f"{self._label}: {self._done}/{self._total}")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -------------------------------------------------------------- the table

    def report(self, report: Report) -> None:
        if self.style == "rich":
            self._rich_report(report)
        else:
            self._plain_report(report)

    def _plain_report(self, report: Report) -> None:
        rows = [(name, str(value)) for name, value in report.rows]
        rows += [
            (f"invariant: {c.name}", c.verdict + (f" ({c.detail})" if c.detail else ""))
            for c in report.checks
        ]
        rows.append(("RESULT", "PASS" if report.passed else "FAIL"))
        width = max(len(name) for name, _ in rows)
        self._line(report.title)
        self._line(f"{'metric':<{width}}  value")
        self._line(f"{'-' * width}  {'-' * 12}")
        for name, value in rows:
            self._line(f"{name:<{width}}  {value}")
        for problem in report.problems:
            self._line(f"  violation: {problem}")

    def _rich_report(self, report: Report) -> None:
        from rich.console import Console  # noqa: PLC0415  # an optional extra
        from rich.table import Table  # noqa: PLC0415

        table = Table(title=report.title)
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in report.rows:
            table.add_row(name, str(value))
        table.add_section()
        colours = {True: "green", False: "bold red", None: "dim"}
        for check in report.checks:
            verdict = f"[{colours[check.ok]}]{check.verdict}[/]"
            detail = f" ({check.detail})" if check.detail else ""
            table.add_row(f"invariant: {check.name}", verdict + detail)
        table.add_section()
        result = "[green]PASS[/]" if report.passed else "[bold red]FAIL[/]"
        table.add_row("RESULT", result)
        console = Console(file=self.stream)
        console.print(table)
        for problem in report.problems:
            console.print(f"  violation: {problem}", markup=False)

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
