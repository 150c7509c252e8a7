"""Import and start-up cost of the client, against the floor of its own dependencies.

Not a test: a benchmark (timing goals live here, never in tests). Each measurement runs
in a fresh interpreter; the cases are interleaved round by round (the order rotates), and
each row shows its median over the rounds, so a noisy neighbour moves every row alike:

- ``floor``: ``import anyio, httpx, pydantic`` (what any client on these libraries pays);
- ``orchestration``: ``import prefect_trio_client.orchestration`` (the goal: at most 1.5x
  the floor, issue 12);
- ``package``: ``import prefect_trio_client``;
- ``path``: a script's whole path, from starting the interpreter to its exit: import,
  ``get_client()`` with ``PREFECT_API_URL`` set, entering the client (its version check) and
  ``api_healthcheck()`` against a stub server in another process (``stub_server.py``),
  on asyncio; against ``path httpx``, the same with bare ``httpx.AsyncClient`` and one GET.

Import times are read inside the child (``perf_counter`` around the import statement), so
they leave out the interpreter's own start; ``modules`` is ``len(sys.modules)`` after it.
Bytecode is cached as in an installed package: the children write and read ``.pyc`` files
under a temporary ``PYTHONPYCACHEPREFIX`` (even when ``PYTHONDONTWRITEBYTECODE`` is set
here), after one warm-up round that is not counted; ``--no-bytecode-cache`` compiles every
module in every run instead. The ``loaded`` column names the heavy modules a case imported
that it did not use (trio under asyncio, the embedded server, pydantic-settings...)::

    python -m tests.bench.import_time --rounds 9
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.stub_server import running

ROOT = Path(__file__).resolve().parents[2]

#: Modules whose presence is worth a word: each is heavy, and none is needed by a client
#: that talks to a server over HTTP under asyncio.
WATCHED = (
    "trio",
    "anyio._backends._trio",
    "pydantic_settings",
    "prefect_trio_client.schemas",
    "prefect_trio_client.server",
    "starlette",
    "sqlite3",
    "hypercorn",
)

_REPORT = f"""
import json, sys
print(json.dumps({{
    "ms": (_t1 - _t0) * 1e3,
    "modules": len(sys.modules),
    "loaded": [name for name in {WATCHED!r} if name in sys.modules],
}}))
"""


def _import_case(statement: str) -> str:
    return f"import time\n_t0 = time.perf_counter()\n{statement}\n_t1 = time.perf_counter()\n"


_OURS_PATH = """
import asyncio, os, time
_t0 = time.perf_counter()
from prefect_trio_client.orchestration import get_client

async def main() -> None:
    async with get_client() as client:
        await client.api_healthcheck()

asyncio.run(main())
_t1 = time.perf_counter()
"""

_HTTPX_PATH = """
import asyncio, os, time
_t0 = time.perf_counter()
import httpx

async def main() -> None:
    async with httpx.AsyncClient(base_url=os.environ["PREFECT_API_URL"]) as client:
        (await client.get("/health")).raise_for_status()

asyncio.run(main())
_t1 = time.perf_counter()
"""

CASES: dict[str, str] = {
    "floor": _import_case("import anyio, httpx, pydantic"),
    "orchestration": _import_case("import prefect_trio_client.orchestration"),
    "package": _import_case("import prefect_trio_client"),
    "path httpx": _HTTPX_PATH,
    "path": _OURS_PATH,
}


@dataclass
class Row:
    """One case's runs: in-child milliseconds, whole-process milliseconds, modules."""

    ms: list[float] = field(default_factory=list)
    process_ms: list[float] = field(default_factory=list)
    modules: int = 0
    loaded: list[str] = field(default_factory=list)


def child_env(source: Path, api_url: str, home: str, pycache: str | None) -> dict[str, str]:
    """The children's environment: `source` first on the path, no proxies, the stub's
    URL, and a private bytecode cache (or none)."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    env["PREFECT_API_URL"] = api_url
    env["PREFECT_HOME"] = home
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def run_once(code: str, env: Mapping[str, str], cwd: str) -> tuple[dict[str, Any], float]:
    """Run one case in a fresh interpreter: what it reports, and its wall time in ms.

    `cwd` holds no package: ``python -c`` puts it first on the path, before `source`.
    """
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code + _REPORT],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = (time.perf_counter() - started) * 1e3
    if done.returncode != 0:
        raise RuntimeError(f"a benchmark child failed:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report, elapsed


def measure(rounds: int, *, source: Path, bytecode_cache: bool) -> dict[str, Row]:
    rows = {name: Row() for name in CASES}
    names = list(CASES)
    with (
        running() as stub,
        tempfile.TemporaryDirectory() as home,
        tempfile.TemporaryDirectory() as pycache,
    ):
        env = child_env(source, stub.api_url, home, pycache if bytecode_cache else None)
        for name in names:  # warm-up: fills the bytecode cache and the OS's file cache
            run_once(CASES[name], env, home)
        for index in range(rounds):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                report, elapsed = run_once(CASES[name], env, home)
                row = rows[name]
                row.ms.append(report["ms"])
                row.process_ms.append(elapsed)
                row.modules = report["modules"]
                row.loaded = report["loaded"]
    return rows


def ratios(case: list[float], base: list[float]) -> tuple[float, float]:
    """``case`` over ``base``: the ratio of medians, and the median of per-round ratios."""
    of_medians = statistics.median(case) / statistics.median(base)
    per_round = statistics.median(a / b for a, b in zip(case, base, strict=True))
    return of_medians, per_round


def summary(rows: dict[str, Row]) -> dict[str, Any]:
    table = {
        name: {
            "median_ms": round(statistics.median(row.ms), 1),
            "min_ms": round(min(row.ms), 1),
            "process_median_ms": round(statistics.median(row.process_ms), 1),
            "modules": row.modules,
            "loaded": row.loaded,
        }
        for name, row in rows.items()
    }
    import_ratio = ratios(rows["orchestration"].ms, rows["floor"].ms)
    # A script's whole path is what its user waits for: the process, interpreter start too.
    path_ratio = ratios(rows["path"].process_ms, rows["path httpx"].process_ms)
    return {
        "rounds": len(rows["floor"].ms),
        "cases": table,
        "orchestration_over_floor": round(import_ratio[0], 2),
        "orchestration_over_floor_per_round": round(import_ratio[1], 2),
        "path_over_httpx": round(path_ratio[0], 2),
        "path_over_httpx_per_round": round(path_ratio[1], 2),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"import and start-up, medians of {result['rounds']} interleaved rounds")
    header = f"{'case':<15}{'median ms':>10}{'min ms':>9}{'process ms':>12}{'modules':>9}  loaded"
    print(header)
    for name, row in result["cases"].items():
        loaded = ", ".join(row["loaded"]) or "-"
        print(
            f"{name:<15}{row['median_ms']:>10.1f}{row['min_ms']:>9.1f}"
            f"{row['process_median_ms']:>12.1f}{row['modules']:>9}  {loaded}"
        )
    print(
        f"orchestration / floor: {result['orchestration_over_floor']:.2f}x "
        f"(median of per-round ratios {result['orchestration_over_floor_per_round']:.2f}x; "
        "goal <= 1.5x)"
    )
    print(
        f"path / path httpx: {result['path_over_httpx']:.2f}x "
        f"(median of per-round ratios {result['path_over_httpx_per_round']:.2f}x; "
        "whole processes, interpreter start to exit)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.import_time", description=__doc__)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (>= 7)")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile every module in every run (as with PYTHONDONTWRITEBYTECODE and no .pyc)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=ROOT,
        help="the checkout whose package is measured (default: this one), e.g. an older "
        "commit's `git archive` to compare before and after",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    rows = measure(args.rounds, source=args.source, bytecode_cache=not args.no_bytecode_cache)
    result = summary(rows)
    result["bytecode_cache"] = not args.no_bytecode_cache
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
