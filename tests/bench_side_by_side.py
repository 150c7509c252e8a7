"""Our client side by side with Prefect 3.9.1's and with the floor (issue 12, item 1).

A benchmark program, not a test. Every measurement runs in a fresh interpreter; the
rounds are interleaved (every measurement once, then again), and the report shows
medians and per-round ratios (`tests/bench/side_report.py`). Prefect's side runs in
Prefect's own virtualenv (``--prefect-python``, made by ``nox -s bench``) through
`tests/bench/prefect_side.py` and `tests/bench/cold_start.py`; ours and the floors run
here (``child``):

- **import**: ``import prefect_trio_client.orchestration``, Prefect's
  ``import prefect.client.orchestration``, and the floor ``import anyio, httpx,
  pydantic``: wall time and modules added;
- **script**: interpreter start to the first response of a running server (a stub API in
  its own process, `tests/bench/stub_server.py`): ours, Prefect's, bare httpx;
- **requests**: client CPU per ``read_flow_run`` (GET) and ``set_flow_run_state`` (POST)
  on an ``httpx.MockTransport`` (`tests/bench/mock_api.py`): ours at its defaults
  (retries, CSRF, backpressure), Prefect's, and bare ``httpx.AsyncClient`` with
  ``response.json()``;
- **leases**: N (10,000) concurrent ``app_lifespan_context`` leases of one app: ours
  (``prefect_trio_client.base``), Prefect's (``prefect.client.base``), and the same tasks
  with no lifespan: CPU and resident memory per lease;
- **clients**: N clients open at once: memory and CPU per client;
- **ephemeral**: no ``PREFECT_API_URL``, a fresh ``PREFECT_HOME``: the first response
  from a cold process (ours: the embedded server; Prefect's: its ephemeral server) and
  sequential flow-run creations per second.

``nox -s bench`` runs it; by hand (a trial: fewer rounds, some groups)::

    python -m tests.bench_side_by_side --prefect-python .nox/bench-prefect/bin/python \\
        --markdown BENCHMARKS.md --chart docs/benchmarks.png --load-table LOAD.md
    python -m tests.bench_side_by_side --rounds 1 --only import,requests
    python -m tests.bench_side_by_side profile --backend trio --method POST
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import platform
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COLD_START = HERE / "bench" / "cold_start.py"
CHILD_TIMEOUT = 900.0
GROUPS = ("import", "script", "requests", "leases", "clients", "ephemeral")

OURS_MODULE = "prefect_trio_client.orchestration"
PREFECT_MODULE = "prefect.client.orchestration"
FLOOR_MODULES = ("anyio", "httpx", "pydantic")


# The measuring side for ours and the floors, in a fresh interpreter (``child``).


async def child_requests(client: str, method: str, n: int, warmup: int) -> dict[str, Any]:
    import httpx

    from tests.bench.mock_api import API_URL, flow_run_id, mock_transport, set_state_body
    from tests.bench.side_measure import cpu_per_call

    run_id = flow_run_id()
    if client == "httpx":
        body = set_state_body()
        async with httpx.AsyncClient(base_url=API_URL, transport=mock_transport()) as bare:

            async def bare_get() -> None:
                response = await bare.get(f"/flow_runs/{run_id}")
                response.raise_for_status()
                response.json()

            async def bare_post() -> None:
                response = await bare.post(f"/flow_runs/{run_id}/set_state", json=body)
                response.raise_for_status()
                response.json()

            return {
                "cpu_us": await cpu_per_call(bare_get if method == "GET" else bare_post, n, warmup)
            }

    from prefect_trio_client import states
    from prefect_trio_client.orchestration import PrefectClient
    from tests.bench.side_measure import cpu_per_request

    async with PrefectClient(API_URL, httpx_settings={"transport": mock_transport()}) as ours:
        cpu = await cpu_per_request(ours, method, states.Running(), n, warmup)
        http = ours.httpx_client
        return {
            "cpu_us": cpu,
            "csrf": http.enable_csrf_support,
            "backpressure": http.backpressure is not None,
            "max_retries": ours._settings.client_max_retries,
        }


async def child_leases(client: str, n: int) -> dict[str, Any]:
    from tests.bench.mock_api import LifespanApp
    from tests.bench.side_measure import held_at_once
    from tests.bench_contexts import NoOp

    if client == "floor":
        return await held_at_once(NoOp, n)
    from prefect_trio_client.base import app_lifespan_context

    app = LifespanApp()
    result = await held_at_once(lambda: app_lifespan_context(app), n)
    return {**result, "startups": app.startups, "shutdowns": app.shutdowns}


async def child_clients(client: str, n: int) -> dict[str, Any]:
    from tests.bench.side_measure import held_at_once

    if client == "floor":
        import ssl

        import httpx

        shared = ssl.create_default_context()
        url = os.environ["PREFECT_API_URL"]
        return await held_at_once(lambda: httpx.AsyncClient(base_url=url, verify=shared), n)
    from prefect_trio_client.orchestration import get_client

    return await held_at_once(get_client, n)


async def child_ephemeral(n: int) -> dict[str, Any]:
    from prefect_trio_client.orchestration import get_client
    from tests.bench.side_measure import ephemeral_figures

    async with get_client() as client:

        async def create() -> None:
            flow_id = await client.create_flow_from_name("bench-side-by-side")
            await client.create_flow_run(flow_id)

        return await ephemeral_figures(client, create, n)


def child(args: argparse.Namespace) -> None:
    import anyio

    from tests.bench import side_measure

    profile = cProfile.Profile() if args.profile else None
    side_measure.profiler = profile  # around the measured calls only
    result: dict[str, Any]
    if args.measure == "requests":
        result = anyio.run(
            child_requests,
            args.client,
            args.method,
            args.requests,
            args.warmup,
            backend=args.backend,
        )
    elif args.measure == "leases":
        result = anyio.run(child_leases, args.client, args.leases, backend=args.backend)
    elif args.measure == "clients":
        result = anyio.run(child_clients, args.client, args.clients, backend=args.backend)
    else:
        result = anyio.run(child_ephemeral, args.creations, backend=args.backend)
    if profile is not None:
        for order in ("tottime", "cumulative"):
            print(f"--- cProfile, by {order} ---", file=sys.stderr)
            stats = pstats.Stats(profile, stream=sys.stderr).strip_dirs()
            stats.sort_stats(order).print_stats(args.profile_lines)
    print(json.dumps(result))


# The driving side: the plan of one round, the processes, the rounds.


@dataclass(frozen=True)
class Job:
    """One measurement: who runs it (``ours`` or ``prefect`` python), its argv after the
    python, and what API the process is pointed at (``stub``, ``ephemeral`` or none)."""

    key: str
    group: str
    python: str
    argv: tuple[str, ...]
    api: str = "none"


def plan(args: argparse.Namespace) -> list[Job]:
    """Every measurement of one round, in the order a round runs them."""
    prefect = args.prefect_python is not None
    cold = str(COLD_START)
    me = ("-m", "tests.bench_side_by_side", "child")
    argv: tuple[str, ...]
    jobs: list[Job] = [
        Job("import/ours", "import", "ours", (cold, "import", OURS_MODULE)),
        Job("import/floor", "import", "ours", (cold, "import", *FLOOR_MODULES)),
    ]
    if prefect:
        jobs.append(Job("import/prefect", "import", "prefect", (cold, "import", PREFECT_MODULE)))
    for backend in ("trio", "asyncio"):
        for client in ("ours", "httpx"):
            argv = (cold, "first-response", "--client", client, "--backend", backend)
            jobs.append(Job(f"script/{client}-{backend}", "script", "ours", argv, "stub"))
    if prefect:
        argv = (cold, "first-response", "--client", "prefect", "--backend", "asyncio")
        jobs.append(Job("script/prefect-asyncio", "script", "prefect", argv, "stub"))
    sizes = ("--requests", str(args.requests), "--warmup", str(args.warmup))
    for method in ("GET", "POST"):
        for backend in ("trio", "asyncio"):
            for client in ("ours", "httpx"):
                argv = (*me, "requests", "--client", client, "--backend", backend)
                jobs.append(
                    Job(
                        f"requests/{method}/{client}-{backend}",
                        "requests",
                        "ours",
                        (*argv, "--method", method, *sizes),
                    )
                )
        if prefect:
            argv = ("-m", "tests.bench.prefect_side", "requests", "--method", method, *sizes)
            jobs.append(Job(f"requests/{method}/prefect-asyncio", "requests", "prefect", argv))
    for group, size, api in (("leases", args.leases, "none"), ("clients", args.clients, "stub")):
        for backend in ("trio", "asyncio"):
            for client in ("ours", "floor"):
                argv = (
                    *me,
                    group,
                    "--client",
                    client,
                    "--backend",
                    backend,
                    f"--{group}",
                    str(size),
                )
                jobs.append(Job(f"{group}/{client}-{backend}", group, "ours", argv, api))
        if prefect:
            argv = ("-m", "tests.bench.prefect_side", group, f"--{group}", str(size))
            jobs.append(Job(f"{group}/prefect-asyncio", group, "prefect", argv, api))
    for backend in ("trio", "asyncio"):
        argv = (*me, "ephemeral", "--backend", backend, "--creations", str(args.creations))
        jobs.append(Job(f"ephemeral/ours-{backend}", "ephemeral", "ours", argv, "ephemeral"))
    if prefect:
        argv = ("-m", "tests.bench.prefect_side", "ephemeral")
        argv += ("--creations", str(args.prefect_creations))
        if args.prefect_ports:
            argv += ("--ports", args.prefect_ports)
        jobs.append(Job("ephemeral/prefect-asyncio", "ephemeral", "prefect", argv, "ephemeral"))
    only = set(args.only.split(",")) if args.only else set(GROUPS)
    return [job for job in jobs if job.group in only]


def environment(job: Job, stub_url: str | None, home: str) -> dict[str, str]:
    """The child's environment: no inherited ``PREFECT_*`` nor proxies, a fresh home;
    both sides find the measuring code in this source tree (the child runs in its home,
    so Prefect's settings never read this repository's pyproject.toml, which a concurrent
    edit once left half-written under a measurement)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") and not k.lower().endswith("_proxy")
    }
    env["PREFECT_HOME"] = home
    env["PYTHONPATH"] = str(ROOT)
    if job.api == "ephemeral":
        env["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "true"
    if job.api == "stub":
        assert stub_url is not None
        env["PREFECT_API_URL"] = stub_url
    if job.python == "prefect":
        env.update(
            {
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_TO_API_ENABLED": "false",
                # Its ephemeral server starts in a subprocess: give a busy machine time.
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
            }
        )
    return env


def run_job(job: Job, python: str, stub_url: str | None) -> dict[str, Any] | str:
    """Run one measurement in a fresh process group; a JSON row, or why it failed.

    Whatever the child started (Prefect's ephemeral server) is stopped with its group.
    """
    home = tempfile.mkdtemp(prefix="bench-side-home-")
    try:
        env = environment(job, stub_url, home)
        launched = time.time()
        process = subprocess.Popen(
            [python, *job.argv],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            return f"timed out after {CHILD_TIMEOUT:.0f}s: {err.strip()[-2000:]}"
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if process.returncode != 0 or not out.strip():
            return f"exit status {process.returncode}: {err.strip()[-2000:]}"
        row: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        if "first_response_at" in row:
            row["first_response_ms"] = (row.pop("first_response_at") - launched) * 1e3
        return row
    finally:
        shutil.rmtree(home, ignore_errors=True)


def measure(args: argparse.Namespace) -> Any:
    from tests.bench.side_report import Results
    from tests.bench.stub_server import running

    results = Results()
    # absolute, not resolved: a child runs in its own home, and a virtualenv's python
    # must keep the path it was called by
    pythons = {"ours": sys.executable, "prefect": os.path.abspath(args.prefect_python or "")}
    jobs = plan(args)
    with running() as stub:
        for round_ in range(1, args.rounds + 1):
            for job in jobs:
                if (
                    job.key == "ephemeral/prefect-asyncio"
                    and round_ > args.prefect_ephemeral_rounds
                ):
                    continue
                started = time.monotonic()
                outcome = run_job(job, pythons[job.python], stub.api_url)
                took = time.monotonic() - started
                if isinstance(outcome, str):
                    results.errors.setdefault(job.key, []).append(outcome)
                    print(f"round {round_} {job.key}: FAILED {outcome}", file=sys.stderr)
                    continue
                results.add(job.key, round_, outcome)
                shown = {k: v for k, v in outcome.items() if isinstance(v, float)}
                summary = ", ".join(f"{k} {v:,.2f}" for k, v in shown.items())
                print(f"round {round_} {job.key}: {took:.1f}s {summary}", flush=True)
    return results


def meta(args: argparse.Namespace, results: Any) -> dict[str, Any]:
    prefect_rows = [
        row for rows in results.rows.values() for row in rows if "prefect_version" in row
    ]
    ours = results.rows.get("requests/POST/ours-asyncio") or results.rows.get(
        "requests/GET/ours-asyncio", []
    )
    defaults = ""
    if ours:
        row = ours[0]
        defaults = (
            f"CSRF support {'on' if row['csrf'] else 'off'}, backpressure "
            f"{'on' if row['backpressure'] else 'off'}, up to {row['max_retries']} retries"
        )
    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "prefect_version": prefect_rows[0]["prefect_version"] if prefect_rows else "(not run)",
        "rounds": args.rounds,
        "requests": args.requests,
        "warmup": args.warmup,
        "leases": args.leases,
        "clients": args.clients,
        "creations": args.creations,
        "prefect_creations": args.prefect_creations,
        "chart": args.chart_link,
        "defaults": defaults,
    }


def run(args: argparse.Namespace) -> int:
    from tests.bench.markdown_sections import write_section
    from tests.bench.side_report import LOAD_SECTION, SECTION, load_quote, section, write_chart

    if args.prefect_python and not Path(args.prefect_python).exists():
        raise SystemExit(f"--prefect-python {args.prefect_python}: no such file")
    results = measure(args)
    if args.raw:
        Path(args.raw).write_text(json.dumps({"rows": results.rows, "errors": results.errors}))
        print(f"every round's measurements: {args.raw}")
    info = meta(args, results)
    if args.chart:
        info["chart"] = args.chart_link or os.path.relpath(
            args.chart, Path(args.markdown).parent if args.markdown else "."
        )
        write_chart(results, Path(args.chart), "prefect-trio-client beside Prefect 3.9.1 (medians)")
        print(f"chart: {args.chart}")
    text = section(results, info)
    print()
    print(text)
    if args.markdown:
        # The load quote first: a section new to the file goes on top, so side by side
        # comes first and the quote right after it.
        if args.load_table and Path(args.load_table).exists():
            link = os.path.relpath(args.load_table, Path(args.markdown).parent)
            write_section(
                Path(args.markdown),
                LOAD_SECTION,
                load_quote(Path(args.load_table).read_text(), link),
            )
        write_section(Path(args.markdown), SECTION, text)
        print(f"written to the marked sections of {args.markdown}")
    return 1 if results.errors else 0


def profile(args: argparse.Namespace) -> int:
    """The per-request measurement of ours under cProfile; the top functions to stderr."""
    argv = [
        sys.executable,
        "-m",
        "tests.bench_side_by_side",
        "child",
        "requests",
        *("--client", "ours", "--backend", args.backend, "--method", args.method),
        *("--requests", str(args.requests), "--warmup", str(args.warmup)),
        *("--profile", "--profile-lines", str(args.profile_lines)),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PYTHONPATH"] = str(ROOT)
    with _home() as home:
        env["PREFECT_HOME"] = home
        return subprocess.run(argv, check=False, cwd=ROOT, env=env).returncode


@contextlib.contextmanager
def _home() -> Iterator[str]:
    home = tempfile.mkdtemp(prefix="bench-side-home-")
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench_side_by_side", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000, help="measured calls per request row")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured calls before them")
    parser.add_argument("--leases", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--creations", type=int, default=300, help="ours, ephemeral")
    parser.add_argument("--prefect-creations", type=int, default=50, help="Prefect's, ephemeral")
    parser.add_argument(
        "--prefect-ephemeral-rounds",
        type=int,
        default=5,
        help="rounds of Prefect's ephemeral mode (the first ones; about 25 s each)",
    )
    parser.add_argument("--prefect-python", help="a python with prefect==3.9.1, not our package")
    parser.add_argument(
        "--prefect-ports", help="FIRST-LAST: ports for Prefect's ephemeral server (else 8000-8999)"
    )
    parser.add_argument("--only", help=f"comma-separated groups of {','.join(GROUPS)}")
    parser.add_argument("--markdown", help="write the marked sections of this file")
    parser.add_argument("--chart", help="write the chart (PNG, needs matplotlib) here")
    parser.add_argument("--chart-link", help="the chart's path as the markdown links it")
    parser.add_argument("--load-table", help="quote the load table of this LOAD.md")
    parser.add_argument("--raw", help="write every round's measurements to this JSON file")
    sub = parser.add_subparsers(dest="mode")
    one = sub.add_parser("child")
    one.add_argument("measure", choices=("requests", "leases", "clients", "ephemeral"))
    one.add_argument("--client", choices=("ours", "httpx", "floor"), default="ours")
    one.add_argument("--profile", action="store_true")
    prof = sub.add_parser("profile", help="ours per request, under cProfile")
    for each in (one, prof):
        each.add_argument("--backend", choices=("trio", "asyncio"), default="trio")
        each.add_argument("--method", choices=("GET", "POST"), default="GET")
        each.add_argument("--requests", type=int, default=3000)
        each.add_argument("--warmup", type=int, default=300)
        each.add_argument("--profile-lines", type=int, default=35)
    one.add_argument("--leases", type=int, default=10_000)
    one.add_argument("--clients", type=int, default=300)
    one.add_argument("--creations", type=int, default=300)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.mode == "child":
        child(args)
        return 0
    if args.mode == "profile":
        return profile(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
