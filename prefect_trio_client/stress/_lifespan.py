"""The ``lifespan`` scenario: the lifespan service alone, under concurrent nested leases.

Thousands of tasks arrive in waves, nest ``app_lifespan_context`` (and explicit leases)
`depth` deep around one in-process ASGI app, hold for a random time, and some are
cancelled or raise. The app takes time to start and stop, and some startups fail. It
checks as it goes that its lifespans never overlap and that no body runs while it is
not started. No HTTP: this isolates the service from the clients (the ``runs`` scenario
exercises both together).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from prefect_trio_client.exceptions import LifespanStartupError
from prefect_trio_client.lifespan import (
    LifespanService,
    LifespanState,
    app_lifespan_context,
    current_lifespan_service,
    open_lifespan_service,
)
from prefect_trio_client.stress._options import Options
from prefect_trio_client.stress._report import Output, Report

__all__ = ["LifespanOptions", "run_lifespan"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


@dataclass(frozen=True)
class LifespanOptions:
    """The options only this scenario has (times in milliseconds)."""

    service: str = "default"  # "default" (per event loop) or "explicit"
    hold_max_ms: float = 10.0
    waves: int = 0  # 0: one per 200 tasks
    wave_gap_ms: float = 100.0
    jitter_ms: float = 75.0
    straggler_rate: float = 0.05
    startup_ms: float = 5.0
    shutdown_ms: float = 10.0
    fail_rate: float = 0.05
    startup_fail_rate: float = 0.1


class BodyError(Exception):
    """What a body raises when the schedule says it fails."""


@dataclass
class Stats:
    tasks_done: int = 0
    completed: int = 0
    cancelled: int = 0
    body_errors: int = 0
    startup_errors: int = 0
    unexpected: list[str] = field(default_factory=list)
    leases: int = 0
    held: int = 0
    max_refcount: int = 0
    latencies: list[float] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def violation(self, message: str) -> None:
        if len(self.violations) < 20:
            self.violations.append(message)


class StressApp:
    """An ASGI app whose lifespan takes time, may fail, and checks the service."""

    def __init__(self, stats: Stats, rng: random.Random, options: LifespanOptions) -> None:
        self.stats = stats
        self.rng = rng
        self.startup_s = options.startup_ms / 1000
        self.shutdown_s = options.shutdown_ms / 1000
        self.startup_fail_rate = options.startup_fail_rate
        self.startups = 0
        self.shutdowns = 0
        self.failed_startups = 0
        self.active = 0
        self.running = False
        self.idle: anyio.Event | None = None  # set when the current lifespan call ends

    def check(self) -> None:
        diff = self.startups - self.shutdowns
        if diff not in (0, 1):
            self.stats.violation(f"startups - shutdowns = {diff}")
        if self.stats.held and (diff != 1 or not self.running):
            self.stats.violation("a lease is held while the app is not started")

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "lifespan":
            raise RuntimeError("this scenario sends no requests")
        self.active += 1
        self.idle = anyio.Event()
        if self.active > 1:
            self.stats.violation("two lifespans of the app overlap")
        try:
            await receive()
            if self.stats.held:
                self.stats.violation("a body ran before startup completed")
            await anyio.sleep(self.startup_s)
            if self.rng.random() < self.startup_fail_rate:
                self.failed_startups += 1
                await send({"type": "lifespan.startup.failed", "message": "injected failure"})
                return
            self.running = True
            self.startups += 1
            self.check()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            if self.stats.held:
                self.stats.violation("shutdown began while a body holds the app")
            self.running = False
            await anyio.sleep(self.shutdown_s)
            self.shutdowns += 1
            self.check()
            await send({"type": "lifespan.shutdown.complete"})
        finally:
            self.running = False
            self.active -= 1
            self.idle.set()


@dataclass(frozen=True)
class Plan:
    arrive_at: float
    hold: float
    cancel_after: float | None
    fails: bool


def make_plans(options: Options, extra: LifespanOptions, rng: random.Random) -> list[Plan]:
    """Each task's arrival, hold, cancellation and failure, from the seeded generator."""
    plans = []
    span = extra.startup_ms + extra.hold_max_ms
    waves = extra.waves or max(1, -(-options.tasks // 200))
    for i in range(options.tasks):
        if rng.random() < extra.straggler_rate:  # lands anywhere: in startups, shutdowns
            arrive_ms = rng.uniform(0, waves * extra.wave_gap_ms)
        else:
            arrive_ms = (i % waves) * extra.wave_gap_ms + rng.uniform(0, extra.jitter_ms)
        cancel_ms = rng.uniform(0, span) if rng.random() < options.cancel_rate else None
        plans.append(
            Plan(
                arrive_at=arrive_ms / 1000,
                hold=rng.uniform(0, extra.hold_max_ms) / 1000,
                cancel_after=None if cancel_ms is None else cancel_ms / 1000,
                fails=rng.random() < extra.fail_rate,
            )
        )
    return plans


async def user(
    plan: Plan,
    start: float,
    depth: int,
    app: StressApp,
    service: LifespanService,
    stats: Stats,
    output: Output,
) -> None:
    async def nest(level: int) -> None:
        # Alternate between Prefect's helper and an explicit lease of the same service.
        use = app_lifespan_context(app) if level % 2 else service.lease(app)
        async with use:
            stats.leases += 1
            if level < depth:
                await nest(level + 1)
                return
            stats.latencies.append(anyio.current_time() - entering_at)
            stats.held += 1
            stats.max_refcount = max(stats.max_refcount, service.refcount(app))
            app.check()
            try:
                await anyio.sleep(plan.hold)
                if plan.fails:
                    raise BodyError
            finally:
                app.check()
                stats.held -= 1

    # Arrival times are absolute, so the time it takes to spawn thousands of tasks
    # does not smear the waves.
    await anyio.sleep_until(start + plan.arrive_at)
    entering_at = anyio.current_time()
    try:
        with anyio.CancelScope() as scope:
            if plan.cancel_after is not None:
                scope.deadline = entering_at + plan.cancel_after
            try:
                await nest(1)
                stats.completed += 1
            except BodyError:
                stats.body_errors += 1
            except LifespanStartupError:
                stats.startup_errors += 1
        if scope.cancelled_caught:
            stats.cancelled += 1
    except Exception as exc:  # anything else is a bug this scenario is looking for
        stats.unexpected.append(repr(exc))
    finally:
        stats.tasks_done += 1
        output.advance()


async def run_lifespan(options: Options, extra: LifespanOptions, output: Output) -> Report:
    """Run the scenario and return its report."""
    rng = random.Random(options.seed)
    stats = Stats()
    app = StressApp(stats, rng, extra)
    plans = make_plans(options, extra, rng)
    end: dict[str, object] = {}

    async def body(service: LifespanService) -> None:
        start = anyio.current_time()
        output.start("tasks", options.tasks)
        try:
            async with anyio.create_task_group() as tg:
                for plan in plans:
                    tg.start_soon(user, plan, start, options.depth, app, service, stats, output)
        finally:
            output.stop()
        end["wall"] = anyio.current_time() - start
        # A last lease given up during a startup leaves the shutdown to the service.
        if app.idle is not None:
            with anyio.fail_after(extra.startup_ms / 1000 + extra.shutdown_ms / 1000 + 5):
                await app.idle.wait()
        end["refcount"] = service.refcount(app)
        end["state"] = service.state(app)
        end["open apps"] = len(service.open_apps())

    if extra.service == "explicit":
        async with open_lifespan_service() as service:
            await body(service)
    else:
        await body(current_lifespan_service())
    return _report(options, extra, stats, app, end)


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _report(
    options: Options,
    extra: LifespanOptions,
    stats: Stats,
    app: StressApp,
    end: dict[str, object],
) -> Report:
    report = Report("prefect_trio_client.stress: lifespan")
    accounted = stats.completed + stats.cancelled + stats.body_errors + stats.startup_errors
    latencies_ms = [value * 1000 for value in stats.latencies]
    wall = end.pop("wall")
    for name, value in (
        ("backend", options.backend),
        ("service", extra.service),
        ("tasks x depth", f"{options.tasks} x {options.depth}"),
        ("leases taken", stats.leases),
        ("startups (completed)", app.startups),
        ("startups failed (injected)", app.failed_startups),
        ("shutdowns", app.shutdowns),
        ("max refcount", stats.max_refcount),
        ("tasks completed", stats.completed),
        ("cancellations survived", stats.cancelled),
        ("body errors raised", stats.body_errors),
        ("startup errors delivered", stats.startup_errors),
        ("enter latency p50 (ms)", f"{_percentile(latencies_ms, 50):.2f}"),
        ("enter latency p99 (ms)", f"{_percentile(latencies_ms, 99):.2f}"),
        ("wall time (s)", f"{wall:.2f}"),
    ):
        report.row(name, value)
    idle = {"refcount": 0, "state": LifespanState.STOPPED, "open apps": 0}
    report.check("every startup matched by a shutdown", app.startups == app.shutdowns)
    report.check("lifespans never overlap; no body outside a started app", not stats.violations)
    report.check(
        "every task ended one known way", accounted == options.tasks and not stats.unexpected
    )
    report.check("nothing held or registered at the end", end == idle and stats.held == 0)
    report.check(
        "startup failures reached waiters", app.failed_startups == 0 or stats.startup_errors > 0
    )
    for problem in stats.violations + stats.unexpected:
        report.problem(problem)
    return report
