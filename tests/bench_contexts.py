"""What one open client context costs, in CPU and memory (DESIGN.md, section 2b).

A benchmark program, not a test. It opens N client contexts at once (all of them open
together, entered one after the other through an exit stack) against an in-process stub
and reports, per context:

- CPU: ``time.process_time()`` to build and enter ("open") and to leave ("close") one
  context, in the steady state: one context is opened and closed first and reported apart
  ("first": one-off costs such as building the shared SSL context, and the modules httpx,
  anyio and the backend import on first use);
- memory: what Python allocated per open context (``tracemalloc``, a separate pass, since
  tracing slows everything down) and how much the process's resident set grew per open
  context (``/proc/self/statm``; this one also sees OpenSSL's allocations, which
  ``tracemalloc`` cannot).

Each variant runs in a fresh interpreter, so one cannot warm the caches of another::

    python -m tests.bench_contexts --backend trio --contexts 1000
    python -m tests.bench_contexts --backend asyncio --contexts 1000 --request

The variants: ``PrefectClient("http://127.0.0.1:9/api", ...)`` (settings read from the
environment, as users construct it), the same with one `ClientSettings` passed to every
client, a bare ``httpx.AsyncClient()`` and ``httpx.AsyncClient(verify=<shared context>)``.
Every client gets the stub as a mount for ``all://`` (so its default transport is still
built, as in real use); with ``--request`` each context sends one
``GET /api/admin/version`` (the stub answers ``"3.9.1"``, so `PrefectClient` runs its
server version check too).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

import anyio
import httpx

URL = "http://127.0.0.1:9/api"
VARIANTS = {
    "prefect-client": "PrefectClient(url)",
    "prefect-client-settings": "PrefectClient(url, settings=shared)",
    "httpx-bare": "httpx.AsyncClient()",
    "httpx-shared-ssl": "httpx.AsyncClient(verify=shared)",
}


def stub(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/admin/version"):
        return httpx.Response(200, json="3.9.1")
    return httpx.Response(404, json={"detail": "Not Found"})


def resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def factory(variant: str, request: bool) -> Callable[[], AbstractAsyncContextManager[Any]]:
    mounts: dict[str, httpx.AsyncBaseTransport] = {"all://": httpx.MockTransport(stub)}
    if variant in ("prefect-client", "prefect-client-settings"):
        from prefect_trio_client.orchestration import PrefectClient
        from prefect_trio_client.settings import ClientSettings

        settings = ClientSettings() if variant == "prefect-client-settings" else None
        return lambda: PrefectClient(
            URL,
            httpx_settings={"mounts": mounts},
            settings=settings,
            check_server_version=request,
        )
    if variant == "httpx-bare":
        return lambda: httpx.AsyncClient(base_url=URL, mounts=mounts)
    if variant == "httpx-shared-ssl":
        from prefect_trio_client._tls import shared_ssl_context

        return lambda: httpx.AsyncClient(base_url=URL, mounts=mounts, verify=shared_ssl_context())
    raise SystemExit(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")


async def use(client: Any, request: bool) -> None:
    if not request:
        return
    if isinstance(client, httpx.AsyncClient):
        (await client.get("/admin/version")).raise_for_status()
    # A PrefectClient sent its version check on entry.


async def open_all(
    make: Callable[[], AbstractAsyncContextManager[Any]], n: int, request: bool
) -> tuple[float, int | None, float]:
    """Open n contexts together; (CPU to open them, RSS while open, CPU to close them)."""
    start = time.process_time()
    async with AsyncExitStack() as stack:
        for _ in range(n):
            await use(await stack.enter_async_context(make()), request)
        opened = time.process_time()
        rss = resident_bytes()
    return opened - start, rss, time.process_time() - opened


async def traced(
    make: Callable[[], AbstractAsyncContextManager[Any]], n: int, request: bool
) -> int:
    """Bytes Python allocated while n contexts are open."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    async with AsyncExitStack() as stack:
        for _ in range(n):
            await use(await stack.enter_async_context(make()), request)
        during = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return during - before


async def child(variant: str, n: int, request: bool) -> dict[str, Any]:
    make = factory(variant, request)  # imports happen here, outside the measurements
    start = time.process_time()
    async with make() as client:
        await use(client, request)
    first = time.process_time() - start
    gc.collect()
    rss_before = resident_bytes()
    open_cpu, rss_open, close_cpu = await open_all(make, n, request)
    traced_bytes = await traced(make, n, request)
    rss_growth = None if rss_before is None or rss_open is None else rss_open - rss_before
    return {
        "variant": variant,
        "first_ms": first * 1e3,
        "open_ms": open_cpu / n * 1e3,
        "close_ms": close_cpu / n * 1e3,
        "python_kib": traced_bytes / n / 1024,
        "rss_kib": None if rss_growth is None else rss_growth / n / 1024,
    }


def report(backend: str, n: int, request: bool, rows: list[dict[str, Any]]) -> None:
    print(
        f"{n} contexts open at once, backend {backend}, "
        f"{'one request each' if request else 'no request'}; per context:"
    )
    header = (
        f"{'variant':<38}{'first ms':>10}{'open ms':>10}{'close ms':>10}"
        f"{'py KiB':>10}{'RSS KiB':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        rss = "n/a" if row["rss_kib"] is None else f"{row['rss_kib']:.1f}"
        print(
            f"{VARIANTS[row['variant']]:<38}{row['first_ms']:>10.2f}{row['open_ms']:>10.3f}"
            f"{row['close_ms']:>10.3f}{row['python_kib']:>10.1f}{rss:>10}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench_contexts", description=__doc__)
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    parser.add_argument("--contexts", type=int, default=1000, metavar="N")
    parser.add_argument(
        "--request", action="store_true", help="send one request through each context"
    )
    parser.add_argument(
        "--variant", action="append", choices=list(VARIANTS), help="run only these (repeat)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = anyio.run(child, args.child, args.contexts, args.request, backend=args.backend)
        print(json.dumps(result))
        return
    rows = []
    for variant in args.variant or list(VARIANTS):
        command = [sys.executable, "-m", "tests.bench_contexts", "--child", variant]
        command += ["--backend", args.backend, "--contexts", str(args.contexts)]
        command += ["--request"] if args.request else []
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{variant} failed:\n{done.stderr}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    report(args.backend, args.contexts, args.request, rows)


if __name__ == "__main__":
    main()
