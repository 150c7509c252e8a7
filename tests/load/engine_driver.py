"""One row of the engine-against-engine table: the same program run by one engine.

The program is a flow of 2 tasks and 1 log line; ``--runs`` flow runs, at most
``--concurrency`` in flight, after 2 untimed warm-up runs. ``--engine prefect`` runs it
with Prefect's own ``@flow`` / ``@task`` (asyncio; in a virtualenv with Prefect and not our
package), ``--engine ours`` with ours (``--backend trio`` or ``asyncio``). It counts every
HTTP request the process sends (httpx's transport, which our websockets use too; and
Prefect's websocket connections, which go through the ``websockets`` package) and writes
the row as JSON to ``--out``. A standalone script: it imports the standard library, httpx,
anyio and `workload.py` beside it, and the engine it runs::

    PREFECT_API_URL=http://127.0.0.1:4200/api python tests/load/engine_driver.py \\
        --engine ours --backend trio --runs 20 --concurrency 20 --tag t1 --out row.json
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import httpx

try:  # run as a script, this file's folder is on sys.path: the workload module is beside it
    from workload import machine_cpu, parse_parts, process_tree_cpu, trees_cpu
except ImportError:  # imported by the harness, for the names below
    from tests.load.workload import machine_cpu, parse_parts, process_tree_cpu, trees_cpu

TASKS_PER_FLOW_RUN = 2
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

requests: Counter[str] = Counter()
#: Answers other than 2xx, by route and status ("POST /flow_runs/ 503"): where re-sends go.
refusals: Counter[str] = Counter()


def _count_requests() -> None:
    """Count each request httpx sends over the network, and each websocket the
    ``websockets`` package opens (Prefect's events client), by route."""
    send = httpx.AsyncHTTPTransport.handle_async_request

    async def counted(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/api", 1)[-1]
        route = f"{request.method} {_UUID.sub('{id}', path)}"
        requests[route] += 1
        response = await send(self, request)
        if not 200 <= response.status_code < 300:
            refusals[f"{route} {response.status_code}"] += 1
        return response

    httpx.AsyncHTTPTransport.handle_async_request = counted  # type: ignore[method-assign]
    try:
        client: Any = importlib.import_module("websockets.asyncio.client")  # Prefect's only
    except ImportError:
        return
    connect = client.connect
    opening = connect.__await_impl__

    async def counted_opening(self: Any) -> Any:
        uri = str(getattr(self, "uri", "?")).split("/api", 1)[-1]
        requests[f"GET {_UUID.sub('{id}', uri)}"] += 1
        return await opening(self)

    connect.__await_impl__ = counted_opening


def flow_name(tag: str) -> str:
    """The flow of one row: its runs are found by it."""
    return f"engine-load-{tag}"


def _program(engine: str, tag: str) -> Any:
    """The flow, built with `engine`'s decorators."""
    # either engine's decorators, typed loosely: the program is written once for both
    module: Any = importlib.import_module(
        "prefect" if engine == "prefect" else "prefect_trio_client"
    )
    flow, task, get_run_logger = module.flow, module.task, module.get_run_logger

    async def run_step(index: int, k: int) -> int:
        return index + k

    step = task(name="engine-load-task")(run_step)

    async def run_flow(index: int) -> int:
        get_run_logger().info("engine load %d", index)
        total = 0
        for k in range(TASKS_PER_FLOW_RUN):
            total += await step(index, k)
        return total

    return flow(name=flow_name(tag))(run_flow)


async def drive(
    engine: str,
    *,
    runs: int,
    concurrency: int,
    tag: str,
    server_pid: int | None,
    parts: dict[str, int] | None = None,
) -> dict[str, Any]:
    program = _program(engine, tag)
    for index in (-1, -2):  # warm-up runs of the same flow, not counted nor checked
        await program(index)
    requests.clear()
    refusals.clear()
    failures: list[str] = []
    indexes = iter(range(runs))

    async def worker() -> None:
        for index in indexes:
            try:
                await program(index)
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}"[:200])

    server_before = process_tree_cpu(server_pid) if server_pid else None
    parts_before = trees_cpu(parts or {})
    machine_before = machine_cpu()
    cpu_before = time.process_time()
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(min(runs, concurrency)):
            group.start_soon(worker)
    wall = time.perf_counter() - started
    client_cpu = time.process_time() - cpu_before
    parts_after = trees_cpu(parts or {})
    server_cpu = (
        process_tree_cpu(server_pid) - server_before
        if server_pid and server_before is not None
        else None
    )
    return {
        "runs": runs,
        "concurrency": concurrency,
        "tag": tag,
        "wall_s": wall,
        "client_cpu_s": client_cpu,
        "server_cpu_s": server_cpu,
        "other_cpu_s": machine_cpu() - machine_before - client_cpu - (server_cpu or 0.0),
        "parts_cpu_s": {name: parts_after[name] - parts_before[name] for name in parts_after},
        "failures": failures[:20],
        "failed": len(failures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("prefect", "ours"), required=True)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--server-pid", type=int, default=None)
    parser.add_argument("--part", action="append", default=[], help="NAME=PID: its CPU too")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.engine == "prefect" and args.backend != "asyncio":
        parser.error("Prefect's engine runs on asyncio only")
    _count_requests()
    # written at exit, after Prefect's own exit handlers (registered later, run earlier)
    # have flushed its logs and events: those requests belong to the row too
    row: dict[str, Any] = {}
    atexit.register(_write, row, args.out)

    async def run() -> dict[str, Any]:
        return await drive(
            args.engine,
            runs=args.runs,
            concurrency=args.concurrency,
            tag=args.tag,
            server_pid=args.server_pid,
            parts=parse_parts(args.part),
        )

    row.update(anyio.run(run, backend=args.backend))
    if args.engine == "prefect":
        row["client_version"] = f"prefect {__import__('prefect').__version__} engine (asyncio)"
    else:
        version = __import__("prefect_trio_client").__version__
        row["client_version"] = f"prefect-trio-client {version} engine ({args.backend})"


def _write(row: dict[str, Any], out: Path) -> None:
    if row:
        row["requests"] = dict(requests)
        row["refusals"] = dict(refusals)
        out.write_text(json.dumps(row))


if __name__ == "__main__":
    main()
