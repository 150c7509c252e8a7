"""Benchmarks of the embedded server, in-process through ``httpx.ASGITransport``.

Not a test (nothing here is collected). Run from the repository root::

    python -m tests.server.bench                      # trio, in-memory database
    python -m tests.server.bench --backend asyncio --database file

It prints two numbers:

- **flow-run creations per second**: sequential ``POST /flow_runs/`` calls (the median
  of ``--repeat`` rounds of ``--runs`` creations each), the request and the response
  going through httpx, Starlette, validation and one SQLite transaction;
- **event-loop blocking**: while 50 tasks write concurrently (create, RUNNING,
  COMPLETED, logs, a count), a probe task sleeps 1 ms again and again and records how
  late it wakes: the longest stall of the loop. Alongside, the longest transaction the
  worker thread ran, which the loop did not wait for.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import sniffio
import trio
import trio.abc
import trio.lowlevel

from prefect_trio_client.server import create_app
from prefect_trio_client.server._db import Database
from tests.server.helpers import serve

T = TypeVar("T")


def _location(database: str, folder: str) -> str:
    return ":memory:" if database == "memory" else str(Path(folder) / "bench.db")


async def creations_per_second(runs: int = 2000, database: str = "memory") -> float:
    """Sequential flow-run creations per second against a fresh server."""
    with tempfile.TemporaryDirectory() as folder:
        async with serve(create_app(_location(database, folder))) as client:
            flow_id = (await client.post("/flows/", json={"name": "bench"})).json()["id"]
            body = {"flow_id": flow_id, "state": {"type": "PENDING"}, "tags": ["bench"]}
            for _ in range(50):  # warm up
                await client.post("/flow_runs/", json=body)
            start = anyio.current_time()
            for _ in range(runs):
                response = await client.post("/flow_runs/", json=body)
                assert response.status_code == 201
            return runs / (anyio.current_time() - start)


class _TimedTransactions:
    """Records the longest transaction the worker thread runs (thread-side timing)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._original = Database._transact

    def __enter__(self) -> _TimedTransactions:
        original = self._original
        timer = self

        def timed(db: Database, work: Callable[[Any], T], write: bool) -> T:
            started = time.perf_counter()  # in the worker thread, not on the loop
            try:
                return original(db, work, write)
            finally:
                timer.longest = max(timer.longest, time.perf_counter() - started)

        Database._transact = timed  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc_info: object) -> None:
        Database._transact = self._original  # type: ignore[method-assign]


class _StepTimer(trio.abc.Instrument):
    """A trio instrument: how long each task step held the event loop (wall time)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[float] = []
        self._started = 0.0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started = time.perf_counter()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps.append(time.perf_counter() - self._started)


async def loop_blocking(
    writers: int = 50, rounds: int = 20, database: str = "file"
) -> dict[str, float]:
    """How the event loop fares while `writers` tasks use the server at once.

    Returns seconds: ``probe_lag`` (the longest a 1 ms sleep overslept: queueing behind
    the other 50 tasks included), ``longest_step`` and ``p99_step`` (trio only: the
    longest time one task step held the loop, whatever the task), and
    ``longest_transaction`` (the longest database transaction, run in the worker thread).
    """
    steps = _StepTimer()
    on_trio = sniffio.current_async_library() == "trio"
    if on_trio:
        trio.lowlevel.add_instrument(steps)
    with tempfile.TemporaryDirectory() as folder, _TimedTransactions() as timer:
        async with serve(create_app(_location(database, folder))) as client:
            flow_id = (await client.post("/flows/", json={"name": "bench"})).json()["id"]
            worst_lag = 0.0
            done = anyio.Event()

            async def probe() -> None:
                nonlocal worst_lag
                while not done.is_set():
                    before = anyio.current_time()
                    await anyio.sleep(0.001)
                    worst_lag = max(worst_lag, anyio.current_time() - before - 0.001)

            async def writer(client: httpx.AsyncClient) -> None:
                for _ in range(rounds):
                    run = await client.post("/flow_runs/", json={"flow_id": flow_id})
                    run_id = run.json()["id"]
                    for state in ("RUNNING", "COMPLETED"):
                        await client.post(
                            f"/flow_runs/{run_id}/set_state", json={"state": {"type": state}}
                        )
                    log = {
                        "name": "b",
                        "level": 20,
                        "message": "m",
                        "timestamp": "2030-01-01T00:00:00Z",
                    }
                    await client.post("/logs/", json=[log] * 10)
                    await client.post(
                        "/flow_runs/filter", json={"flow_runs": {"id": {"any_": [run_id]}}}
                    )

            steps.steps.clear()
            async with anyio.create_task_group() as group:
                group.start_soon(probe)
                async with anyio.create_task_group() as writers_group:
                    for _ in range(writers):
                        writers_group.start_soon(writer, client)
                done.set()
    if on_trio:
        trio.lowlevel.remove_instrument(steps)
    ordered = sorted(steps.steps) or [0.0]
    return {
        "probe_lag": worst_lag,
        "longest_step": ordered[-1],
        "p99_step": ordered[int(len(ordered) * 0.99)],
        "steps": float(len(steps.steps)),
        "longest_transaction": timer.longest,
    }


async def _main(args: argparse.Namespace) -> None:
    rates = [await creations_per_second(args.runs, args.database) for _ in range(args.repeat)]
    print(
        f"flow-run creations/s ({args.backend}, {args.database}, {args.runs} per round):"
        f" median {statistics.median(rates):.0f} (rounds: {', '.join(f'{r:.0f}' for r in rates)})"
    )
    found = await loop_blocking(database=args.database)
    print(f"50 concurrent writers ({args.backend}, {args.database}):")
    if found["steps"]:
        print(
            f"  longest task step on the event loop {found['longest_step'] * 1000:.2f} ms"
            f" (p99 {found['p99_step'] * 1000:.3f} ms over {found['steps']:.0f} steps)"
        )
    print(
        f"  longest transaction, in the worker thread {found['longest_transaction'] * 1000:.2f} ms"
    )
    lag = found["probe_lag"] * 1000
    print(f"  longest oversleep of a 1 ms probe (queueing included) {lag:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.server.bench")
    parser.add_argument("--backend", choices=("trio", "asyncio"), default="trio")
    parser.add_argument("--database", choices=("memory", "file"), default="memory")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    anyio.run(_main, args, backend=args.backend)


if __name__ == "__main__":
    main()
