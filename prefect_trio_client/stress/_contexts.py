"""The ``contexts`` scenario (issue 14): what nested, concurrent client contexts cost.

N tasks each nest D `get_client()` contexts with one request (``GET /health``) at each
level, and all hold their innermost context open together before they unwind, so the
memory of every open context is measured at once. It reports CPU and memory per
context, connections opened, version checks sent and failures, and checks that every
shared connection (pool) is closed at the end, with no socket, task or lease left.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Any

import anyio

from prefect_trio_client._pool import async_registry
from prefect_trio_client.lifespan import current_lifespan_service
from prefect_trio_client.orchestration import get_client
from prefect_trio_client.stress._observe import (
    RequestCounter,
    count_sockets,
    count_tasks,
    resident_memory,
)
from prefect_trio_client.stress._options import Options
from prefect_trio_client.stress._report import Output, Report
from prefect_trio_client.stress._target import Target

__all__ = ["run_contexts"]


class _Contexts:
    def __init__(self, options: Options, output: Output, report: Report) -> None:
        self.options = options
        self.output = output
        self.report = report
        self.counter = RequestCounter()
        self.settings: dict[str, Any] = {"event_hooks": self.counter.async_hooks()}
        self.opened = 0
        self.closed = 0
        self.failures = 0
        self.arrived = 0
        self.all_in = anyio.Event()
        self.cpu_before = 0.0
        self.cpu_entered = 0.0  # CPU from the start until every context was open
        self.memory_before = 0
        self.memory_held = 0  # resident memory while every context is open

    async def user(self, index: int) -> None:
        arrived = False
        try:
            arrived = await self.nest(index, 1)
        except Exception as exc:
            self.failures += 1
            self.report.problem(f"task {index}: {exc!r}")
        finally:
            if not arrived:
                self.arrive()
            self.output.advance()

    async def nest(self, index: int, level: int) -> bool:
        client = get_client(httpx_settings=self.settings)
        self.opened += 1
        try:
            async with client:
                error = await client.api_healthcheck()
                if error is not None:
                    self.failures += 1
                    self.report.problem(f"task {index} level {level}: {error!r}")
                if level < self.options.depth:
                    return await self.nest(index, level + 1)
                self.arrive()
                await self.all_in.wait()
                return True
        finally:
            if client._closed:
                self.closed += 1

    def arrive(self) -> None:
        """One more task is in its innermost context; the last one measures and lets
        everybody leave."""
        self.arrived += 1
        if self.arrived == self.options.tasks:
            self.cpu_entered = time.process_time() - self.cpu_before
            self.memory_held = resident_memory()
            self.all_in.set()


async def run_contexts(options: Options, target: Target, output: Output) -> Report:
    """Run the scenario and return its report."""
    report = Report("prefect_trio_client.stress: contexts")
    async with get_client() as client:  # warm-up: the loop's lifespan service, settings
        await client.api_healthcheck()
    run = _Contexts(options, output, report)
    registry = async_registry()
    before = _Snapshot.take(target)
    await anyio.wait_all_tasks_blocked()
    tasks_before, sockets_before = count_tasks(), count_sockets()
    gc.collect()
    run.memory_before = resident_memory()
    run.cpu_before = time.process_time()
    started = anyio.current_time()
    output.start("tasks", options.tasks)
    try:
        async with anyio.create_task_group() as task_group:
            for index in range(options.tasks):
                task_group.start_soon(run.user, index)
    finally:
        output.stop()
    wall = anyio.current_time() - started
    cpu = time.process_time() - run.cpu_before
    await anyio.wait_all_tasks_blocked()
    after = _Snapshot.take(target)
    opened, closed = after.opened - before.opened, after.closed - before.closed
    _describe(report, options, target, run, wall, cpu, opened, after.served - before.served)

    report.check("no request failed", run.failures == 0, f"{run.failures} failed")
    report.check(
        "every pool closed",
        opened == closed and len(registry) == 0,
        f"{opened} opened, {closed} closed",
    )
    sockets_after = count_sockets()
    socket_detail = "no /proc" if sockets_before is None else f"{sockets_before} -> {sockets_after}"
    report.check("no leaked sockets", sockets_before == sockets_after, socket_detail)
    tasks_after = count_tasks()
    report.check("no leaked tasks", tasks_before == tasks_after, f"{tasks_before} -> {tasks_after}")
    report.check("every client closed", run.opened == run.closed, f"{run.opened - run.closed} open")
    if target.app is not None:
        held = current_lifespan_service().refcount(target.app)
        report.check("no lifespan lease left", held == 0 and target.app.running_loops() == 0)
        report.check(
            "no request outside a started lifespan",
            target.app.request_violations == 0,
            f"{target.app.request_violations} outside",
        )
        for problem in target.app.violations:
            report.problem(problem)
    return report


@dataclass(frozen=True)
class _Snapshot:
    """The counters a run compares before and after."""

    opened: int
    closed: int
    served: int

    @classmethod
    def take(cls, target: Target) -> _Snapshot:
        stats = async_registry().stats
        served = 0 if target.app is None else target.app.requests
        return cls(stats.opened, stats.closed, served)


def _describe(
    report: Report,
    options: Options,
    target: Target,
    run: _Contexts,
    wall: float,
    cpu: float,
    opened: int,
    served: int,
) -> None:
    contexts = options.tasks * options.depth
    entered = run.cpu_entered / contexts * 1e6
    memory = (run.memory_held - run.memory_before) / contexts / 1024
    report.row("backend", options.backend)
    report.row("API", target.description)
    report.row("tasks x depth = contexts", f"{options.tasks} x {options.depth} = {contexts}")
    report.row("CPU per context (us), enter + request + exit", f"{cpu / contexts * 1e6:.0f}")
    report.row("CPU per context (us), until all were open", f"{entered:.0f}")
    report.row("memory per open context (KiB, resident)", f"{memory:.1f}")
    report.row("shared connections opened", opened)
    report.row("version checks sent", run.counter.version_checks)
    report.row("requests sent", run.counter.sent)
    if target.app is not None:
        report.row("requests served", served)
    report.row("failures", run.failures)
    report.row("wall time (s)", f"{wall:.2f}")
    if options.faults:
        report.row("faults", "not used by this scenario")
