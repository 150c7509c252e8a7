"""Scenario A of the client-context benchmark with Prefect's own client (asyncio).

A standalone script for a virtualenv that has Prefect 3.9.1 and not our package: it
imports only Prefect and the standard library. `python -m tests.bench_contexts` runs it
with ``PREFECT_API_URL`` pointing at its stub server and ``PREFECT_HOME`` in a temporary
folder, and reads the one JSON line it prints::

    python tests/bench/prefect_contexts.py --contexts 1000 --control-url http://127.0.0.1:PORT

N tasks each enter ``async with prefect.client.orchestration.get_client()``, all hold
their context open together, then all leave; the measurements are those of our own
side (`tests/bench_contexts.py`, ``child open``): CPU per context (``process_time``),
resident-set growth per context while all are open, and, in a second pass under
``tracemalloc``, the Python allocation peak per context; the same harness with a no-op
context manager is measured too. The stub's control port says what reached the server
(Prefect 3.9.1's bare client context sends no request on entry: its version check runs
in ``AsyncClientContext``, once per process).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
import tracemalloc
import urllib.request
from collections.abc import Callable
from typing import Any

import prefect
from prefect.client.orchestration import get_client

VERSION_PATH = "/api/admin/version"


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def server_stats(control_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(control_url + "/stats", timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


class NoOp:
    async def __aenter__(self) -> NoOp:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


async def hold_open(make: Callable[[], Any], n: int) -> tuple[float, float, int]:
    """n tasks enter a context each and hold it until all are in; then all leave.

    Returns (CPU until all are in, CPU to leave, resident bytes while all are in).
    """
    entered = 0
    errors: list[BaseException] = []
    all_in = asyncio.Event()
    release = asyncio.Event()

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
            raise

    start = time.process_time()
    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await all_in.wait()
    opened = time.process_time()
    rss = resident_bytes()
    release.set()
    await asyncio.gather(*tasks, return_exceptions=True)
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


async def scenario_open(n: int, control_url: str, traced: bool) -> dict[str, Any]:
    start = time.process_time()
    async with get_client():  # first use: one-off costs, apart
        pass
    first = time.process_time() - start
    gc.collect()
    before_stats = server_stats(control_url)
    rss_before = resident_bytes()
    with GcClock() as gc_clock:
        open_cpu, close_cpu, rss_open = await hold_open(get_client, n)
    after_stats = server_stats(control_url)
    # Tracing slows every allocation down: the memory pass can be left out.
    peak = await traced_peak(get_client, n) if traced else None
    gc.collect()
    harness_open, harness_close, _ = await hold_open(NoOp, n)
    harness_peak = await traced_peak(NoOp, n)
    before_requests = before_stats["requests"]
    return {
        "client": "prefect",
        "prefect_version": prefect.__version__,
        "backend": "asyncio",
        "contexts": n,
        "first_ms": first * 1e3,
        "open_us": open_cpu / n * 1e6,
        "close_us": close_cpu / n * 1e6,
        "cpu_us": (open_cpu + close_cpu) / n * 1e6,
        "harness_us": (harness_open + harness_close) / n * 1e6,
        "gc_us": gc_clock.seconds / n * 1e6,
        "gc_collections": gc_clock.collections,
        "py_kib": None if peak is None else peak / n / 1024,
        "harness_py_kib": harness_peak / n / 1024,
        "rss_kib": (rss_open - rss_before) / n / 1024,
        "version_checks": after_stats["requests"].get(VERSION_PATH, 0)
        - before_requests.get(VERSION_PATH, 0),
        "requests": after_stats["requests_total"] - before_stats["requests_total"],
        "connections": after_stats["connections"] - before_stats["connections"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contexts", type=int, default=1000)
    parser.add_argument("--control-url", required=True)
    parser.add_argument("--no-traced", action="store_true", help="skip the tracemalloc pass")
    args = parser.parse_args()
    result = asyncio.run(scenario_open(args.contexts, args.control_url, not args.no_traced))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
