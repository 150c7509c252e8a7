"""An ETL pipeline as a trio program: concurrent extract, transform, load into SQLite.

    python examples/etl_pipeline.py                     # trio
    python examples/etl_pipeline.py --backend asyncio   # asyncio, through anyio

The flow `etl` writes a few CSV files of orders (one per region) into a temporary
folder, then, for every region at once in its own nursery: extracts the file (a task),
transforms the rows (a task; the "eu" region fails its first attempt, as a flaky source
would, and is retried), and loads them into SQLite (a task, under a global concurrency
limit of one writer, `concurrency("sqlite-writer")`). A subflow, `report`, then reads the
totals back. Every run reports to the API the settings name: the embedded server in
this process when ``PREFECT_API_URL`` is not set. At the end the program checks the
database and the records on the API and prints a summary.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import sqlite3
import sys
import tempfile
from collections import Counter
from pathlib import Path

import _interrupt  # Ctrl-C: one line, exit status 130
import anyio
import anyio.to_thread

from prefect_trio_client import flow, get_run_logger, task
from prefect_trio_client.exceptions import ObjectAlreadyExists
from prefect_trio_client.orchestration import get_client
from prefect_trio_client.runs import concurrency
from prefect_trio_client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect_trio_client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentTaskRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)

REGIONS = {"eu": 40, "us": 55, "apac": 25, "latam": 15}
WRITER_LIMIT = "sqlite-writer"
_flaky_once: set[str] = set()


def write_sources(folder: Path) -> None:
    """The "upstream system": one CSV of orders per region."""
    for region, count in REGIONS.items():
        with (folder / f"{region}.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["order_id", "amount_cents", "status"])
            for n in range(count):
                writer.writerow([f"{region}-{n}", 100 + 7 * n, "void" if n % 10 == 9 else "ok"])


@task(task_run_name="extract-{path.stem}")
async def extract(path: Path) -> list[dict[str, str]]:
    text = await anyio.Path(path).read_text()
    rows = list(csv.DictReader(text.splitlines()))
    get_run_logger().info("read %d rows from %s", len(rows), path.name)
    return rows


@task(retries=2, retry_delay_seconds=0.2, task_run_name="transform-{region}")
async def transform(region: str, rows: list[dict[str, str]]) -> list[tuple[str, str, int]]:
    if region == "eu" and region not in _flaky_once:
        _flaky_once.add(region)
        raise ConnectionError("the eu currency service timed out")  # retried
    kept = [(row["order_id"], region, int(row["amount_cents"])) for row in rows]
    return [order for order, row in zip(kept, rows, strict=True) if row["status"] == "ok"]


@task(task_run_name="load-{region}")
async def load(database: Path, region: str, orders: list[tuple[str, str, int]]) -> int:
    def insert() -> int:
        with sqlite3.connect(database) as connection:
            connection.executemany("INSERT INTO orders VALUES (?, ?, ?)", orders)
        return len(orders)

    async with concurrency(WRITER_LIMIT, occupy=1, timeout_seconds=60):  # one writer at a time
        written = await anyio.to_thread.run_sync(insert)
    get_run_logger().info("loaded %d orders for %s", written, region)
    return written


@flow
async def report(database: Path) -> dict[str, int]:
    def totals() -> dict[str, int]:
        with sqlite3.connect(database) as connection:
            query = "SELECT region, SUM(cents) FROM orders GROUP BY region"
            return {region: int(total) for region, total in connection.execute(query)}

    result = await anyio.to_thread.run_sync(totals)
    get_run_logger().info("totals by region: %s", result)
    return result


@flow(name="etl")
async def etl(folder: Path, database: Path) -> dict[str, int]:
    loaded: dict[str, int] = {}

    async def one_region(region: str) -> None:
        rows = await extract(folder / f"{region}.csv")
        loaded[region] = await load(database, region, await transform(region, rows))

    async with anyio.create_task_group() as group:  # every region at once
        for region in REGIONS:
            group.start_soon(one_region, region)
    get_run_logger().info("loaded %d orders in all", sum(loaded.values()))
    return await report(database)


async def ensure_writer_limit() -> None:
    async with get_client() as client:
        with contextlib.suppress(ObjectAlreadyExists):
            await client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=WRITER_LIMIT, limit=1)
            )


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="etl-") as tmp:
        folder = Path(tmp)
        database = folder / "warehouse.db"
        write_sources(folder)
        with sqlite3.connect(database) as connection:
            connection.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, region TEXT, cents INT)")
        await ensure_writer_limit()

        state = await etl.returning_state(folder, database)
        with sqlite3.connect(database) as connection:
            stored = connection.execute("SELECT COUNT(*) FROM orders").fetchone()[0]

    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None, "the server's state names its flow run"
    async with get_client() as client:
        [run] = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
        )
        task_runs = await client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run.id]))
        )
        subflows = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_task_run_id=FlowRunFilterParentTaskRunId(any_=[t.id for t in task_runs])
            )
        )
    expected = sum(count - count // 10 for count in REGIONS.values())
    by_state = Counter(t.state_name for t in task_runs)
    retried = sorted(t.name for t in task_runs if t.run_count > 1)
    print(f"backend          {args.backend}")
    print(f"flow run         {run.name} ({run.state_name})")
    print(f"task runs        {len(task_runs)} {dict(sorted(by_state.items()))}")
    print(f"retried          {', '.join(retried) or '-'}")
    print(f"subflow          {', '.join(f'{s.name} ({s.state_name})' for s in subflows)}")
    print(f"orders loaded    {stored} (expected {expected})")
    ok = (
        state.is_completed()
        and stored == expected
        and retried == ["transform-eu"]
        and len(subflows) == 1
        and subflows[0].state_name == "Completed"
        and by_state["Completed"] == len(task_runs) == 3 * len(REGIONS) + 1
    )
    return 0 if ok else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="An ETL pipeline with @flow / @task.")
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    sys.exit(_interrupt.run(main, arguments, arguments.backend))
