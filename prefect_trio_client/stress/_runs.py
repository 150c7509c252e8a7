"""The ``runs`` scenario: nested `get_client()` contexts doing real work, under
cancellation and faults, and then everything they did read back and checked.

Each task nests `depth` client contexts (the innermost one, for some tasks, a sync client
in a worker thread). At every level it creates a flow run with an idempotency key and
moves it to RUNNING, goes one level deeper, then completes the run and reads it back, so
outer contexts keep sending requests after inner ones have closed. A task's cancel scope
may have a deadline (from the schedule) that cuts it anywhere.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from typing import Any
from uuid import UUID

import anyio
import anyio.to_thread
import httpx

from prefect_trio_client._pool import SyncConnectionRegistry, async_registry, sync_registry
from prefect_trio_client.lifespan import current_lifespan_service
from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient, get_client
from prefect_trio_client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect_trio_client.schemas.objects import StateType
from prefect_trio_client.schemas.sorting import FlowRunSort
from prefect_trio_client.stress._observe import (
    RequestCounter,
    count_sockets,
    count_tasks,
)
from prefect_trio_client.stress._options import Options
from prefect_trio_client.stress._report import Output, Report
from prefect_trio_client.stress._schedule import TaskPlan, fingerprint, make_schedule
from prefect_trio_client.stress._target import Target
from prefect_trio_client.stress._work import (
    Call,
    GiveUp,
    Work,
    attempt,
    drive_async,
    drive_sync,
    ensure_state,
)
from prefect_trio_client.testing import (
    ALL_FAULTS,
    FaultInjectingTransport,
    FaultKind,
    SyncFaultInjectingTransport,
)

__all__ = ["run_runs"]

FLOW_NAME = "prefect-trio-client-stress"
#: How often a step broken by injected faults is tried before the task gives up.
MAX_TRIES = 10
#: Injected kinds: every one but the multi-second stall (it only makes a run slower).
FAULT_KINDS = tuple(kind for kind in ALL_FAULTS if kind is not FaultKind.STALL)
PAGE = 200


class _Runs:
    """The shared state of one ``runs`` scenario (tasks and worker threads update it)."""

    def __init__(self, options: Options, target: Target, output: Output, flow_id: UUID) -> None:
        self.options = options
        self.target = target
        self.output = output
        self.flow_id = flow_id
        self.tag = f"stress-{uuid.uuid4().hex[:12]}"  # this run's runs (not the schedule's)
        self.tries = MAX_TRIES if options.faults else 1
        self.counter = RequestCounter()
        self.limiter = anyio.CapacityLimiter(max(options.sync_threads, 1))
        self.lock = threading.Lock()
        self.report = Report("prefect_trio_client.stress: runs")
        # What happened (counted under `lock`: worker threads count too).
        self.outcomes: Counter[str] = Counter()
        self.clients: Counter[str] = Counter()
        self.attempted: set[str] = set()
        self.confirmed: set[str] = set()
        self.completed: set[str] = set()
        self.injected: Counter[str] = Counter()
        self.decisions: dict[tuple[int, int], tuple[str, ...]] = {}
        self.sync_registries: dict[int, SyncConnectionRegistry] = {}
        self.leaked: list[PrefectClient] = []

    def key(self, plan: TaskPlan, level: int) -> str:
        return f"{self.tag}/{plan.index}/{level}"

    def count(self, counter: Counter[str], name: str) -> None:
        with self.lock:
            counter[name] += 1

    # ---------------------------------------------------------------- one task

    async def user(self, plan: TaskPlan, start: float) -> None:
        await anyio.sleep_until(start + plan.arrive_after)
        outcome = "completed"
        try:
            with anyio.CancelScope() as scope:
                if plan.cancel_after is not None:
                    scope.deadline = anyio.current_time() + plan.cancel_after
                if self.options.inject == "leak" and plan.index == 0:
                    await self._leak()
                await self.nest(plan, 1)
            if scope.cancelled_caught:
                outcome = "cancelled"
        except GiveUp:
            outcome = "gave up"  # injected faults broke one step too often: counted
        except Exception as exc:  # anything else is a bug this tool is looking for
            outcome = "failed"
            self.report.problem(f"task {plan.index}: {exc!r}")
        finally:
            self.count(self.outcomes, outcome)
            self.output.advance()

    async def nest(self, plan: TaskPlan, level: int) -> None:
        depth = self.options.depth
        if level == depth and plan.sync_innermost and self.options.sync_threads > 0:
            await anyio.to_thread.run_sync(self.sync_level, plan, level, limiter=self.limiter)
            return
        settings: dict[str, Any] = {"event_hooks": self.counter.async_hooks()}
        faulty: FaultInjectingTransport | None = None
        if self.options.faults:
            faulty = FaultInjectingTransport(
                self.target.transport(), **self._fault_options(plan, level)
            )
            settings["transport"] = faulty
        client = get_client(httpx_settings=settings)
        self.count(self.clients, "async opened")
        try:
            async with client:
                run_id = await drive_async(client, self.open_level(plan, level))
                if level < depth:
                    await self.nest(plan, level + 1)
                await drive_async(client, self.close_level(plan, level, run_id))
        finally:
            self._closed(client, "async", plan, level, faulty)

    def sync_level(self, plan: TaskPlan, level: int) -> None:
        """The innermost level as a sync client, in a worker thread."""
        settings: dict[str, Any] = {"event_hooks": self.counter.sync_hooks()}
        faulty: SyncFaultInjectingTransport | None = None
        if self.options.faults:
            faulty = SyncFaultInjectingTransport(
                self.target.sync_transport(), **self._fault_options(plan, level)
            )
            settings["transport"] = faulty
        client = get_client(httpx_settings=settings, sync_client=True)
        self.count(self.clients, "sync opened")
        try:
            with client:
                run_id = drive_sync(client, self.open_level(plan, level))
                drive_sync(client, self.close_level(plan, level, run_id))
        finally:
            self._closed(client, "sync", plan, level, faulty)
            registry = sync_registry()
            with self.lock:
                self.sync_registries[id(registry)] = registry
            if len(registry):
                self.report.problem(f"task {plan.index}: a worker thread kept a connection")

    def _fault_options(self, plan: TaskPlan, level: int) -> dict[str, Any]:
        return {
            "seed": plan.fault_seeds[level - 1],
            "rate": self.options.faults,
            "kinds": FAULT_KINDS,
            "retry_after": 0.05,
        }

    def _closed(
        self,
        client: PrefectClient | SyncPrefectClient,
        kind: str,
        plan: TaskPlan,
        level: int,
        faulty: FaultInjectingTransport | SyncFaultInjectingTransport | None,
    ) -> None:
        if client._closed:
            self.count(self.clients, f"{kind} closed")
        else:
            self.report.problem(f"task {plan.index} level {level}: its client is still open")
        if faulty is not None:
            decisions = tuple("-" if d is None else d.value for d in faulty.decisions)
            with self.lock:
                self.decisions[plan.index, level] = decisions
                self.injected.update(kind.value for kind in faulty.injected.elements())

    async def _leak(self) -> None:
        """``--inject leak``: a client opened and never closed by its task."""
        client = get_client()
        self.count(self.clients, "async opened")
        try:
            await client.__aenter__()
        except BaseException:
            self.count(self.clients, "async closed")  # it closed itself
            raise
        self.leaked.append(client)

    # ---------------------------------------------------------------- one level's work

    def open_level(self, plan: TaskPlan, level: int) -> Work[UUID]:
        key = self.key(plan, level)
        with self.lock:
            self.attempted.add(key)
        create = {"flow_id": self.flow_id, "name": key, "tags": [self.tag], "idempotency_key": key}
        run = yield from attempt(Call("create_flow_run", create), self.tries)
        with self.lock:
            self.confirmed.add(key)
        if self.options.inject == "double-store" and plan.index == 0 and level == 1:
            yield Call("create_flow_run", {**create, "idempotency_key": f"{key}#again"})
        yield from ensure_state(run.id, StateType.RUNNING, self.tries)
        run_id: UUID = run.id
        return run_id

    def close_level(self, plan: TaskPlan, level: int, run_id: UUID) -> Work[None]:
        key = self.key(plan, level)
        yield from ensure_state(run_id, StateType.COMPLETED, self.tries)
        run = yield from attempt(Call("read_flow_run", {"flow_run_id": run_id}), self.tries)
        state = None if run.state is None else run.state.type
        if run.name != key or state is not StateType.COMPLETED:
            self.report.problem(f"{key}: read back as {run.name!r} in state {state}")
        with self.lock:
            self.completed.add(key)

    # ---------------------------------------------------------------- the end

    async def read_back(self) -> dict[str, list[StateType | None]]:
        """Every stored run of this run's tag: its states, by name."""
        stored: dict[str, list[StateType | None]] = {}
        runs_filter = FlowRunFilter(tags=FlowRunFilterTags(all_=[self.tag]))
        async with get_client() as client:
            offset = 0
            while True:
                page = await client.read_flow_runs(
                    flow_run_filter=runs_filter, sort=FlowRunSort.ID_DESC, limit=PAGE, offset=offset
                )
                for run in page:
                    state = None if run.state is None else run.state.type
                    stored.setdefault(run.name, []).append(state)
                if len(page) < PAGE:
                    return stored
                offset += PAGE


async def run_runs(options: Options, target: Target, output: Output) -> Report:
    """Run the scenario and return its report (`Report.passed` says PASS or FAIL)."""
    plans = make_schedule(
        seed=options.seed,
        tasks=options.tasks,
        depth=options.depth,
        cancel_rate=options.cancel_rate,
        cancel_within=options.cancel_within,
        sync_rate=options.sync_rate if options.sync_threads > 0 else 0.0,
        ramp=options.ramp,
    )
    # The warm-up starts what lives as long as the event loop (the default lifespan
    # service's host), so that the baselines below hold it.
    async with get_client() as client:
        flow_id = await client.create_flow_from_name(FLOW_NAME)
    runs = _Runs(options, target, output, flow_id)
    registry = async_registry()
    opened_before, closed_before = registry.stats.opened, registry.stats.closed
    await anyio.wait_all_tasks_blocked()
    tasks_before, sockets_before = count_tasks(), count_sockets()
    cpu_before, started = time.process_time(), anyio.current_time()
    output.start("tasks", options.tasks)
    try:
        async with anyio.create_task_group() as task_group:
            for plan in plans:
                task_group.start_soon(runs.user, plan, started)
    finally:
        output.stop()
    wall = anyio.current_time() - started
    cpu = time.process_time() - cpu_before
    reading = anyio.current_time()
    stored = await runs.read_back()
    read_back = anyio.current_time() - reading
    if options.inject == "early-request" and target.app is not None:
        await _request_without_lease(target)
    await anyio.wait_all_tasks_blocked()
    tasks_after, sockets_after = count_tasks(), count_sockets()
    report = runs.report
    _describe(report, options, target, runs, plans, len(stored), (wall, cpu, read_back))
    _check_runs(report, runs, stored)
    _check_resources(
        report,
        runs,
        target,
        connections=(registry.stats.opened - opened_before, registry.stats.closed - closed_before),
        open_connections=len(registry),
        tasks=(tasks_before, tasks_after),
        sockets=(sockets_before, sockets_after),
    )
    for client in runs.leaked:  # after the checks: an injected leak is not left behind
        await client.aclose()
    return report


async def _request_without_lease(target: Target) -> None:
    """``--inject early-request``: a request to the app while no lifespan of it runs."""
    assert target.app is not None
    transport = httpx.ASGITransport(target.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://stress") as client:
        # The app may well fail without its database: the request is the point.
        with contextlib.suppress(Exception):
            await client.get("/api/health")


def _describe(
    report: Report,
    options: Options,
    target: Target,
    runs: _Runs,
    plans: list[TaskPlan],
    stored: int,
    times: tuple[float, float, float],
) -> None:
    wall, cpu, read_back = times
    outcomes, clients = runs.outcomes, runs.clients
    report.row("backend", options.backend)
    report.row("API", target.description)
    report.row("tasks x depth", f"{options.tasks} x {options.depth}")
    report.row("seed (schedule fingerprint)", f"{options.seed} ({fingerprint(plans)})")
    report.row("tasks with a deadline (scheduled)", _scheduled_cancels(plans))
    report.row(
        "tasks completed / cancelled / gave up / failed",
        " / ".join(str(outcomes[name]) for name in ("completed", "cancelled", "gave up", "failed")),
    )
    report.row(
        "client contexts, async / sync",
        f"{clients['async opened']} / {clients['sync opened']}",
    )
    report.row("flow runs created (answered) / stored", f"{len(runs.confirmed)} / {stored}")
    counter = runs.counter
    report.row("requests sent (retries included)", counter.sent)
    report.row("answers 503 / 429 (the server was busy)", counter.overloaded)
    if target.app is not None:
        report.row("requests served", target.app.requests)
        report.row("lifespans / startups / shutdowns", _lifespans(target))
    if options.faults:
        injected = sum(runs.injected.values())
        report.row(f"faults injected (rate {options.faults})", injected)
        report.row("fault schedule fingerprint", _fault_digest(runs.decisions))
    report.row("wall time (s)", f"{wall:.2f}")
    report.row("CPU time (s)", f"{cpu:.2f}")
    report.row("reading every run back (s)", f"{read_back:.2f}")
    report.row("time in requests, summed (s)", f"{counter.busy:.2f}")
    # About 1 against a server that takes one write at a time: then it bounds the run.
    report.row("requests in flight, on average", f"{counter.busy / wall:.2f}" if wall else "-")
    levels = len(runs.completed)
    report.row("levels completed per second", f"{levels / wall:.0f}" if wall else "-")


def _lifespans(target: Target) -> str:
    assert target.app is not None
    app = target.app
    return f"{app.lifespans} / {app.startups} / {app.shutdowns}"


def _scheduled_cancels(plans: list[TaskPlan]) -> int:
    return sum(1 for plan in plans if plan.cancel_after is not None)


def _fault_digest(decisions: dict[tuple[int, int], tuple[str, ...]]) -> str:
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256(repr(sorted(decisions.items())).encode())
    return digest.hexdigest()[:16]


def _check_runs(report: Report, runs: _Runs, stored: dict[str, list[StateType | None]]) -> None:
    duplicates = sorted(name for name, found in stored.items() if len(found) > 1)
    strangers = sorted(set(stored) - runs.attempted)
    missing = sorted(runs.confirmed - set(stored))
    broken = sorted(
        name for name in runs.completed if StateType.COMPLETED not in stored.get(name, [])
    )
    for label, names in (
        ("stored more than once", duplicates),
        ("stored but never created", strangers),
        ("created but not stored", missing),
        ("completed but read back in another state", broken),
    ):
        for name in names[:5]:
            report.problem(f"{name}: {label}")
    report.check(
        "every created run stored exactly once",
        not (duplicates or strangers or missing),
        f"{len(duplicates)} duplicated, {len(missing)} missing, {len(strangers)} unknown",
    )
    report.check("every completed run read back COMPLETED", not broken, f"{len(broken)} not")
    failed = runs.outcomes["failed"]
    report.check("no task failed unexpectedly", failed == 0, f"{failed} failed")


def _check_resources(
    report: Report,
    runs: _Runs,
    target: Target,
    *,
    connections: tuple[int, int],
    open_connections: int,
    tasks: tuple[int, int],
    sockets: tuple[int | None, int | None],
) -> None:
    app = target.app
    if app is None:
        report.check("one startup per lifespan generation", None, "not in-process")
        report.check("no request outside a started lifespan", None, "not in-process")
        report.check("no lifespan lease left", None, "not in-process")
    else:
        report.check(
            "one startup per lifespan generation",
            app.lifespan_violations == 0 and app.startups == app.lifespans == app.shutdowns,
            f"{app.lifespans} lifespans, {app.startups} startups",
        )
        report.check(
            "no request outside a started lifespan",
            app.request_violations == 0,
            f"{app.request_violations} outside",
        )
        service = current_lifespan_service()
        held = service.refcount(app)
        report.check(
            "no lifespan lease left",
            held == 0 and app not in service.open_apps() and app.running_loops() == 0,
            f"{held} held",
        )
    for problem in app.violations if app is not None else []:
        report.problem(problem)
    opened, closed = connections
    sync_open = sum(len(registry) for registry in runs.sync_registries.values())
    sync_opened = sum(registry.stats.opened for registry in runs.sync_registries.values())
    sync_closed = sum(registry.stats.closed for registry in runs.sync_registries.values())
    report.row("shared connections opened (async / sync)", f"{opened} / {sync_opened}")
    socket_detail = "no /proc" if None in sockets else f"sockets {sockets[0]} -> {sockets[1]}"
    report.check(
        "no leaked connections",
        opened == closed
        and open_connections == 0
        and sync_opened == sync_closed
        and sync_open == 0
        and (None in sockets or sockets[1] == sockets[0]),
        f"{opened - closed + sync_opened - sync_closed} open, {socket_detail}",
    )
    report.check("no leaked tasks", tasks[1] == tasks[0], f"tasks {tasks[0]} -> {tasks[1]}")
    clients = runs.clients
    opened_clients = clients["async opened"] + clients["sync opened"]
    closed_clients = clients["async closed"] + clients["sync closed"]
    report.check(
        "every client closed",
        opened_clients == closed_clients,
        f"{opened_clients - closed_clients} open",
    )
