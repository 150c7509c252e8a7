"""Cold-process measurements of the side-by-side benchmark: import, and a script's path.

A script with only the standard library at the top, so what it measures is what the
measured import brings; any virtualenv can run it (ours, or Prefect's for Prefect's
client). It prints one JSON line:

- ``import MODULE...``: the wall time of importing the modules (``perf_counter``) and
  how many modules that added to ``sys.modules``;
- ``first-response --client ours|prefect|httpx --backend trio|asyncio``: a whole
  script: import the client, get a client, ``GET /health`` from the server
  ``PREFECT_API_URL`` names; it prints the wall-clock time (``time.time()``) at the first
  response, and the process that started it subtracts the time it started it. Ours is
  ``get_client()`` (its version check on entry included), Prefect's is
  ``prefect.client.orchestration.get_client()``, and bare httpx an ``httpx.AsyncClient``::

    python tests/bench/cold_start.py import prefect_trio_client.orchestration
    PREFECT_API_URL=http://127.0.0.1:PORT/api python tests/bench/cold_start.py \\
        first-response --client ours --backend trio
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from typing import Any

# argparse and json are imported after an import is measured: what they bring (re,
# gettext, ...) would otherwise be missing from every count.


def measure_import(modules: list[str]) -> dict[str, Any]:
    before = len(sys.modules)
    start = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    took = time.perf_counter() - start
    return {"import_ms": took * 1e3, "modules": len(sys.modules) - before}


def first_response(client: str, backend: str) -> float:
    """Wall-clock time at the first response of ``GET /health``."""
    if client == "ours":
        return _ours(backend)
    if client == "prefect":
        return _prefect()
    return _httpx(backend)


async def _healthy_at(get_client: Any) -> float:
    """Ours and Prefect's alike: open a client, ``GET /health``, note the time."""
    async with get_client() as client:
        error = await client.api_healthcheck()
        at = time.time()
    if error is not None:
        raise error
    return at


def _ours(backend: str) -> float:
    import anyio

    from prefect_trio_client.orchestration import get_client

    return anyio.run(_healthy_at, get_client, backend=backend)


def _prefect() -> float:
    import asyncio

    from prefect.client.orchestration import get_client

    return asyncio.run(_healthy_at(get_client))


def _httpx(backend: str) -> float:
    import httpx

    async def main() -> float:
        async with httpx.AsyncClient(base_url=os.environ["PREFECT_API_URL"]) as client:
            response = await client.get("/health")
            response.raise_for_status()
            response.json()
            return time.time()

    if backend == "trio":
        import trio

        return trio.run(main)
    import asyncio

    return asyncio.run(main())


def main() -> None:
    if sys.argv[1:2] == ["import"]:
        result = measure_import(sys.argv[2:])
    else:
        result = {"first_response_at": _parse_and_run()}
    import json

    print(json.dumps(result))


def _parse_and_run() -> float:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    imports = sub.add_parser("import")
    imports.add_argument("modules", nargs="+")
    first = sub.add_parser("first-response")
    first.add_argument("--client", choices=("ours", "prefect", "httpx"), required=True)
    first.add_argument("--backend", choices=("trio", "asyncio"), default="asyncio")
    args = parser.parse_args()
    return first_response(args.client, args.backend)


if __name__ == "__main__":
    main()
