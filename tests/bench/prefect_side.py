"""Prefect 3.9.1's side of the side-by-side benchmark (asyncio), in Prefect's virtualenv.

Run from the repository root by `python -m tests.bench_side_by_side` with Prefect's own
python (``--prefect-python``); it imports Prefect, httpx, anyio and the standard library,
never our package. Each mode measures what our side's ``child`` mode of the same name
measures, with the same loops (`tests/bench/side_measure.py`), and prints one JSON line::

    python -m tests.bench.prefect_side requests --method GET --requests 3000
    python -m tests.bench.prefect_side leases --leases 10000
    python -m tests.bench.prefect_side clients --clients 300     # PREFECT_API_URL: a stub
    python -m tests.bench.prefect_side ephemeral --creations 50  # no PREFECT_API_URL
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import anyio
import prefect
from prefect.client.base import app_lifespan_context
from prefect.client.orchestration import PrefectClient, get_client
from prefect.states import Running

from tests.bench.mock_api import API_URL, LifespanApp, mock_transport
from tests.bench.side_measure import cpu_per_request, ephemeral_figures, held_at_once


async def requests(method: str, n: int, warmup: int) -> dict[str, Any]:
    async with PrefectClient(API_URL, httpx_settings={"transport": mock_transport()}) as client:
        cpu = await cpu_per_request(client, method, Running(), n, warmup)
        csrf = client._client.enable_csrf_support
    return {"cpu_us": cpu, "csrf": csrf, "retries": "Prefect's defaults"}


async def leases(n: int) -> dict[str, Any]:
    app = LifespanApp()
    result = await held_at_once(lambda: app_lifespan_context(app), n)
    return {**result, "startups": app.startups, "shutdowns": app.shutdowns}


async def clients(n: int) -> dict[str, Any]:
    return await held_at_once(get_client, n)


async def ephemeral(n: int, ports: range | None) -> dict[str, Any]:
    """Prefect's ephemeral mode: `get_client()` starts a server in a subprocess (on a
    port of `ports` when given, instead of Prefect's 8000-8999)."""
    from prefect import flow

    if ports is not None:
        from prefect.server.api.server import SubprocessASGIServer

        SubprocessASGIServer._port_range = ports

    def body() -> None:
        return None

    bench = flow(name="bench-side-by-side")(body)

    async with get_client() as client:

        async def create() -> None:
            await client.create_flow_run(bench)  # the flow (upserted), then its run

        return await ephemeral_figures(client, create, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("requests", "leases", "clients", "ephemeral"))
    parser.add_argument("--method", choices=("GET", "POST"), default="GET")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--leases", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--creations", type=int, default=50)
    parser.add_argument("--ports", help="FIRST-LAST: where the ephemeral server may listen")
    args = parser.parse_args()
    result: dict[str, Any]
    if args.mode == "requests":
        result = asyncio.run(requests(args.method, args.requests, args.warmup))
    elif args.mode == "leases":
        result = anyio.run(leases, args.leases, backend="asyncio")
    elif args.mode == "clients":
        result = anyio.run(clients, args.clients, backend="asyncio")
    else:
        ports = None
        if args.ports:
            first, last = (int(port) for port in args.ports.split("-"))
            ports = range(first, last + 1)
        result = asyncio.run(ephemeral(args.creations, ports))
    print(json.dumps({**result, "prefect_version": prefect.__version__}))


if __name__ == "__main__":
    main()
