"""Client CPU per request, ours against bare httpx, paired in one process (issue 12, item 3).

The side-by-side benchmark measures each client in its own process, one after the other:
on a machine shared with other work, the load changes between two such measurements, and
the per-round ratios of one run spread from 0.8 to 1.5. Here both clients run in one
process, on the same mock transport (`tests.bench.mock_api`), in alternating batches of a
few milliseconds (which one goes first alternates too); each pair of batches gives one
ratio, and the median of hundreds of them moves little with the load. CPU is the
process's (``time.process_time``)::

    python -m tests.bench.paired_requests                # GET and POST, trio and asyncio
    python -m tests.bench.paired_requests --method POST --backend asyncio --pairs 400
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import anyio
import httpx

from prefect_trio_client import states
from prefect_trio_client.orchestration import PrefectClient
from tests.bench.mock_api import API_URL, flow_run_id, mock_transport, set_state_body

Call = Callable[[], Awaitable[Any]]


async def _cpu(call: Call, times: int) -> float:
    start = time.process_time()
    for _ in range(times):
        await call()
    return time.process_time() - start


async def paired(method: str, pairs: int, batch: int, warmup: int) -> dict[str, float]:
    """Per-pair ratios of our CPU per request to bare httpx's: median and quartiles, and
    each client's median CPU per request in microseconds."""
    run_id = flow_run_id()
    run_uuid = UUID(run_id)
    body, state = set_state_body(), states.Running()
    async with (
        httpx.AsyncClient(base_url=API_URL, transport=mock_transport()) as bare,
        PrefectClient(API_URL, httpx_settings={"transport": mock_transport()}) as ours,
    ):

        async def bare_call() -> None:
            if method == "GET":
                response = await bare.get(f"/flow_runs/{run_id}")
            else:
                response = await bare.post(f"/flow_runs/{run_id}/set_state", json=body)
            response.raise_for_status()
            response.json()

        async def our_call() -> None:
            if method == "GET":
                await ours.read_flow_run(run_uuid)
            else:
                await ours.set_flow_run_state(run_uuid, state)

        for _ in range(warmup):
            await bare_call()
            await our_call()
        gc.collect()
        ratios, our_us, bare_us = [], [], []
        for index in range(pairs):
            if index % 2:
                theirs, mine = await _cpu(bare_call, batch), await _cpu(our_call, batch)
            else:
                mine, theirs = await _cpu(our_call, batch), await _cpu(bare_call, batch)
            ratios.append(mine / theirs)
            our_us.append(mine / batch * 1e6)
            bare_us.append(theirs / batch * 1e6)
    low, _, high = statistics.quantiles(ratios, n=4)
    return {
        "ratio": statistics.median(ratios),
        "ratio_q1": low,
        "ratio_q3": high,
        "ours_us": statistics.median(our_us),
        "bare_us": statistics.median(bare_us),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.paired_requests")
    parser.add_argument("--method", choices=("GET", "POST"), action="append")
    parser.add_argument("--backend", choices=("trio", "asyncio"), action="append")
    parser.add_argument("--pairs", type=int, default=200, help="pairs of batches")
    parser.add_argument("--batch", type=int, default=40, help="requests per batch")
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args(argv)
    for method in args.method or ("GET", "POST"):
        for backend in args.backend or ("asyncio", "trio"):
            sizes = (args.pairs, args.batch, args.warmup)
            figures = anyio.run(paired, method, *sizes, backend=backend)
            print(
                f"{method:4} {backend:7} ours / bare httpx: {figures['ratio']:.3f}x "
                f"(quartiles {figures['ratio_q1']:.3f}-{figures['ratio_q3']:.3f} over "
                f"{args.pairs} pairs of {args.batch}); CPU per request {figures['ours_us']:.1f} "
                f"us against {figures['bare_us']:.1f} us"
            )


if __name__ == "__main__":
    main()
