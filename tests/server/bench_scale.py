"""The embedded server at scale: listings and creations with 1k to 100k flow runs stored.

Not a test (nothing here is collected). Run from the repository root::

    python -m tests.server.bench_scale                       # 1k, 10k, 100k; prints a table
    python -m tests.server.bench_scale --markdown BENCHMARKS.md

For each size, a file database is filled quickly (documents shaped as the server writes
them, inserted through the ``Database`` layer in large transactions, not over HTTP): N
flow runs of 10 flows, 3 task runs each. Then, through ``PrefectClient`` on the
in-process transport, on trio and on asyncio, interleaved rounds measure the median
latency of ``count_flow_runs`` and ``read_flow_runs(limit=200)`` with a tag filter (one
flow's tag: 10% of the runs), a state filter (FAILED: 10%) and a time filter (expected
start in the last 10% of the span), each read's CPU time (all threads), and sequential
flow-run creations per second, on an empty database and on the largest, taking turns
round by round in one process (the ratio is the median of the rounds' ratios, so a
machine busy with other work slows both alike).
``--markdown`` writes the "Embedded server at scale" section of that file (the other
sections are left alone).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import anyio

from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect_trio_client.schemas.objects import StateType
from prefect_trio_client.server import create_app
from prefect_trio_client.server._db import Database, Doc, Tx
from prefect_trio_client.server._ids import new_id
from prefect_trio_client.server._tables import FLOW_RUNS, FLOWS, TASK_RUNS
from prefect_trio_client.server._time import iso, system_clock
from prefect_trio_client.settings import ClientSettings

SECTION = "## Embedded server at scale"
SETTINGS = ClientSettings(client_csrf_support_enabled=False)
FLOWS_STORED = 10
TASKS_PER_RUN = 3
START = datetime(2030, 1, 1, tzinfo=timezone.utc)
SPAN = timedelta(days=100)
BATCH = 5000
STATES = [StateType.COMPLETED] * 16 + [StateType.FAILED] * 2 + [StateType.RUNNING]
STATES += [StateType.SCHEDULED]


# --------------------------------------------------------------------------- filling


async def _templates(path: Path) -> tuple[list[UUID], Doc, Doc]:
    """Flows, and one flow run and task run as the server writes them."""
    async with PrefectClient(create_app(path), settings=SETTINGS) as client:
        flows = [await client.create_flow_from_name(f"flow-{n}") for n in range(FLOWS_STORED)]
        run = await client.create_flow_run(flows[0], tags=["flow-0"], parameters={"x": 1})
        task = await client.create_task_run(task_key="work", flow_run_id=run.id, dynamic_key="0")
        run_doc = (await client.request("GET", f"/flow_runs/{run.id}")).json()
        task_doc = (await client.request("GET", f"/task_runs/{task.id}")).json()
    return flows, run_doc, task_doc


def _runs(count: int, flow_ids: list[UUID], run: Doc, task: Doc) -> Iterator[tuple[Doc, list[Doc]]]:
    for n in range(count):
        state = STATES[n % len(STATES)]
        expected = START + SPAN * n / count
        started = None if state is StateType.SCHEDULED else expected + timedelta(seconds=5)
        ended = None
        if started is not None and state in (StateType.COMPLETED, StateType.FAILED):
            ended = started + timedelta(seconds=30)
        flow = n % FLOWS_STORED
        fields = {
            "state_type": state.value,
            "state_name": state.value.title(),
            "expected_start_time": iso(expected),
            "start_time": None if started is None else iso(started),
            "end_time": None if ended is None else iso(ended),
        }
        run_doc = {
            **run,
            **fields,
            "id": str(new_id()),
            "name": f"run-{n}",
            "idempotency_key": None,
            "flow_id": str(flow_ids[flow]),
            "tags": [f"flow-{flow}", "bench"],
            "state": {**run["state"], "type": state.value, "name": state.value.title()},
        }
        tasks = [
            {
                **task,
                **fields,
                "id": str(new_id()),
                "name": f"task-{n}-{k}",
                "flow_run_id": run_doc["id"],
                "task_key": f"task-{k}",
                "tags": [f"flow-{flow}"],
            }
            for k in range(TASKS_PER_RUN)
        ]
        yield run_doc, tasks


async def fill(path: Path, count: int) -> UUID:
    """A database at `path` with `count` flow runs; returns a stored flow's id."""
    flow_ids, run, task = await _templates(path)
    database = Database(path, clock=system_clock)
    await database.open()
    try:
        made = _runs(count, flow_ids, run, task)
        for start in range(0, count, BATCH):
            batch = [next(made) for _ in range(min(BATCH, count - start))]

            def write(tx: Tx, batch: list[tuple[Doc, list[Doc]]] = batch) -> None:
                for run_doc, tasks in batch:
                    tx.insert(FLOW_RUNS, run_doc)
                    for task_doc in tasks:
                        tx.insert(TASK_RUNS, task_doc)

            await database.write(write)
        stored = await database.read(lambda tx: tx.count(FLOW_RUNS))
        assert stored == count + 1, stored
        assert await database.read(lambda tx: tx.count(FLOWS)) == FLOWS_STORED
    finally:
        await database.close()
    return flow_ids[0]


# --------------------------------------------------------------------------- measuring

FILTERS = {
    "tag": FlowRunFilter(tags=FlowRunFilterTags(all_=["flow-3"])),
    "state": FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.FAILED]))
    ),
    "time": FlowRunFilter(
        expected_start_time=FlowRunFilterExpectedStartTime(after_=START + SPAN * 0.9)
    ),
}


LIMIT = {"limit": 200}


@dataclass
class Timings:
    """Seconds per call (listings) and creations per second (rounds), by measure."""

    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, measure: str, value: float) -> None:
        self.samples.setdefault(measure, []).append(value)

    def median(self, measure: str) -> float:
        return statistics.median(self.samples[measure])


async def listings(path: Path, rounds: int) -> Timings:
    """Interleaved rounds of each listing (the first warms up and checks the answers)."""
    found = Timings()
    async with PrefectClient(create_app(path), settings=SETTINGS) as client:
        for model in FILTERS.values():
            counted = await client.count_flow_runs(flow_run_filter=model)
            page = await client.read_flow_runs(flow_run_filter=model, limit=200)
            assert counted > 0, model
            assert len(page) == min(200, counted), (model, counted, len(page))
        for _ in range(rounds):
            for name, model in FILTERS.items():
                started = time.perf_counter()
                await client.count_flow_runs(flow_run_filter=model)
                found.add(f"count {name}", time.perf_counter() - started)
                started, cpu = time.perf_counter(), time.process_time()
                await client.read_flow_runs(flow_run_filter=model, limit=200)
                found.add(f"read {name}", time.perf_counter() - started)
                # The process's CPU time (every thread: the client and the database worker):
                # what the read costs, whatever else the machine is running.
                found.add(f"read {name}, CPU", time.process_time() - cpu)
                # The same request, its body left as bytes: the server's share of a read
                # (the rest is the client validating 200 FlowRun models).
                body = {"flow_runs": model.model_dump(mode="json", exclude_unset=True)}
                started = time.perf_counter()
                answer = await client.request("POST", "/flow_runs/filter", json=body | LIMIT)
                found.add(f"read {name}, body only", time.perf_counter() - started)
                assert answer.content.startswith(b"["), answer.content[:100]
    return found


async def creations(
    databases: dict[str, tuple[Path, UUID]], rounds: int, per_round: int
) -> dict[str, list[float]]:
    """Sequential flow-run creations per second, one figure per round and database; the
    databases take turns round by round (first one, then the other first), so a busy
    machine slows them alike."""
    rates: dict[str, list[float]] = {label: [] for label in databases}
    async with AsyncExitStack() as stack:
        clients: dict[str, tuple[PrefectClient, UUID]] = {}
        for label, (path, flow_id) in databases.items():
            client = PrefectClient(create_app(path), settings=SETTINGS)
            clients[label] = (await stack.enter_async_context(client), flow_id)
            for _ in range(20):  # warm up
                await client.create_flow_run(flow_id, tags=["bench"])
        for round_ in range(rounds):
            turns = list(clients.items())
            for label, (client, flow_id) in turns if round_ % 2 == 0 else reversed(turns):
                started = time.perf_counter()
                for _ in range(per_round):
                    await client.create_flow_run(flow_id, tags=["bench"])
                rates[label].append(per_round / (time.perf_counter() - started))
    return rates


# --------------------------------------------------------------------------- report


@dataclass
class Report:
    sizes: list[int]
    fill_seconds: dict[int, float] = field(default_factory=dict)
    listing: dict[tuple[str, int], Timings] = field(default_factory=dict)
    creating: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)
    """The machine's 1-minute load average, at the start and after each step."""

    def note_load(self) -> None:
        self.load.append(os.getloadavg()[0])

    def creation_ratio(self, backend: str) -> float:
        """The median of the rounds' full / empty ratios (each pair measured back to back)."""
        full, empty = self.creating[(backend, "full")], self.creating[(backend, "empty")]
        return statistics.median(f / e for f, e in zip(full, empty, strict=True))

    def markdown(self, rounds: int, creation_rounds: int, per_round: int) -> str:
        largest = max(self.sizes)
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            SECTION,
            "",
            f"`nox -s bench` (`python -m tests.server.bench_scale`; issue 12), {when},"
            f" Python {platform.python_version()}, {os.cpu_count()} CPUs, 1-minute load"
            f" average {min(self.load):.1f}-{max(self.load):.1f} during the run (other work"
            " on the machine slows every figure alike; the ratios compare rounds taken"
            " together). A file database holds N flow runs of"
            f" {FLOWS_STORED} flows and {TASKS_PER_RUN} task runs per flow run, inserted"
            " through the Database layer; requests go through `PrefectClient` on the"
            " in-process transport. Latency: median of"
            f" {rounds} interleaved calls, ms (the tag filter picks one flow's tag, 10% of the"
            " runs; the state filter FAILED, 10%; the time filter an expected start in the"
            ' last 10% of the span; "body only": the same read by `client.request`, the'
            " body left as bytes, which is the server's share; the rest of a read is the"
            ' client validating 200 `FlowRun` models; "CPU": the process\'s CPU time for'
            " the read, all threads, which a busy machine does not inflate as it does the"
            " wall-clock figures). Target: under 20 ms at 100k.",
            "",
            "| measure | backend | " + " | ".join(f"{n:,} runs" for n in self.sizes) + " |",
            "|---|---|" + "---|" * len(self.sizes),
        ]
        for backend in ("trio", "asyncio"):
            for measure in self.listing[(backend, self.sizes[0])].samples:
                cells = [
                    f"{self.listing[(backend, n)].median(measure) * 1000:.2f}" for n in self.sizes
                ]
                lines.append(f"| `{measure}` | {backend} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(f"Ratio of each median at {largest:,} runs to the same at {self.sizes[0]:,}:")
        lines.append("")
        for backend in ("trio", "asyncio"):
            small, large = self.listing[(backend, self.sizes[0])], self.listing[(backend, largest)]
            ratios = ", ".join(
                f"{m} {large.median(m) / small.median(m):.2f}x" for m in small.samples
            )
            lines.append(f"- {backend}: {ratios}")
        lines += [
            "",
            "Sequential flow-run creations/s (`create_flow_run`, median of"
            f" {creation_rounds} rounds of {per_round}; the two databases take turns round by"
            " round in one process, and the ratio is the median of the rounds' ratios):",
            "",
            f"| backend | empty database | {largest:,} runs stored | ratio | target >= 0.80 |",
            "|---|---|---|---|---|",
        ]
        for backend in ("trio", "asyncio"):
            empty = statistics.median(self.creating[(backend, "empty")])
            full = statistics.median(self.creating[(backend, "full")])
            ratio = self.creation_ratio(backend)
            met = "yes" if ratio >= 0.8 else "**no**"
            lines.append(f"| {backend} | {empty:.0f} | {full:.0f} | {ratio:.2f} | {met} |")
        fills = ", ".join(f"{n:,} runs {s:.1f} s" for n, s in self.fill_seconds.items())
        lines += ["", f"Filling the databases (not a target): {fills}.", ""]
        return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of `path` (or append it); others are kept."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        rest = "" if end < 0 else text[end + 1 :]
        text = text[:start] + section + ("\n" + rest if rest else "")
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.server.bench_scale")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--creations", type=int, default=200, help="per round")
    parser.add_argument("--creation-rounds", type=int, default=5)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    report = Report(sizes)
    report.note_load()
    with tempfile.TemporaryDirectory() as folder:
        flow_of: dict[int, UUID] = {}
        for size in sizes:
            path = Path(folder) / f"{size}.db"
            started = time.perf_counter()
            flow_of[size] = anyio.run(fill, path, size)
            report.fill_seconds[size] = time.perf_counter() - started
            for backend in ("trio", "asyncio"):
                found = anyio.run(listings, path, args.rounds, backend=backend)
                report.listing[(backend, size)] = found
                medians = ", ".join(f"{m} {found.median(m) * 1000:.2f} ms" for m in found.samples)
                print(f"{size:>7,} runs, {backend}: {medians}", flush=True)
                report.note_load()
        largest = max(sizes)
        empty = Path(folder) / "empty.db"
        databases = {"empty": (empty, anyio.run(fill, empty, 0))}
        databases["full"] = (Path(folder) / f"{largest}.db", flow_of[largest])
        for backend in ("trio", "asyncio"):
            rates = anyio.run(
                creations, databases, args.creation_rounds, args.creations, backend=backend
            )
            for label, figures in rates.items():
                report.creating[(backend, label)] = figures
                print(
                    f"creations/s, {backend}, {label}: {statistics.median(figures):.0f}",
                    flush=True,
                )
            print(f"ratio, {backend}: {report.creation_ratio(backend):.2f}", flush=True)
            report.note_load()
    section = report.markdown(args.rounds, args.creation_rounds, args.creations)
    print(section)
    if args.markdown is not None:
        write_section(args.markdown, section)


if __name__ == "__main__":
    main()
