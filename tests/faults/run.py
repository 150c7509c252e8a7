"""The faults workload of issue 9: flow runs through injected faults, then read back.

Each flow run is::

    create_flow_run (idempotency key)           POST /flow_runs/              safe
    set_flow_run_state RUNNING                  POST /flow_runs/{id}/set_state safe (transition_id)
    2 x  create_task_run (flow_run_id)          POST /task_runs/              safe (deduped)
         set_task_run_state RUNNING, COMPLETED  POST /task_runs/{id}/set_state NOT safe
    create_logs (3 lines, one call)             POST /logs/                   NOT safe
    set_flow_run_state COMPLETED                POST /flow_runs/{id}/set_state safe

`concurrency` workers run them through a `FaultInjectingTransport` at `rate` (every kind),
on trio or asyncio, against (a) the embedded server in-process, or (b) a real Prefect
server reached over real sockets through the loopback TCP fault proxy (tests/fault_proxy.py)
plus the transport (the rate is split so that a request meets a fault with probability
`rate`, the 17 kinds about equally often).

What the client cannot re-send, the workload handles as the README says a program should:

- a state proposal whose outcome is unknown (`OutcomeUnknownError`, a 502 with a note, or
  an unreadable answer) is checked by reading the run back, and proposed again only if
  the run is not in that state;
- a create whose answer was unreadable is called again (it is deduped);
- a lost answer to ``POST /logs/`` is never re-sent: it is counted, and the read-back
  says whether its lines arrived.

Then a clean client reads everything back: flow runs stored, duplicates, and every flow
run's and task run's state history, which must be PENDING, RUNNING, COMPLETED.

Prints one markdown table. ``--check`` exits 1 if a row misses a target (every run stored
once, no duplicate, no broken history, no run given up).

    python -m tests.faults.run --servers embedded --runs 100
    nox -s faults                        # both servers, 500 runs, both backends
    nox -s faults -- --runs 100 --check  # the CI configuration
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

if __package__ in (None, ""):  # run as a file: python tests/faults/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import anyio
import httpx

from prefect_trio_client import states
from prefect_trio_client.base import RetryEvent
from prefect_trio_client.exceptions import (
    OutcomeUnknownError,
    PrefectHTTPStatusError,
    ResponseDecodeError,
)
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.schemas.actions import LogCreate
from prefect_trio_client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect_trio_client.schemas.objects import FlowRun, Log, State, StateType, TaskRun
from prefect_trio_client.schemas.responses import SetStateStatus
from prefect_trio_client.schemas.sorting import FlowRunSort, LogSort, TaskRunSort
from prefect_trio_client.settings import ClientSettings
from prefect_trio_client.testing import (
    ALL_FAULTS,
    FaultInjectingTransport,
    FaultKind,
    embedded_api,
)
from tests.fault_proxy import ALL_PROXY_FAULTS, FaultProxy, run_fault_proxy

T = TypeVar("T")

TASKS_PER_RUN = 2
LOG_LINES = 3
EXPECTED_HISTORY = [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]
#: How often one step is tried again by the workload before the run is given up.
MAX_TRIES = 10
PAGE = 200

#: What the workload recovers from (after the client's own retries).
RECOVERABLE = (OutcomeUnknownError, ResponseDecodeError, PrefectHTTPStatusError, httpx.HTTPError)

_STATES: dict[StateType, Callable[[], State]] = {
    StateType.RUNNING: states.Running,
    StateType.COMPLETED: states.Completed,
}


class GiveUp(Exception):
    """A step could not be completed in `MAX_TRIES` tries: the run is abandoned."""


@dataclass
class Row:
    server: str
    backend: str
    runs: int
    concurrency: int
    rate: float
    stored: int = 0
    duplicates: int = 0
    strangers: int = 0
    broken_flow_runs: int = 0
    broken_task_runs: int = 0
    duplicate_task_runs: int = 0
    runs_missing_task_runs: int = 0
    gave_up: int = 0
    calls: int = 0
    requests: int = 0
    setup_requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    outcome_unknown: dict[str, int] = field(default_factory=dict)
    logs_unknown: int = 0
    logs_unknown_arrived: int = 0
    logs_missing_after_success: int = 0
    #: Of those, how many got their "success" as an HTML page (an injected html-body).
    logs_missing_after_html: int = 0
    runs_with_extra_log_lines: int = 0
    recalls: int = 0
    read_backs: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    backpressure: dict[str, float] = field(default_factory=dict)
    #: The client's retry sleeps, summed (from its ``on_retry`` hook).
    retry_sleep_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    broken_examples: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def retries(self) -> int:
        """Requests the client sent beyond one per call: its own retries (the version
        check, a request of its own, is not a call)."""
        return self.requests - self.setup_requests - self.calls

    def missed(self) -> list[str]:
        """The targets this row misses (empty: all met)."""
        missed = []
        if self.stored != self.runs:
            missed.append(f"{self.stored} of {self.runs} flow runs stored")
        if self.duplicates:
            missed.append(f"{self.duplicates} duplicate flow runs")
        if self.duplicate_task_runs:
            missed.append(f"{self.duplicate_task_runs} duplicate task runs")
        if self.broken_flow_runs or self.broken_task_runs:
            missed.append(
                f"broken histories: {self.broken_flow_runs} flow runs, "
                f"{self.broken_task_runs} task runs"
            )
        if self.runs_missing_task_runs:
            missed.append(f"{self.runs_missing_task_runs} flow runs missing task runs")
        if self.gave_up:
            missed.append(f"{self.gave_up} runs given up")
        return missed


# ---------------------------------------------------------------------------- the workload


@dataclass
class Workload:
    client: PrefectClient
    tag: str
    row: Row
    flow_id: UUID | None = None
    errors: Counter[str] = field(default_factory=Counter)
    outcome_unknown: Counter[str] = field(default_factory=Counter)
    #: Flow runs whose log call ended with an unknown outcome / with success.
    logs_unknown: set[UUID] = field(default_factory=set)
    logs_ok: set[UUID] = field(default_factory=set)
    #: The content type of the last answer to each flow run's log call (`log_hooks`).
    log_answers: dict[UUID, str] = field(default_factory=dict)

    async def call(self, step: str, make: Callable[[], Awaitable[T]]) -> T:
        self.row.calls += 1
        try:
            return await make()
        except RECOVERABLE as exc:
            self.errors[f"{step}: {_describe(exc)}"] += 1
            if isinstance(exc, OutcomeUnknownError):
                self.outcome_unknown[step] += 1
            elif _outcome_unknown(exc):
                self.outcome_unknown[f"{step} (502 not re-sent)"] += 1
            raise

    async def deduped(self, step: str, make: Callable[[], Awaitable[T]]) -> T:
        """A call the server dedupes: called again until it answers readably."""
        for attempt in range(MAX_TRIES):
            try:
                return await self.call(step, make)
            except RECOVERABLE as exc:
                if attempt + 1 == MAX_TRIES:
                    raise GiveUp(f"{step}: {_describe(exc)}") from exc
                self.row.recalls += 1
        raise AssertionError("unreachable")

    async def read_state(self, kind: str, run_id: UUID) -> StateType | None:
        self.row.read_backs += 1
        if kind == "flow run":
            run: Any = await self.deduped(
                "read_flow_run", lambda: self.client.read_flow_run(run_id)
            )
        else:
            run = await self.deduped("read_task_run", lambda: self.client.read_task_run(run_id))
        state_type = run.state_type
        return None if state_type is None else StateType(state_type)

    async def ensure_state(self, kind: str, run_id: UUID, target: StateType) -> None:
        """Propose `target`; when the outcome is unknown, read the run back first and
        propose again only if the server does not have it."""
        step = f"set_{kind.replace(' ', '_')}_state"
        for _ in range(MAX_TRIES):
            try:
                if kind == "flow run":
                    result = await self.call(
                        step,
                        lambda: self.client.set_flow_run_state(run_id, _STATES[target]()),
                    )
                else:
                    result = await self.call(
                        step,
                        lambda: self.client.set_task_run_state(run_id, _STATES[target]()),
                    )
            except RECOVERABLE:
                if await self.read_state(kind, run_id) is target:
                    return  # the lost proposal was applied
                self.row.recalls += 1
                continue
            if result.status is SetStateStatus.ACCEPT:
                return
            if result.state is not None and result.state.type is target:
                return  # a re-sent proposal the server recognised (transition_id)
            raise GiveUp(f"{step} {target.value}: {result.status.value} {result.details}")
        raise GiveUp(f"{step} {target.value}: no answer in {MAX_TRIES} tries")

    async def one_run(self, index: int) -> None:
        assert self.flow_id is not None
        flow_id = self.flow_id
        key = f"{self.tag}-{index}"
        run = await self.deduped(
            "create_flow_run",
            lambda: self.client.create_flow_run(
                flow_id, name=key, tags=[self.tag], idempotency_key=key
            ),
        )
        await self.ensure_state("flow run", run.id, StateType.RUNNING)
        for k in range(TASKS_PER_RUN):
            task = await self.deduped(
                "create_task_run",
                lambda k=k: self.client.create_task_run(  # type: ignore[misc]
                    flow_run_id=run.id, task_key="faults-task", dynamic_key=str(k)
                ),
            )
            await self.ensure_state("task run", task.id, StateType.RUNNING)
            await self.ensure_state("task run", task.id, StateType.COMPLETED)
        lines = [
            LogCreate(
                name="faults",
                level=20,
                message=f"line {j}",
                timestamp=datetime.now(timezone.utc),
                flow_run_id=run.id,
            )
            for j in range(LOG_LINES)
        ]
        try:  # not safe to send twice: never re-sent, whatever happens
            await self.call("create_logs", lambda: self.client.create_logs(lines))
        except RECOVERABLE as exc:
            if _outcome_unknown(exc):
                self.logs_unknown.add(run.id)
        else:
            self.logs_ok.add(run.id)
        await self.ensure_state("flow run", run.id, StateType.COMPLETED)

    async def run(self, runs: int, concurrency: int) -> None:
        self.flow_id = await self.deduped(
            "create_flow_from_name", lambda: self.client.create_flow_from_name(self.tag)
        )
        indexes = iter(range(runs))

        async def worker() -> None:
            for index in indexes:
                try:
                    await self.one_run(index)
                except GiveUp as exc:
                    self.row.gave_up += 1
                    self.row.failures.append(f"run {index}: {exc}")
                except Exception as exc:  # a bug of the client: reported, the row goes on
                    self.row.gave_up += 1
                    self.row.failures.append(
                        f"run {index}: unexpected {type(exc).__name__}: {str(exc)[:200]}"
                    )

        async def workers() -> None:
            async with anyio.create_task_group() as group:
                for _ in range(min(concurrency, runs)):
                    group.start_soon(worker)

        async with anyio.create_task_group() as outer:
            outer.start_soon(self._sample_backpressure)
            await workers()
            outer.cancel_scope.cancel()

    async def _sample_backpressure(self) -> None:
        """Twice a second, the client's in-flight limit and its queue (a diagnostic that
        explains the wall time: busy answers shrink the limit, by design)."""
        limit = self.client.httpx_client.backpressure
        if limit is None:
            return
        samples: list[tuple[float, int]] = []
        try:
            while True:
                snapshot = limit.snapshot()
                samples.append((snapshot.limit, snapshot.waiting))
                await anyio.sleep(0.5)
        finally:
            snapshot = limit.snapshot()
            self.row.backpressure = {
                "mean_limit": round(sum(s[0] for s in samples) / max(len(samples), 1), 2),
                "mean_waiting": round(sum(s[1] for s in samples) / max(len(samples), 1), 2),
                "decreases": snapshot.decreases,
                "peak_in_flight": snapshot.peak_in_flight,
            }


def log_hooks(answers: dict[UUID, str]) -> dict[str, Any]:
    """``event_hooks`` that note in `answers` what each ``POST /logs/`` was answered with
    (the content type), by flow run."""

    async def on_response(response: httpx.Response) -> None:
        request = response.request
        if request.method == "POST" and request.url.path.endswith("/logs/"):
            lines = json.loads(request.content)
            answers[UUID(lines[0]["flow_run_id"])] = response.headers.get("content-type", "")

    return {"response": [on_response]}


def _on_retry(row: Row) -> Callable[[RetryEvent], None]:
    def on_retry(event: RetryEvent) -> None:
        row.retry_sleep_s += event.delay

    return on_retry


def _outcome_unknown(exc: BaseException) -> bool:
    """An answer lost after the server may have applied the request: the client did
    not re-send it (`OutcomeUnknownError`, or a 502/504 it delivers with a note)."""
    if isinstance(exc, OutcomeUnknownError):
        return True
    return isinstance(exc, PrefectHTTPStatusError) and exc.status_code in (502, 504)


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}" + (f" {status}" if status else "")


# ---------------------------------------------------------------------------- reading back


async def read_back(client: PrefectClient, work: Workload, runs: int, row: Row) -> None:
    """Read what the server stored with a client that meets no fault; fill `row`."""
    flow_runs: list[FlowRun] = []
    while True:
        page = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[work.tag])),
            sort=FlowRunSort.ID_DESC,
            limit=PAGE,
            offset=len(flow_runs),
        )
        flow_runs.extend(page)
        if len(page) < PAGE:
            break
    names = Counter(run.name for run in flow_runs)
    expected = {f"{work.tag}-{i}" for i in range(runs)}
    row.stored = len(set(names) & expected)
    row.strangers = len(set(names) - expected)
    row.duplicates = sum(n - 1 for n in names.values())

    limiter = anyio.CapacityLimiter(16)
    broken: list[str] = []
    task_counts: Counter[UUID] = Counter()
    log_lines: Counter[UUID] = Counter()

    async def history(kind: str, run_id: UUID) -> None:
        async with limiter:
            if kind == "flow run":
                found = await client.read_flow_run_states(run_id)
            else:
                found = await client.read_task_run_states(run_id)
        types = [StateType(state.type) for state in found]
        if types != EXPECTED_HISTORY:
            broken.append(f"{kind} {run_id}: {[t.value for t in types]}")
            if kind == "flow run":
                row.broken_flow_runs += 1
            else:
                row.broken_task_runs += 1

    async def tasks_and_logs(ids: list[UUID], group: Any) -> None:
        async with limiter:
            task_runs: list[TaskRun] = []
            while True:
                page = await client.read_task_runs(
                    task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=ids)),
                    sort=TaskRunSort.ID_DESC,
                    limit=PAGE,
                    offset=len(task_runs),
                )
                task_runs.extend(page)
                if len(page) < PAGE:
                    break
            logs: list[Log] = []
            while True:
                log_page = await client.read_logs(
                    log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)),
                    sort=LogSort.TIMESTAMP_ASC,
                    limit=PAGE,
                    offset=len(logs),
                )
                logs.extend(log_page)
                if len(log_page) < PAGE:
                    break
        for task_run in task_runs:
            assert task_run.flow_run_id is not None
            task_counts[task_run.flow_run_id] += 1
            group.start_soon(history, "task run", task_run.id)
        for log in logs:
            if log.flow_run_id is not None:
                log_lines[log.flow_run_id] += 1

    async with anyio.create_task_group() as group:
        for run in flow_runs:
            group.start_soon(history, "flow run", run.id)
        ids = [run.id for run in flow_runs]
        for start in range(0, len(ids), 40):  # 40 runs: 80 task runs, 120 lines
            group.start_soon(tasks_and_logs, ids[start : start + 40], group)

    row.duplicate_task_runs = sum(max(n - TASKS_PER_RUN, 0) for n in task_counts.values())
    row.runs_missing_task_runs = sum(1 for run in flow_runs if task_counts[run.id] < TASKS_PER_RUN)
    row.broken_examples = broken[:10]
    row.logs_unknown = len(work.logs_unknown)
    row.logs_unknown_arrived = sum(1 for i in work.logs_unknown if log_lines[i] == LOG_LINES)
    missing = [i for i in work.logs_ok if log_lines[i] < LOG_LINES]
    row.logs_missing_after_success = len(missing)
    row.logs_missing_after_html = sum(
        1 for i in missing if work.log_answers.get(i, "").startswith("text/html")
    )
    row.runs_with_extra_log_lines = sum(1 for n in log_lines.values() if n > LOG_LINES)


# ---------------------------------------------------------------------------- the rows


@dataclass(frozen=True)
class Options:
    runs: int
    concurrency: int
    rate: float
    seed: int
    stall_seconds: float
    retry_after: float
    prefect_api_url: str | None


def _spare_setup(request: httpx.Request) -> bool:
    # The version check is the first request: a connection error before any answer is
    # not retried by design (a wrong URL fails fast), so it is not a fault to inject.
    return request.url.path.endswith("/admin/version")


def _transport(inner: httpx.AsyncBaseTransport, options: Options, rate: float) -> Any:
    return FaultInjectingTransport(
        inner,
        seed=options.seed,
        rate=rate,
        kinds=ALL_FAULTS,
        spare=_spare_setup,
        retry_after=options.retry_after,
        stall_seconds=options.stall_seconds,
    )


async def embedded_row(backend: str, options: Options) -> Row:
    row = Row("embedded", backend, options.runs, options.concurrency, options.rate)
    tag = f"faults-embedded-{backend}-{int(time.time())}"
    transports: list[FaultInjectingTransport] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        transports.append(_transport(inner, options, options.rate))
        return transports[-1]

    async with embedded_api() as api:
        answers: dict[UUID, str] = {}
        faulty = api.client(
            wrap_transport=wrap,
            httpx_settings={"event_hooks": log_hooks(answers), "on_retry": _on_retry(row)},
        )
        async with faulty as client:
            work = Workload(client, tag, row, log_answers=answers)
            started = time.perf_counter()
            await work.run(options.runs, options.concurrency)
            row.wall_s = time.perf_counter() - started
        async with api.client() as clean:
            await read_back(clean, work, options.runs, row)
    _finish(row, work, transports[0], None)
    return row


async def prefect_row(backend: str, options: Options) -> Row:
    if options.prefect_api_url is None:
        raise SystemExit("--servers prefect needs --prefect-api-url (nox -s faults gives it)")
    row = Row("prefect 3.9.1", backend, options.runs, options.concurrency, options.rate)
    tag = f"faults-prefect-{backend}-{int(time.time())}"
    upstream = httpx.URL(options.prefect_api_url)
    assert upstream.host
    assert upstream.port
    # Split the rate: the proxy's 5 kinds and the transport's 12 about equally often,
    # and a request meets a fault (of either) with probability `rate`.
    proxy_rate = options.rate * len(ALL_PROXY_FAULTS) / (len(ALL_PROXY_FAULTS) + len(ALL_FAULTS))
    transport_rate = 1 - (1 - options.rate) / (1 - proxy_rate)

    def spare_setup(method: str, target: str) -> bool:
        return target.split("?", maxsplit=1)[0].endswith("/admin/version")

    settings = ClientSettings(client_csrf_support_enabled=False)

    async with run_fault_proxy(
        upstream.host,
        upstream.port,
        seed=options.seed + 1,
        rate=proxy_rate,
        spare=spare_setup,
        stall_seconds=options.stall_seconds,
    ) as proxy:
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=25)
        transport = _transport(httpx.AsyncHTTPTransport(limits=limits), options, transport_rate)
        url = f"{proxy.url}{upstream.raw_path.decode()}"
        answers: dict[UUID, str] = {}
        async with PrefectClient(
            url,
            settings=settings,
            httpx_settings={
                "transport": transport,
                "event_hooks": log_hooks(answers),
                "on_retry": _on_retry(row),
            },
        ) as client:
            work = Workload(client, tag, row, log_answers=answers)
            started = time.perf_counter()
            await work.run(options.runs, options.concurrency)
            row.wall_s = time.perf_counter() - started
    async with PrefectClient(options.prefect_api_url, settings=settings) as clean:
        await read_back(clean, work, options.runs, row)
    _finish(row, work, transport, proxy)
    return row


def _finish(
    row: Row, work: Workload, transport: FaultInjectingTransport, proxy: FaultProxy | None
) -> None:
    row.requests = transport.requests
    row.setup_requests = transport.plan.spared
    faults: Counter[str] = Counter({kind.value: n for kind, n in transport.injected.items()})
    if proxy is not None:
        faults.update({kind.value: n for kind, n in proxy.injected.items()})
    row.faults = dict(faults)
    row.outcome_unknown = dict(work.outcome_unknown)
    row.errors = dict(work.errors)


# ---------------------------------------------------------------------------- the table

_SHORT = {
    FaultKind.RATE_LIMITED_SECONDS.value: "429s",
    FaultKind.RATE_LIMITED_DATE.value: "429d",
    FaultKind.BAD_GATEWAY.value: "502",
    FaultKind.UNAVAILABLE.value: "503",
    FaultKind.MAINTENANCE.value: "maint",
    FaultKind.RESET_BEFORE_SEND.value: "rst-before",
    FaultKind.RESET_AFTER_SEND.value: "rst-after",
    FaultKind.READ_TIMEOUT.value: "read-timeout",
    FaultKind.STALL.value: "stall",
    FaultKind.HTML_BODY.value: "html",
    FaultKind.EMPTY_BODY.value: "empty",
    FaultKind.TRUNCATED_JSON.value: "truncated",
}


def table(rows: list[Row]) -> str:
    header = (
        "| server | backend | flow runs stored | duplicates | broken histories (flow/task) "
        "| requests | faults injected (by kind) | retries | OutcomeUnknownError (by call) "
        "| `POST /logs/` lost answers: lines arrived | wall time |"
    )
    lines = [header, "|" + "---|" * 11]
    for r in rows:
        faults = ", ".join(
            f"{_SHORT.get(kind, kind)} {n}" for kind, n in sorted(r.faults.items()) if n
        )
        unknown = ", ".join(f"{step} {n}" for step, n in sorted(r.outcome_unknown.items()))
        lines.append(
            f"| {r.server} | {r.backend} | {r.stored} / {r.runs} | {r.duplicates} "
            f"| {r.broken_flow_runs} / {r.broken_task_runs} | {r.requests} "
            f"| {sum(r.faults.values())}: {faults} | {r.retries} | {unknown or 0} "
            f"| {r.logs_unknown_arrived} of {r.logs_unknown} | {r.wall_s:.1f} s |"
        )
    return "\n".join(lines)


def notes(rows: list[Row]) -> str:
    out = []
    for r in rows:
        extra = []
        if r.logs_missing_after_success:
            extra.append(
                f"{r.logs_missing_after_success} log calls answered as a success whose "
                f"lines are not stored ({r.logs_missing_after_html} of them by an HTML page)"
            )
        if r.runs_with_extra_log_lines:
            extra.append(f"{r.runs_with_extra_log_lines} runs with extra log lines")
        if r.duplicate_task_runs:
            extra.append(f"{r.duplicate_task_runs} duplicate task runs")
        if r.strangers:
            extra.append(f"{r.strangers} unexpected flow runs")
        extra.append(f"{r.read_backs} read-backs after unknown outcomes, {r.recalls} re-calls")
        extra.append(f"{r.retry_sleep_s:.0f} s of retry delays (on_retry), all tasks together")
        if r.backpressure:
            b = r.backpressure
            extra.append(
                f"in-flight limit {b['mean_limit']:g} on average with {b['mean_waiting']:g} "
                f"requests waiting ({b['decreases']:g} decreases, peak {b['peak_in_flight']:g})"
            )
        missed = r.missed()
        verdict = "targets met" if not missed else "MISSED: " + "; ".join(missed)
        out.append(f"- {r.server} / {r.backend}: {verdict}; " + "; ".join(extra))
        for failure in r.failures[:5]:
            out.append(f"  - {failure}")
        for example in r.broken_examples[:5]:
            out.append(f"  - broken: {example}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.run", description=__doc__)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--servers", default="embedded,prefect")
    parser.add_argument("--backends", default="trio,asyncio")
    parser.add_argument("--prefect-api-url", default=None)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--stall-seconds", type=float, default=0.2)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--markdown", default=None, help="also write the table to this file")
    parser.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    backends = [b for b in args.backends.split(",") if b]
    for server in servers:
        if server not in ("embedded", "prefect"):
            parser.error(f"unknown server {server!r}: choose from embedded, prefect")
    for backend in backends:
        if backend not in ("trio", "asyncio"):
            parser.error(f"unknown backend {backend!r}: choose from trio, asyncio")
    options = Options(
        runs=args.runs,
        concurrency=args.concurrency,
        rate=args.rate,
        seed=args.seed,
        stall_seconds=args.stall_seconds,
        retry_after=args.retry_after,
        prefect_api_url=args.prefect_api_url,
    )
    rows = []
    for server in servers:
        for backend in backends:
            row_of = embedded_row if server == "embedded" else prefect_row
            print(f"running {server} on {backend} ...", file=sys.stderr, flush=True)
            row = anyio.run(row_of, backend, options, backend=backend)
            print(f"  {row.wall_s:.1f} s, {row.requests} requests", file=sys.stderr, flush=True)
            rows.append(row)
    report = table(rows) + "\n\n" + notes(rows)
    print(report)
    if args.markdown:
        Path(args.markdown).write_text(report + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2, default=str))
    missed = [r for r in rows if r.missed()]
    if args.check and missed:
        print(f"\n{len(missed)} row(s) missed a target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
