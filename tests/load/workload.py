"""The load workload of issue 8, written once and run by three drivers.

One flow run of the workload is ten calls, in this order::

    create_flow_run (idempotency key)         POST /flow_runs/
    set_flow_run_state Running                POST /flow_runs/{id}/set_state
    2 x  create_task_run                      POST /task_runs/
         set_task_run_state Running           POST /task_runs/{id}/set_state
         set_task_run_state Completed         POST /task_runs/{id}/set_state
    create_logs (3 lines)                     POST /logs/
    set_flow_run_state Completed              POST /flow_runs/{id}/set_state

`run_workload` runs ``runs`` of them with at most ``concurrency`` in flight against a
`LoadClient`: a thin adapter whose every method is exactly one call of the client under
test (ours on trio, ours on asyncio, Prefect's own on asyncio), so all three send the same
requests. `Recorder` counts what went over the wire through httpx event hooks, which both
clients accept in ``httpx_settings``. `read_back` then reads the stored runs with plain
httpx (the same code whatever client wrote them) and says which runs were lost or
duplicated.

This module imports only the standard library, httpx and anyio (a dependency of Prefect
too), because Prefect's driver runs it in a virtualenv that has Prefect and not our package.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar

import anyio
import httpx

__all__ = [
    "CALLS_PER_RUN",
    "LOG_LINES",
    "OVERLOAD_STATUSES",
    "TASKS_PER_RUN",
    "TASK_KEY",
    "LoadClient",
    "Recorder",
    "flow_name",
    "machine_cpu",
    "now",
    "outcome",
    "parse_parts",
    "process_tree_cpu",
    "read_back",
    "record_counts",
    "run_key",
    "run_workload",
    "trees_cpu",
]

TASKS_PER_RUN = 2
LOG_LINES = 3
CALLS_PER_RUN = 1 + 1 + TASKS_PER_RUN * 3 + 1 + 1
TASK_KEY = "load-task"
#: The dynamic keys of one flow run's task runs.
_DYNAMIC_KEYS = {str(k) for k in range(TASKS_PER_RUN)}
#: Statuses that mean "overloaded, try again later".
OVERLOAD_STATUSES = (503, 429)

# The route each workload step calls, as `Recorder.route` names requests.
STEP_ROUTES = {
    "create_flow_run": "POST /flow_runs/",
    "set_flow_run_state": "POST /flow_runs/{id}/set_state",
    "create_task_run": "POST /task_runs/",
    "set_task_run_state": "POST /task_runs/{id}/set_state",
    "create_logs": "POST /logs/",
}

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

T = TypeVar("T")


class LoadClient(Protocol):
    """One method per client call the workload makes; ids travel as strings."""

    async def create_flow_from_name(self, name: str) -> str: ...

    async def create_flow_run(
        self, flow_id: str, *, name: str, tags: list[str], idempotency_key: str
    ) -> str: ...

    async def set_flow_run_state(self, flow_run_id: str, state: str) -> str:
        """Propose ``state`` ("RUNNING" or "COMPLETED"); return the status ("ACCEPT", ...)."""
        ...

    async def create_task_run(
        self, *, flow_run_id: str, task_key: str, dynamic_key: str, name: str
    ) -> str: ...

    async def set_task_run_state(self, task_run_id: str, state: str) -> str: ...

    async def create_logs(self, flow_run_id: str, messages: list[str]) -> None: ...


def flow_name(tag: str) -> str:
    """The flow every run of a measurement row belongs to."""
    return f"load-{tag}"


def run_key(tag: str, index: int) -> str:
    """Name and idempotency key of run ``index`` of the row tagged ``tag``."""
    return f"{tag}-{index}"


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its descendants, from /proc.

    Threads are included (a process's stat counts them all), and so are children that
    exited and were waited for. Processes that vanish while being read are skipped.
    """
    return trees_cpu({"tree": pid})["tree"]


def trees_cpu(roots: Mapping[str, int]) -> dict[str, float]:
    """`process_tree_cpu` of several processes by name, from one read of /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        # fields[0] is field 3 of proc(5): ppid is 4, utime..cstime are 14..17.
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(value) for value in fields[11:15])
    children: defaultdict[int, list[int]] = defaultdict(list)
    for child, parent in parents.items():
        children[parent].append(child)

    def tree(pid: int) -> float:
        members, todo = {pid}, [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in members:
                    members.add(child)
                    todo.append(child)
        return sum(times.get(member, 0) for member in members) / ticks

    return {name: tree(pid) for name, pid in roots.items()}


def parse_parts(values: list[str]) -> dict[str, int]:
    """``NAME=PID`` options (``--part replica-0=1234``) as a mapping.

    Raises:
        ValueError: a value is not NAME=PID with a whole number for PID.
    """
    parts: dict[str, int] = {}
    for value in values:
        name, _, pid = value.partition("=")
        if not name or not pid.isdigit():
            raise ValueError(f"--part {value!r}: expected NAME=PID, e.g. replica-0=1234")
        parts[name] = int(pid)
    return parts


def machine_cpu() -> float:
    """CPU seconds all processes of the machine spent so far (/proc/stat, every core)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = stat.readline().split()
    # cpu user nice system idle iowait irq softirq steal ...: busy is all but idle, iowait.
    busy = sum(int(value) for value in fields[1:9]) - int(fields[4]) - int(fields[5])
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class Recorder:
    """Counts requests and answers by route, through httpx event hooks.

    Both clients call the hooks for every attempt (their retry loops re-send through
    httpx), so ``requests - calls`` per route is the number of retries.
    """

    started: float = field(default_factory=time.perf_counter)
    requests: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    overload_times: list[tuple[float, str, int]] = field(default_factory=list)
    _sent: dict[int, float] = field(default_factory=dict)

    @staticmethod
    def route(request: httpx.Request) -> str:
        path = request.url.path
        api = path.find("/api/")
        if api >= 0:
            path = path[api + len("/api") :]
        return f"{request.method} {_UUID.sub('{id}', path)}"

    def hooks(self) -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
        """``event_hooks`` for ``httpx_settings``."""
        return {"request": [self._on_request], "response": [self._on_response]}

    def restart(self) -> None:
        """Forget what was counted so far (the set-up calls) and restart the clock."""
        self.started = time.perf_counter()
        self.requests.clear()
        self.statuses.clear()
        self.latencies.clear()
        self.overload_times.clear()
        self._sent.clear()

    async def _on_request(self, request: httpx.Request) -> None:
        self.requests[self.route(request)] += 1
        self._sent[id(request)] = time.perf_counter()

    async def _on_response(self, response: httpx.Response) -> None:
        now = time.perf_counter()
        route = self.route(response.request)
        self.statuses[route][response.status_code] += 1
        sent = self._sent.pop(id(response.request), None)
        if sent is not None and response.status_code < 400:
            self.latencies[route].append(now - sent)
        if response.status_code in OVERLOAD_STATUSES:
            self.overload_times.append((now - self.started, route, response.status_code))
            if sent is not None:
                self.latencies[f"{route} -> {response.status_code}"].append(now - sent)

    def summary(self) -> dict[str, Any]:
        """Counts by route; latencies (request hook to response hook, so they include the
        wait for a pooled connection) of successes by route and of overload answers
        under ``"<route> -> <status>"``."""
        all_latencies = sorted(
            x for route, values in self.latencies.items() if "->" not in route for x in values
        )
        bursts: Counter[int] = Counter(int(t) for t, _, _ in self.overload_times)
        return {
            "requests": dict(self.requests),
            "statuses": {route: dict(c) for route, c in self.statuses.items()},
            "latency_ms": {
                route: _quantiles(sorted(values)) for route, values in self.latencies.items()
            },
            "latency_all_ms": _quantiles(all_latencies),
            "overload_by_second": dict(sorted(bursts.items())),
        }


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)

    return {
        "n": len(values),
        "mean": round(sum(values) / len(values) * 1000, 2),
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(values[-1] * 1000, 2),
    }


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    if status is None and isinstance(response, httpx.Response):
        status = response.status_code
    name = type(exc).__name__
    return f"{name} {status}" if status is not None else name


async def run_workload(
    client: LoadClient,
    recorder: Recorder,
    *,
    runs: int,
    concurrency: int,
    tag: str,
    server_pid: int | None = None,
    parts: Mapping[str, int] | None = None,
    warmup: int = 2,
) -> dict[str, Any]:
    """Run the workload: ``runs`` flow runs, at most ``concurrency`` in flight.

    A run whose calls raise is given up (its remaining calls are not made) and recorded
    with the step and the error. Returns the counts of the timed part. Before the clock
    starts, the flow is created and ``warmup`` runs of the same workload (tagged
    ``<tag>-warmup``, one at a time) warm the server's and the client's caches.

    Args:
        client: The adapter over the client under test (its hooks feed ``recorder``).
        recorder: The recorder whose hooks the client's HTTP client calls.
        runs: How many flow runs.
        concurrency: How many flow runs in flight at most (the number of workers).
        tag: Tags every flow run of this row; names and idempotency keys derive from it.
        server_pid: The server's process id, to measure its CPU time; None skips it.
        parts: More processes whose CPU time (each with its descendants) to measure,
            by name: a topology's replicas, database, proxy (``parts_cpu_s``).
        warmup: How many untimed runs go first (not counted, not read back).
    """
    flow_id = await client.create_flow_from_name(flow_name(tag))
    calls: Counter[str] = Counter()
    not_accepted: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []

    async def call(step: str, awaitable: Awaitable[T]) -> T:
        calls[step] += 1
        return await awaitable

    async def transition(step: str, awaitable: Awaitable[str], state: str) -> None:
        status = await call(step, awaitable)
        if status != "ACCEPT":
            not_accepted[f"{step} {state}: {status}"] += 1

    async def one_run(index: int, run_tag: str = tag) -> None:
        key = run_key(run_tag, index)
        step = "create_flow_run"
        try:
            run_id = await call(
                step,
                client.create_flow_run(flow_id, name=key, tags=[run_tag], idempotency_key=key),
            )
            step = "set_flow_run_state"
            await transition(step, client.set_flow_run_state(run_id, "RUNNING"), "RUNNING")
            for k in range(TASKS_PER_RUN):
                step = "create_task_run"
                task_run_id = await call(
                    step,
                    client.create_task_run(
                        flow_run_id=run_id,
                        task_key=TASK_KEY,
                        dynamic_key=str(k),
                        name=f"{TASK_KEY}-{k}",
                    ),
                )
                step = "set_task_run_state"
                for state in ("RUNNING", "COMPLETED"):
                    await transition(step, client.set_task_run_state(task_run_id, state), state)
            step = "create_logs"
            messages = [f"line {j}" for j in range(LOG_LINES)]
            await call(step, client.create_logs(run_id, messages))
            step = "set_flow_run_state"
            await transition(step, client.set_flow_run_state(run_id, "COMPLETED"), "COMPLETED")
        except Exception as exc:
            failures.append(
                {
                    "index": index,
                    "step": step,
                    "error": _describe(exc),
                    "message": str(exc)[:300],
                    "at_s": round(time.perf_counter() - recorder.started, 3),
                }
            )

    for index in range(warmup):
        await one_run(index, f"{tag}-warmup")
    calls.clear()
    not_accepted.clear()
    failures.clear()
    indexes = iter(range(runs))

    async def worker() -> None:
        for index in indexes:  # shared: each worker takes the next run when it is free
            await one_run(index)

    recorder.restart()
    server_cpu_before = process_tree_cpu(server_pid) if server_pid else None
    parts_before = trees_cpu(parts or {})
    machine_cpu_before = machine_cpu()
    client_cpu_before = time.process_time()
    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, runs)):
            tg.start_soon(worker)
    wall = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu_before
    all_cpu = machine_cpu() - machine_cpu_before
    parts_after = trees_cpu(parts or {})
    server_cpu = (
        process_tree_cpu(server_pid) - server_cpu_before
        if server_pid and server_cpu_before is not None
        else None
    )
    return {
        "runs": runs,
        "concurrency": concurrency,
        "tag": tag,
        "wall_s": wall,
        "client_cpu_s": client_cpu,
        "server_cpu_s": server_cpu,
        # Everything else the machine ran meanwhile (other work disturbs a measurement).
        "other_cpu_s": all_cpu - client_cpu - (server_cpu or 0.0),
        "parts_cpu_s": {name: parts_after[name] - parts_before[name] for name in parts_after},
        "calls": {STEP_ROUTES[step]: n for step, n in calls.items()},
        "not_accepted": dict(not_accepted),
        "failures": sorted(failures, key=lambda f: f["index"]),
        **recorder.summary(),
    }


async def _csrf_headers(http: httpx.AsyncClient) -> dict[str, str]:
    client_id = f"load-read-back-{os.getpid()}"
    answer = await http.get("/csrf-token", params={"client": client_id})
    if answer.status_code != 200:  # 422 (or 404): the server has CSRF protection off
        return {}
    return {"Prefect-Csrf-Token": answer.json()["token"], "Prefect-Csrf-Client": client_id}


async def _filter_all(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], page: int = 200
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        answer = await http.post(path, json={**body, "limit": page, "offset": len(found)})
        answer.raise_for_status()
        batch = answer.json()
        found.extend(batch)
        if len(batch) < page:
            return found


async def _by_flow_run(
    http: httpx.AsyncClient, path: str, key: str, run_ids: list[str], sort: str
) -> dict[str, list[dict[str, Any]]]:
    """Task runs or logs of the given flow runs, grouped by flow run id."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    chunk = 40  # 40 runs have 80 task runs and 120 logs: one page each
    for start in range(0, len(run_ids), chunk):
        ids = run_ids[start : start + chunk]
        body = {key: {"flow_run_id": {"any_": ids}}, "sort": sort}
        for item in await _filter_all(http, path, body):
            grouped[item["flow_run_id"]].append(item)
    return grouped


async def read_back(api_url: str, tag: str, runs: int) -> dict[str, Any]:
    """Read the row's stored runs with plain httpx and say which are lost or duplicated.

    A run is complete when a flow run named ``run_key(tag, i)`` is stored COMPLETED with
    ``TASKS_PER_RUN`` COMPLETED task runs and its ``LOG_LINES`` log lines. Duplicates are
    stored flow runs beyond the first of each name; task runs beyond the first of each
    (flow run, dynamic key); log lines beyond the first of each (flow run, message).
    Missing task runs and log lines are those of the expected runs that are not stored
    (all of them for a flow run that is not).
    """
    async with httpx.AsyncClient(base_url=api_url.rstrip("/") + "/", timeout=60) as http:
        http.headers.update(await _csrf_headers(http))
        flow_runs = await _filter_all(
            http,
            "flow_runs/filter",
            {"flow_runs": {"tags": {"all_": [tag]}}, "sort": "ID_DESC"},
        )
        run_ids = [run["id"] for run in flow_runs]
        task_runs = await _by_flow_run(http, "task_runs/filter", "task_runs", run_ids, "ID_DESC")
        logs = await _by_flow_run(http, "logs/filter", "logs", run_ids, "TIMESTAMP_ASC")

    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in flow_runs:
        by_name[run["name"]].append(run)
    expected_messages = sorted(f"line {j}" for j in range(LOG_LINES))
    complete: set[str] = set()
    problems: Counter[str] = Counter()
    extra_logs = 0
    for name, copies in by_name.items():
        for run in copies:
            tasks = task_runs.get(run["id"], [])
            messages = sorted(log["message"] for log in logs.get(run["id"], []))
            done_tasks = [t for t in tasks if t.get("state_type") == "COMPLETED"]
            if len(messages) > LOG_LINES:
                extra_logs += 1
            if run.get("state_type") != "COMPLETED":
                problems[f"flow run {run.get('state_type')}"] += 1
            elif len(done_tasks) != TASKS_PER_RUN:
                problems[f"{len(done_tasks)} completed task runs of {len(tasks)}"] += 1
            elif sorted(set(messages)) != expected_messages:
                problems[f"{len(messages)} log lines"] += 1
            else:
                complete.add(name)
    expected = {run_key(tag, i) for i in range(runs)}
    counts = record_counts({name: by_name.get(name, []) for name in expected}, task_runs, logs)
    return {
        "stored": len(set(by_name) & expected),
        "stored_flow_runs": len(flow_runs),
        "strangers": len(set(by_name) - expected),
        "duplicates": sum(len(copies) - 1 for copies in by_name.values()),
        "complete_names": sorted(complete & expected),
        "incomplete": dict(problems),
        "runs_with_extra_logs": extra_logs,
        **counts,
    }


def record_counts(
    expected: dict[str, list[dict[str, Any]]],
    task_runs: dict[str, list[dict[str, Any]]],
    logs: dict[str, list[dict[str, Any]]],
) -> dict[str, int]:
    """Lost and duplicated task runs and log lines of the expected flow runs (by name)."""
    counts = Counter[str]()
    wanted_messages = {f"line {j}" for j in range(LOG_LINES)}
    for copies in expected.values():
        keys: set[str] = set()
        messages: set[str] = set()
        # Per flow run: a duplicated flow run's own records are counted as its duplicate.
        for run in copies:
            run_keys = Counter(str(t.get("dynamic_key")) for t in task_runs.get(run["id"], []))
            run_messages = Counter(log["message"] for log in logs.get(run["id"], []))
            counts["task_runs_duplicated"] += sum(n - 1 for n in run_keys.values())
            counts["log_lines_duplicated"] += sum(n - 1 for n in run_messages.values())
            keys.update(run_keys)
            messages.update(run_messages)
        counts["task_runs_lost"] += TASKS_PER_RUN - len(keys & _DYNAMIC_KEYS)
        counts["log_lines_lost"] += LOG_LINES - len(messages & wanted_messages)
    return {
        key: counts[key]
        for key in (
            "task_runs_lost",
            "task_runs_duplicated",
            "log_lines_lost",
            "log_lines_duplicated",
        )
    }


def outcome(result: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """Merge a row's workload counts with its read-back: lost, stored, duplicates."""
    runs = result["runs"]
    tag = result["tag"]
    gave_up = {f["index"] for f in result["failures"]}
    complete = set(stored["complete_names"])
    lost = [i for i in range(runs) if i in gave_up or run_key(tag, i) not in complete]
    calls = sum(result["calls"].values())
    workload_requests = sum(result["requests"].get(route, 0) for route in STEP_ROUTES.values())
    statuses = Counter[int]()
    for per_route in result["statuses"].values():
        statuses.update({int(k): v for k, v in per_route.items()})
    return {
        "lost": len(lost),
        "gave_up": len(gave_up),
        "lost_indexes": lost[:50],
        "stored": stored["stored"],
        "duplicates": stored["duplicates"],
        "calls_total": calls,
        "requests_total": sum(result["requests"].values()),
        "retries": workload_requests - calls,
        "status_503": statuses.get(503, 0),
        "status_429": statuses.get(429, 0),
        "status_totals": {str(k): v for k, v in sorted(statuses.items())},
    }


def now() -> datetime:
    """An aware timestamp for log lines."""
    return datetime.now(timezone.utc)
