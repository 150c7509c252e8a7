"""What client contexts cost (issue 14; DESIGN.md section 2b), beside Prefect's own client.

A benchmark program, not a test. A stub Prefect API (`tests/bench/stub_server.py`: real
HTTP/1.1 on 127.0.0.1, in a process of its own, so the client's process measures only the
client) answers ``GET /api/admin/version`` and ``GET /api/health`` and counts what it sees
on a second, uncounted control port. Each measurement runs in a fresh interpreter
pointed at it by ``PREFECT_API_URL`` (``PREFECT_HOME`` a temporary folder):

- **A**: N tasks (10,000) each enter ``async with get_client()``, all hold their context
  open together, then all leave, on trio and on asyncio. Per context: CPU
  (``process_time`` / N, entering and leaving; the task harness alone, with a no-op
  context, is measured too), the peak of Python allocations (``tracemalloc``, a second
  pass) and the resident-set growth while all are open (``/proc/self/statm``, which also
  sees OpenSSL's memory), both / N; and what reached the server while they entered.
- **B**: 5,000 tasks, each three ``get_client()`` contexts deep with one
  ``api_healthcheck()`` (``GET /health``) at each level: failures, version checks the
  server received, TCP connections it accepted, wall time and CPU of the client process.
- **C**: scenario A at N=1,000 with ours (both backends) and with Prefect 3.9.1's
  ``prefect.client.orchestration.get_client()`` on asyncio, run in Prefect's own
  virtualenv by `tests/bench/prefect_contexts.py` (``--prefect-python``), and the ratio.

The rounds are interleaved (every measurement once, then again); the table shows the
median of the rounds for times and memory (with the range of CPU times) and the largest
value of any round for counts. `nox -s bench` runs it and writes the table to the
"Client contexts" section of ``BENCHMARKS.md``::

    python -m tests.bench_contexts --rounds 5 --prefect-python .nox/bench-prefect/bin/python
    python -m tests.bench_contexts --rounds 1 --contexts 500 --tasks 200 --compare 100
    python -m tests.bench_contexts profile open --backend trio --contexts 10000
    python -m tests.bench_contexts profile nested --backend asyncio --tasks 5000
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VERSION_PATH = "/api/admin/version"
CHILD_TIMEOUT = 600.0

# Targets of issue 14.
CPU_TARGET_US = 250.0
MEMORY_TARGET_KIB = 20.0
NESTED_CONNECTIONS_TARGET = 16
RATIO_TARGET = 100.0


# The measuring side: runs in a fresh interpreter per measurement (``child``).


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class NoOp:
    """The harness alone: a context that costs nothing."""

    async def __aenter__(self) -> NoOp:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


async def hold_open(make: Callable[[], Any], n: int) -> tuple[float, float, int]:
    """n tasks enter a context each and hold it until all are in; then all leave.

    Returns (CPU until all are in, CPU to leave, resident bytes while all are in).
    """
    import anyio

    entered = 0
    errors: list[BaseException] = []
    all_in = anyio.Event()
    release = anyio.Event()

    async def one() -> None:
        nonlocal entered
        try:
            async with make():
                entered += 1
                if entered == n:
                    all_in.set()
                await release.wait()
        except Exception as exc:
            errors.append(exc)
            all_in.set()

    start = time.process_time()
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
        await all_in.wait()
        opened = time.process_time()
        rss = resident_bytes()
        release.set()
    closed = time.process_time()
    if errors:
        raise RuntimeError(f"{len(errors)} of {n} contexts failed; first: {errors[0]!r}")
    return opened - start, closed - opened, rss


class GcClock:
    """CPU time spent in Python's cyclic garbage collector while it is on."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started
            self.collections += 1

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)


async def traced_peak(make: Callable[[], Any], n: int) -> int:
    """The peak of Python allocations while n contexts are open (bytes)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    await hold_open(make, n)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def server_stats(control_url: str) -> dict[str, Any]:
    from tests.bench.stub_server import control

    return control(control_url, "GET", "/stats")


def reset_server_stats(control_url: str) -> dict[str, Any]:
    from tests.bench.stub_server import control

    return control(control_url, "POST", "/reset")


def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """What reached the server between two readings of its counts."""
    versions = after["requests"].get(VERSION_PATH, 0) - before["requests"].get(VERSION_PATH, 0)
    return {
        "version_checks": versions,
        "requests": after["requests_total"] - before["requests_total"],
        "connections": after["connections"] - before["connections"],
        "bad_requests": after["bad_requests"] - before["bad_requests"],
    }


@contextlib.contextmanager
def profiled(enabled: bool) -> Iterator[None]:
    """cProfile around the measured pass, top entries to stderr (a diagnostic); the
    whole profile goes to the file ``BENCH_CONTEXTS_PROFILE`` names, if set."""
    if not enabled:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        if os.environ.get("BENCH_CONTEXTS_PROFILE"):
            profile.dump_stats(os.environ["BENCH_CONTEXTS_PROFILE"])
        for order in ("tottime", "cumulative"):
            print(f"--- cProfile, by {order} ---", file=sys.stderr)
            stats = pstats.Stats(profile, stream=sys.stderr).strip_dirs()
            stats.sort_stats(order).print_stats(30)


async def scenario_open(n: int, control_url: str, profile: bool, traced: bool) -> dict[str, Any]:
    import sniffio

    from prefect_trio_client.orchestration import get_client

    start = time.process_time()
    async with get_client():  # first use: imports, the SSL context, ... (reported apart)
        pass
    first = time.process_time() - start
    gc.collect()
    before = server_stats(control_url)
    rss_before = resident_bytes()
    with profiled(profile), GcClock() as gc_clock:
        open_cpu, close_cpu, rss_open = await hold_open(get_client, n)
    counts = delta(before, server_stats(control_url))
    # Tracing slows every allocation down (and its answer hardly varies): the memory
    # pass can be left out.
    peak = await traced_peak(get_client, n) if traced else None
    gc.collect()
    harness_open, harness_close, _ = await hold_open(NoOp, n)
    harness_peak = await traced_peak(NoOp, n) if traced else None
    return {
        "client": "ours",
        "backend": sniffio.current_async_library(),
        "contexts": n,
        "first_ms": first * 1e3,
        "open_us": open_cpu / n * 1e6,
        "close_us": close_cpu / n * 1e6,
        "cpu_us": (open_cpu + close_cpu) / n * 1e6,
        "harness_us": (harness_open + harness_close) / n * 1e6,
        "gc_us": gc_clock.seconds / n * 1e6,
        "gc_collections": gc_clock.collections,
        "py_kib": None if peak is None else peak / n / 1024,
        "harness_py_kib": None if harness_peak is None else harness_peak / n / 1024,
        "rss_kib": (rss_open - rss_before) / n / 1024,
        **counts,
    }


async def scenario_nested(
    tasks: int, depth: int, control_url: str, profile: bool
) -> dict[str, Any]:
    import anyio
    import sniffio

    from prefect_trio_client.orchestration import PrefectClient, get_client

    failures: list[str] = []

    async def check(client: PrefectClient) -> None:
        error = await client.api_healthcheck()
        if error is not None:
            raise error

    async def level(remaining: int) -> None:
        async with get_client() as client:
            await check(client)
            if remaining > 1:
                await level(remaining - 1)

    async def one() -> None:
        try:
            await level(depth)
        except Exception as exc:
            failures.append(repr(exc))

    await level(1)  # first use, apart (its connection closes as it leaves)
    gc.collect()
    before = reset_server_stats(control_url)  # also the largest number of open connections
    start_wall, start_cpu = time.monotonic(), time.process_time()
    with profiled(profile):
        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(one)
    wall, cpu = time.monotonic() - start_wall, time.process_time() - start_cpu
    after = server_stats(control_url)
    return {
        "client": "ours",
        "backend": sniffio.current_async_library(),
        "tasks": tasks,
        "depth": depth,
        "failures": len(failures),
        "failure_examples": sorted(set(failures))[:5],
        "wall_s": wall,
        "cpu_s": cpu,
        "max_open_connections": after["max_open"],
        **delta(before, after),
    }


def child(args: argparse.Namespace) -> None:
    import anyio

    if args.scenario == "open":
        result = anyio.run(
            scenario_open,
            args.contexts,
            args.control_url,
            args.profile,
            not args.no_traced,
            backend=args.backend,
        )
    else:
        result = anyio.run(
            scenario_nested,
            args.tasks,
            args.depth,
            args.control_url,
            args.profile,
            backend=args.backend,
        )
    print(json.dumps(result))


# The driving side: the stub server, the rounds, the table.


@dataclass(frozen=True)
class Job:
    key: str
    scenario: str  # "open" or "nested"
    client: str  # "ours" or "prefect"
    backend: str
    size: int


@dataclass
class Results:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def values(self, key: str, name: str) -> list[float]:
        return [row[name] for row in self.rows.get(key, []) if row.get(name) is not None]

    def median(self, key: str, name: str) -> float | None:
        values = self.values(key, name)
        return statistics.median(values) if values else None

    def largest(self, key: str, name: str) -> float | None:
        values = self.values(key, name)
        return max(values) if values else None


def client_overrides() -> dict[str, str]:
    """``PREFECT_CLIENT_*`` settings of this environment: passed on, and named in the table
    (``PREFECT_CLIENT_BACKPRESSURE_MAX=8 nox -s bench``); other ``PREFECT_*`` are not."""
    return {k: v for k, v in os.environ.items() if k.startswith("PREFECT_CLIENT_")}


def child_env(api_url: str, home: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") and not k.lower().endswith("_proxy")
    }
    env.update(client_overrides())
    env.update({"PREFECT_API_URL": api_url, "PREFECT_HOME": home})
    return env


def command(
    job: Job, control_url: str, prefect_python: str | None, depth: int, traced: bool = True
) -> list[str]:
    if job.client == "prefect":
        assert prefect_python is not None
        script = str(HERE / "bench" / "prefect_contexts.py")
        argv = [prefect_python, script, "--contexts", str(job.size), "--control-url", control_url]
        return argv if traced else [*argv, "--no-traced"]
    size = ["--contexts", str(job.size)] if job.scenario == "open" else ["--tasks", str(job.size)]
    if not traced and job.scenario == "open":
        size.append("--no-traced")
    return [
        sys.executable,
        "-m",
        "tests.bench_contexts",
        "child",
        job.scenario,
        *("--backend", job.backend, "--control-url", control_url, "--depth", str(depth)),
        *size,
    ]


def run_job(
    job: Job, stub: Any, home: str, prefect_python: str | None, depth: int, traced: bool
) -> Any:
    env = child_env(stub.api_url, home)
    if job.client == "prefect":
        env.update(
            {
                "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_TO_API_ENABLED": "false",
            }
        )
    else:
        env["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
    done = subprocess.run(
        command(job, stub.control_url, prefect_python, depth, traced),
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=HERE.parent,
        timeout=CHILD_TIMEOUT,
    )
    if done.returncode != 0 or not done.stdout.strip():
        return f"exit status {done.returncode}: {done.stderr.strip()[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def jobs(args: argparse.Namespace) -> list[Job]:
    result = []
    for backend in ("trio", "asyncio"):
        result.append(Job(f"A-{backend}", "open", "ours", backend, args.contexts))
    for backend in ("trio", "asyncio"):
        result.append(Job(f"B-{backend}", "nested", "ours", backend, args.tasks))
    for backend in ("trio", "asyncio"):
        result.append(Job(f"C-{backend}", "open", "ours", backend, args.compare))
    if args.prefect_python:
        result.append(Job("C-prefect", "open", "prefect", "asyncio", args.compare))
    return result


def measure(args: argparse.Namespace) -> Results:
    from tests.bench.stub_server import running

    results = Results()
    planned = jobs(args)
    home = tempfile.mkdtemp(prefix="bench-contexts-home-")
    try:
        with running() as stub:
            for round_ in range(1, args.rounds + 1):
                for job in planned:
                    # Scenario B and Prefect's client take long: they run in the first
                    # rounds only; the (slow) tracemalloc passes in the first --traced-rounds.
                    if job.client == "prefect" and round_ > args.prefect_rounds:
                        continue
                    if job.scenario == "nested" and round_ > args.nested_rounds:
                        continue
                    traced = round_ <= args.traced_rounds
                    started = time.monotonic()
                    outcome = run_job(job, stub, home, args.prefect_python, args.depth, traced)
                    took = time.monotonic() - started
                    if isinstance(outcome, str):
                        results.errors.setdefault(job.key, []).append(outcome)
                        print(f"round {round_} {job.key}: FAILED {outcome}", file=sys.stderr)
                        continue
                    results.rows.setdefault(job.key, []).append(outcome)
                    print(f"round {round_} {job.key}: {took:.1f}s {summary(outcome)}", flush=True)
    finally:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    return results


def summary(row: dict[str, Any]) -> str:
    if "cpu_us" in row:
        return (
            f"cpu {row['cpu_us']:.1f} us/context, py {fmt(row['py_kib'], 2)} KiB, "
            f"rss {row['rss_kib']:.2f} KiB, version checks {row['version_checks']}, "
            f"connections {row['connections']}"
        )
    return (
        f"failures {row['failures']}, version checks {row['version_checks']}, "
        f"connections {row['connections']}, wall {row['wall_s']:.2f}s, cpu {row['cpu_s']:.2f}s"
    )


# The table.


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def fmt_range(results: Results, key: str, name: str, digits: int = 1) -> str:
    values = results.values(key, name)
    if not values:
        return "n/a"
    middle = statistics.median(values)
    if len(values) == 1:
        return fmt(middle, digits)
    return f"{fmt(middle, digits)} ({fmt(min(values), digits)}-{fmt(max(values), digits)})"


def fmt_count(results: Results, key: str, name: str) -> str:
    value = results.largest(key, name)
    return "n/a" if value is None else f"{int(value):,}"


def verdict(values: list[float | None], ok: Callable[[float], bool]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"
    return "yes" if all(ok(v) for v in known) else "**no**"


def ratio(results: Results, ours: str) -> float | None:
    theirs = results.median("C-prefect", "cpu_us")
    mine = results.median(ours, "cpu_us")
    return None if theirs is None or mine is None or mine <= 0 else theirs / mine


def table(args: argparse.Namespace, results: Results) -> str:
    r = results
    a, b, c = ("A-trio", "A-asyncio"), ("B-trio", "B-asyncio"), ("C-trio", "C-asyncio")
    rows: list[tuple[str, ...]] = []

    def add(label: str, cells: list[str], target: str = "", met: str = "") -> None:
        rows.append((label, *cells, target, met))

    def section(title: str) -> None:
        rows.append((f"**{title}**", "", "", "", "", ""))

    none = "-"
    section(f"A. {args.contexts:,} contexts open at once")
    add(
        "CPU per context, us (enter + exit)",
        [fmt_range(r, k, "cpu_us") for k in a] + [none],
        f"<= {CPU_TARGET_US:.0f}",
        verdict([r.median(k, "cpu_us") for k in a], lambda v: v <= CPU_TARGET_US),
    )
    add(
        "of which enter / exit, us",
        [f"{fmt(r.median(k, 'open_us'))} / {fmt(r.median(k, 'close_us'))}" for k in a] + [none],
    )
    add(
        "of which Python's cyclic GC, us",
        [fmt(r.median(k, "gc_us")) for k in a] + [none],
    )
    add(
        "the task harness alone (no-op context), us",
        [fmt(r.median(k, "harness_us")) for k in a] + [none],
    )
    add(
        "Python memory per context, KiB (tracemalloc peak / N)",
        [fmt(r.median(k, "py_kib"), 2) for k in a] + [none],
        f"<= {MEMORY_TARGET_KIB:.0f}",
        verdict([r.median(k, "py_kib") for k in a], lambda v: v <= MEMORY_TARGET_KIB),
    )
    add(
        "of which the task harness, KiB",
        [fmt(r.median(k, "harness_py_kib"), 2) for k in a] + [none],
    )
    add(
        "RSS growth per context, KiB",
        [fmt(r.median(k, "rss_kib"), 2) for k in a] + [none],
        f"<= {MEMORY_TARGET_KIB:.0f}",
        verdict([r.median(k, "rss_kib") for k in a], lambda v: v <= MEMORY_TARGET_KIB),
    )
    add(
        "version checks sent on entry (all N)",
        [fmt_count(r, k, "version_checks") for k in a] + [none],
        "1",
        verdict([r.largest(k, "version_checks") for k in a], lambda v: v <= 1),
    )
    add("TCP connections opened", [fmt_count(r, k, "connections") for k in a] + [none])
    add(
        "the process's first context (one-off costs), ms",
        [fmt(r.median(k, "first_ms")) for k in a] + [none],
    )

    section(
        f"B. {args.tasks:,} tasks x {args.depth} nested contexts, one GET /health at each level"
    )
    add(
        "failures",
        [fmt_count(r, k, "failures") for k in b] + [none],
        "0",
        verdict([r.largest(k, "failures") for k in b], lambda v: v == 0),
    )
    add(
        "version checks sent",
        [fmt_count(r, k, "version_checks") for k in b] + [none],
        "1",
        verdict([r.largest(k, "version_checks") for k in b], lambda v: v == 1),
    )
    add(
        "TCP connections opened",
        [fmt_count(r, k, "connections") for k in b] + [none],
        f"<= {NESTED_CONNECTIONS_TARGET}",
        verdict([r.largest(k, "connections") for k in b], lambda v: v <= NESTED_CONNECTIONS_TARGET),
    )
    add(
        "TCP connections open at once, at most",
        [fmt_count(r, k, "max_open_connections") for k in b] + [none],
    )
    add("requests the server answered", [fmt_count(r, k, "requests") for k in b] + [none])
    add("wall time, s", [fmt_range(r, k, "wall_s", 2) for k in b] + [none])
    add("CPU of the client process, s", [fmt_range(r, k, "cpu_s", 2) for k in b] + [none])

    prefect_ran = "C-prefect" in r.rows
    theirs = "C-prefect"
    section(f"C. {args.compare:,} contexts open at once: ours and Prefect 3.9.1's get_client()")
    add(
        "CPU per context, us (enter + exit)",
        [fmt_range(r, k, "cpu_us") for k in (*c, theirs)],
    )
    add("of which Python's cyclic GC, us", [fmt(r.median(k, "gc_us")) for k in (*c, theirs)])
    add("the task harness alone, us", [fmt(r.median(k, "harness_us")) for k in (*c, theirs)])
    add(
        "Python memory per context, KiB (tracemalloc peak / N)",
        [fmt(r.median(k, "py_kib"), 2) for k in (*c, theirs)],
    )
    add("RSS growth per context, KiB", [fmt(r.median(k, "rss_kib"), 2) for k in (*c, theirs)])
    add(
        "the process's first context (one-off costs), ms",
        [fmt(r.median(k, "first_ms")) for k in (*c, theirs)],
    )
    add(
        "requests sent on entry (version checks)",
        [
            f"{fmt_count(r, k, 'requests')} ({fmt_count(r, k, 'version_checks')})"
            for k in (*c, theirs)
        ],
    )
    ratios = [ratio(r, k) for k in c]
    add(
        "Prefect's CPU per context / ours",
        [f"{fmt(x, 0)}x" if x is not None else "n/a" for x in ratios] + [none],
        f">= {RATIO_TARGET:.0f}x",
        verdict(ratios, lambda v: v >= RATIO_TARGET) if prefect_ran else "not run",
    )

    header = ("measure", "ours, trio", "ours, asyncio", "Prefect 3.9.1, asyncio", "target", "met")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(args: argparse.Namespace, results: Results) -> str:
    def rounds(key: str) -> str:
        n = len(results.rows.get(key, []))
        return f"{n} round{'' if n == 1 else 's'}"

    prefect = (
        f"Prefect's client runs in its own virtualenv (`tests/bench/prefect_contexts.py`), "
        f"{rounds('C-prefect')}."
        if "C-prefect" in results.rows
        else "Prefect's client did not run (no `--prefect-python`)."
    )
    lines = [
        "## Client contexts",
        "",
        "`nox -s bench` (`python -m tests.bench_contexts`; issue 14), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}. Each measurement runs in a fresh process "
        "against a stub API (HTTP/1.1 on 127.0.0.1, in a process of its own, which counts "
        "requests and connections); the rounds are interleaved: A and C "
        f"{rounds('A-trio')}, B {rounds('B-trio')}, the tracemalloc passes in the first "
        f"{min(args.traced_rounds, len(results.rows.get('A-trio', [])))}. {prefect} Times and "
        "memory: median "
        "of the rounds (range in parentheses); counts: the largest of any round. CPU and "
        "memory per context include the task that holds it open (the harness rows: that "
        "part alone).",
        "",
        table(args, results),
        "",
    ]
    if client_overrides():
        names = ", ".join(f"`{k}={v}`" for k, v in sorted(client_overrides().items()))
        lines[2] += f" Settings from the environment: {names}."
    if results.errors:
        lines.append("Failed measurements:")
        lines.append("")
        for key, errors in sorted(results.errors.items()):
            first = errors[0].strip().splitlines()[-1] if errors[0].strip() else "no output"
            lines.append(f"- {key}: {len(errors)} failed; last line: `{first}`")
        lines.append("")
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the "## Client contexts" section of `path` (or add it), keep the rest."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = old.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "## Client contexts"), None)
    if start is None:
        text = old.rstrip("\n") + "\n\n" + section
    else:
        # It ends at the next heading, or at another writer's marked section
        # (tests/bench/markdown_sections.py).
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith(("## ", "<!-- "))),
            len(lines),
        )
        before = "\n".join(lines[:start]).rstrip("\n")
        after = "\n".join(lines[end:])
        text = (before + "\n\n" if before else "") + section + ("\n" + after if after else "")
    path.write_text(text.rstrip("\n") + "\n")


def run(args: argparse.Namespace) -> int:
    if args.prefect_python and not Path(args.prefect_python).exists():
        raise SystemExit(f"--prefect-python {args.prefect_python}: no such file")
    results = measure(args)
    section = markdown(args, results)
    print()
    print(section)
    if args.markdown:
        write_section(Path(args.markdown), section)
        print(f"written to the 'Client contexts' section of {args.markdown}")
    if args.raw:
        Path(args.raw).write_text(json.dumps({"rows": results.rows, "errors": results.errors}))
        print(f"every round's measurements: {args.raw}")
    return 1 if results.errors else 0


def profile(args: argparse.Namespace) -> int:
    """One measurement under cProfile (the stub started and stopped here)."""
    from tests.bench.stub_server import running

    home = tempfile.mkdtemp(prefix="bench-contexts-home-")
    with running() as stub:
        size = args.contexts if args.scenario == "open" else args.tasks
        job = Job("profile", args.scenario, "ours", args.backend, size)
        argv = [*command(job, stub.control_url, None, args.depth), "--profile"]
        env = child_env(stub.api_url, home)
        env["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
        done = subprocess.run(argv, check=False, env=env, cwd=HERE.parent, timeout=CHILD_TIMEOUT)
    return done.returncode


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench_contexts", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--contexts", type=int, default=10_000, help="N of scenario A")
    parser.add_argument("--tasks", type=int, default=5_000, help="tasks of scenario B")
    parser.add_argument("--depth", type=int, default=3, help="nesting of scenario B")
    parser.add_argument("--compare", type=int, default=1_000, help="N of scenario C")
    parser.add_argument("--prefect-python", help="a python with prefect==3.9.1 (scenario C)")
    parser.add_argument(
        "--nested-rounds", type=int, default=2, help="rounds of scenario B (the first ones)"
    )
    parser.add_argument(
        "--prefect-rounds", type=int, default=2, help="rounds of Prefect's client (the first)"
    )
    parser.add_argument(
        "--traced-rounds", type=int, default=1, help="rounds with the tracemalloc passes"
    )
    parser.add_argument("--markdown", help="write the table to this file's section")
    parser.add_argument("--raw", help="write every round's measurements to this JSON file")
    sub = parser.add_subparsers(dest="mode")
    for mode in ("child", "profile"):
        one = sub.add_parser(mode)
        one.add_argument("scenario", choices=("open", "nested"))
        one.add_argument("--backend", choices=("trio", "asyncio"), default="trio")
        one.add_argument("--contexts", type=int, default=10_000)
        one.add_argument("--tasks", type=int, default=5_000)
        one.add_argument("--depth", type=int, default=3)
        if mode == "child":
            one.add_argument("--control-url", required=True)
            one.add_argument("--profile", action="store_true")
            one.add_argument("--no-traced", action="store_true", help="skip tracemalloc")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.mode == "child":
        child(args)
        return 0
    if args.mode == "profile":
        return profile(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
