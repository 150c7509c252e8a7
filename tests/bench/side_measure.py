"""The measuring loops of the side-by-side benchmark, shared by both sides.

Our side (`tests/bench_side_by_side.py`, ``child``) and Prefect's
(`tests/bench/prefect_side.py`, in Prefect's own virtualenv) run the same loops here, so
a difference in the numbers is a difference between the clients. Only the standard
library and anyio (which both virtualenvs have); the harness that holds N contexts open
at once is the client-context benchmark's own (`tests.bench_contexts.hold_open`).
"""

from __future__ import annotations

import cProfile
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from tests.bench.mock_api import flow_run_id
from tests.bench_contexts import hold_open, resident_bytes

#: Set by ``child --profile``: enabled around the measured calls of `cpu_per_call` only
#: (not the warm-up, nor the imports a first call makes).
profiler: cProfile.Profile | None = None


async def cpu_per_call(call: Callable[[], Awaitable[Any]], n: int, warmup: int) -> float:
    """Microseconds of process CPU per call of `call`, over `n` sequential calls after
    `warmup` (the garbage collector on, as in a program)."""
    for _ in range(warmup):
        await call()
    gc.collect()
    if profiler is not None:
        profiler.enable()
    start = time.process_time()
    for _ in range(n):
        await call()
    took = time.process_time() - start
    if profiler is not None:
        profiler.disable()
    return took / n * 1e6


async def cpu_per_request(client: Any, method: str, state: Any, n: int, warmup: int) -> float:
    """`cpu_per_call` of ``read_flow_run`` (GET) or ``set_flow_run_state`` (POST) with
    `state`, about the mock API's flow run: ours and Prefect's clients spell them alike."""
    run_id = UUID(flow_run_id())

    async def get() -> None:
        await client.read_flow_run(run_id)

    async def post() -> None:
        await client.set_flow_run_state(run_id, state)

    return await cpu_per_call(get if method == "GET" else post, n, warmup)


async def held_at_once(make: Callable[[], Any], n: int) -> dict[str, float]:
    """CPU (enter and exit) and resident-set growth per context, with `n` contexts of
    `make` open at once; one context first, apart, so one-off costs are not counted."""
    async with make():
        pass
    gc.collect()
    before = resident_bytes()
    opened, closed, rss_open = await hold_open(make, n)
    return {
        "cpu_us": (opened + closed) / n * 1e6,
        "rss_kib": (rss_open - before) / n / 1024,
    }


async def creations_per_second(create: Callable[[], Awaitable[Any]], n: int) -> float:
    """Sequential calls of `create` per second of wall time (three first, not counted)."""
    for _ in range(3):
        await create()
    start = time.perf_counter()
    for _ in range(n):
        await create()
    return n / (time.perf_counter() - start)


async def ephemeral_figures(
    client: Any, create: Callable[[], Awaitable[Any]], n: int
) -> dict[str, float]:
    """In a fresh process with an open ephemeral-mode `client`: the wall-clock time of
    its first answer (``GET /health``), then `creations_per_second` of `create`."""
    error = await client.api_healthcheck()
    first_at = time.time()
    if error is not None:
        raise error
    return {"first_response_at": first_at, "creations_per_s": await creations_per_second(create, n)}
