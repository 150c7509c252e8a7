"""Stress-test concurrent, nested app_lifespan_context users of one in-process ASGI app.

Thousands of tasks arrive in waves, nest ``app_lifespan_context`` (and explicit leases)
``--depth`` deep, hold for a random time, and some are cancelled or raise. The app
checks as it goes that its lifespans never overlap and that no body runs while it is
not started; the closing table says PASS or FAIL on every invariant, and the exit status
is 1 on any violation.

    python examples/stress_nested_contexts.py --backend trio --tasks 10000
    python examples/stress_nested_contexts.py --backend asyncio --tasks 200 --depth 2

Uses only the standard library and prefect_trio_client (anyio, trio come with it).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
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

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


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

    def __init__(self, stats: Stats, rng: random.Random, args: argparse.Namespace) -> None:
        self.stats = stats
        self.rng = rng
        self.startup_s = args.startup_ms / 1000
        self.shutdown_s = args.shutdown_ms / 1000
        self.startup_fail_rate = args.startup_fail_rate
        self.attempts = 0
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
            raise RuntimeError("this example sends no requests")
        self.attempts += 1
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


def make_plans(args: argparse.Namespace, rng: random.Random) -> list[Plan]:
    plans = []
    span = args.startup_ms + args.hold_max_ms
    for i in range(args.tasks):
        if rng.random() < args.straggler_rate:  # lands anywhere: in startups, shutdowns
            arrive_ms = rng.uniform(0, args.waves * args.wave_gap_ms)
        else:
            arrive_ms = (i % args.waves) * args.wave_gap_ms + rng.uniform(0, args.jitter_ms)
        cancel_ms = rng.uniform(0, span) if rng.random() < args.cancel_rate else None
        plans.append(
            Plan(
                arrive_at=arrive_ms / 1000,
                hold=rng.uniform(0, args.hold_max_ms) / 1000,
                cancel_after=None if cancel_ms is None else cancel_ms / 1000,
                fails=rng.random() < args.fail_rate,
            )
        )
    return plans


async def user(
    plan: Plan, start: float, depth: int, app: StressApp, service: LifespanService, stats: Stats
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
    except Exception as exc:  # anything else is a bug this program is looking for
        stats.unexpected.append(repr(exc))
    finally:
        stats.tasks_done += 1


class Progress:
    """A one-line progress bar on stderr, redrawn in place."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled

    def draw(self, stats: Stats, app: StressApp, final: bool = False) -> None:
        if not self.enabled:
            return
        width = 30
        filled = width * stats.tasks_done // max(self.total, 1)
        bar = "#" * filled + "." * (width - filled)
        line = (
            f"\r[{bar}] {stats.tasks_done}/{self.total} tasks  leases {stats.leases}  "
            f"startups {app.startups}  shutdowns {app.shutdowns}  held {stats.held}  "
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()


async def run(args: argparse.Namespace) -> tuple[Stats, StressApp, dict[str, object]]:
    rng = random.Random(args.seed)
    stats = Stats()
    app = StressApp(stats, rng, args)
    plans = make_plans(args, rng)
    progress = Progress(args.tasks, args.progress)
    end: dict[str, object] = {}

    async def body(service: LifespanService) -> None:
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for plan in plans:
                tg.start_soon(user, plan, start, args.depth, app, service, stats)

            async def draw() -> None:
                while stats.tasks_done < args.tasks:
                    progress.draw(stats, app)
                    await anyio.sleep(0.1)

            tg.start_soon(draw)
        # A last lease given up during a startup leaves the shutdown to the service.
        if app.idle is not None:
            with anyio.fail_after(args.startup_ms / 1000 + args.shutdown_ms / 1000 + 5):
                await app.idle.wait()
        progress.draw(stats, app, final=True)
        end["refcount"] = service.refcount(app)
        end["state"] = service.state(app)
        end["open apps"] = len(service.open_apps())

    if args.service == "explicit":
        async with open_lifespan_service() as service:
            await body(service)
    else:
        await body(current_lifespan_service())
    return stats, app, end


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def report(
    args: argparse.Namespace,
    stats: Stats,
    app: StressApp,
    end: dict[str, object],
    wall: float,
) -> bool:
    accounted = stats.completed + stats.cancelled + stats.body_errors + stats.startup_errors
    checks = [
        ("every startup matched by a shutdown", app.startups == app.shutdowns),
        ("lifespans never overlap; no body outside a started app", not stats.violations),
        ("every task ended one known way", accounted == args.tasks and not stats.unexpected),
        ("nothing held or registered at the end", end == _idle_end() and stats.held == 0),
        (
            "startup failures reached waiters",
            app.failed_startups == 0 or stats.startup_errors > 0,
        ),
    ]
    latencies_ms = [value * 1000 for value in stats.latencies]
    rows = [
        ("backend", args.backend),
        ("service", args.service),
        ("tasks", args.tasks),
        ("nesting depth", args.depth),
        ("leases taken", stats.leases),
        ("startups (completed)", app.startups),
        ("startups failed (injected)", app.failed_startups),
        ("shutdowns", app.shutdowns),
        ("max refcount", stats.max_refcount),
        ("tasks completed", stats.completed),
        ("cancellations survived", stats.cancelled),
        ("body errors raised", stats.body_errors),
        ("startup errors delivered", stats.startup_errors),
        ("enter latency p50 (ms)", f"{percentile(latencies_ms, 50):.2f}"),
        ("enter latency p99 (ms)", f"{percentile(latencies_ms, 99):.2f}"),
        ("wall time (s)", f"{wall:.2f}"),
    ]
    rows += [(f"invariant: {name}", "PASS" if ok else "FAIL") for name, ok in checks]
    passed = all(ok for _, ok in checks)
    rows.append(("RESULT", "PASS" if passed else "FAIL"))
    width = max(len(name) for name, _ in rows)
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  {'-' * 12}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for problem in stats.violations + stats.unexpected[:20]:
        print(f"  violation: {problem}")
    return passed


def _idle_end() -> dict[str, object]:
    return {"refcount": 0, "state": LifespanState.STOPPED, "open apps": 0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    parser.add_argument("--tasks", type=int, default=10_000, help="concurrent users")
    parser.add_argument("--depth", type=int, default=3, help="nesting depth of each user")
    parser.add_argument("--service", choices=["default", "explicit"], default="default")
    parser.add_argument("--hold-max-ms", type=float, default=10.0, help="hold ~ U(0, this)")
    parser.add_argument(
        "--waves", type=int, default=0, help="arrival waves (default: one per 200 tasks)"
    )
    parser.add_argument("--wave-gap-ms", type=float, default=100.0, help="between waves")
    parser.add_argument("--jitter-ms", type=float, default=75.0, help="arrival ~ U(0, this)")
    parser.add_argument(
        "--straggler-rate", type=float, default=0.05, help="users arriving at any time"
    )
    parser.add_argument("--startup-ms", type=float, default=5.0)
    parser.add_argument("--shutdown-ms", type=float, default=10.0)
    parser.add_argument("--cancel-rate", type=float, default=0.1)
    parser.add_argument("--fail-rate", type=float, default=0.05, help="bodies that raise")
    parser.add_argument("--startup-fail-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=sys.stderr.isatty(),
        help="draw a progress bar on stderr (default: when stderr is a terminal)",
    )
    args = parser.parse_args(argv)
    if args.waves == 0:
        args.waves = max(1, -(-args.tasks // 200))
    for name in ("tasks", "depth", "waves"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("cancel_rate", "fail_rate", "startup_fail_rate", "straggler_rate"):
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    stats, app, end = anyio.run(run, args, backend=args.backend)
    wall = time.perf_counter() - started
    return 0 if report(args, stats, app, end, wall) else 1


if __name__ == "__main__":
    sys.exit(main())
