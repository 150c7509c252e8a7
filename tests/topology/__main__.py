"""``python -m tests.topology``: the scaled topology by hand, or what `nox -s topology` runs.

    python -m tests.topology up --prefect .nox/topology-prefect/bin/prefect
        start it, print the URLs, wait for Ctrl-C, tear it down
    python -m tests.topology run --prefect ... --prefect-python ... [--lifecycle]
            [--drills replica-kill,postgres-restart,redis-restart,idle-cut,refuse-upgrade | all]
            [--load]
        start it, run the interop lifecycle tests, the failure drills and/or the load
        table's rows (raw client at C=16 and 64, engines at C=20) with the topology's own
        limit, tear down; exit 1 when a test fails or our client lost or duplicated a run

Ports come from ``--base-port`` (seven consecutive ports) or are picked free.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.topology.config import Ports, ports_from
from tests.topology.stack import Topology, start_topology

#: The interop tests run on the topology: the whole client lifecycle, and what only a
#: topology shows (tests marked `topology`).
LIFECYCLE_TESTS = [
    "tests/interop/test_lifecycle.py",
    "tests/interop/test_topology.py",
    "tests/interop/test_topology_events.py",
]
REPOSITORY = Path(__file__).resolve().parent.parent.parent


def _ports(args: argparse.Namespace) -> Ports | None:
    return ports_from(args.base_port, args.replicas) if args.base_port else None


def _describe(topology: Topology) -> None:
    layout = topology.layout
    print(f"API (nginx round-robin, websockets):  {layout.api_url}")
    print(f"API (nginx, websockets not upgraded): {layout.api_url_no_websocket}")
    print(f"API (nginx, idle connections cut):    {layout.api_url_idle_cut}")
    for index, url in enumerate(layout.replica_urls):
        print(f"replica {index}:                           {url}")
    print(f"PostgreSQL: {layout.database_url}")
    print(f"Redis:      redis://127.0.0.1:{layout.ports.redis}")
    print(f"state:      {layout.state_file} (logs in {layout.root / 'logs'})")


def up(args: argparse.Namespace) -> int:
    with start_topology(
        args.prefect, ports=_ports(args), replicas=args.replicas, keep=args.keep
    ) as topology:
        _describe(topology)
        print("Ctrl-C stops everything.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print()
    return 0


def lifecycle(topology: Topology, pytest_args: list[str]) -> int:
    """The interop lifecycle through the proxy, in a pytest of its own."""
    env = {
        **os.environ,
        "PREFECT_TRIO_CLIENT_INTEROP_API_URL": topology.layout.api_url,
        "PREFECT_TRIO_CLIENT_TOPOLOGY": str(topology.layout.state_file),
    }
    command = [sys.executable, "-m", "pytest", *LIFECYCLE_TESTS, "-p", "no:randomly", *pytest_args]
    print(f"topology: {' '.join(command)}", flush=True)
    return subprocess.run(command, env=env, cwd=REPOSITORY, check=False).returncode


def _numbers(text: str) -> list[int]:
    return [int(value) for value in text.split(",") if value]


def run(args: argparse.Namespace) -> int:
    from tests.topology.drill import DRILLS, DrillOptions, run_drills
    from tests.topology.engine_drill import ENGINE_DRILLS, EngineDrillOptions, run_engine_drills
    from tests.topology.rows import LoadOptions, run_load

    started = time.monotonic()
    failed = 0
    with start_topology(
        args.prefect, ports=_ports(args), replicas=args.replicas, keep=args.keep
    ) as topology:
        _describe(topology)
        if args.lifecycle:
            failed |= lifecycle(topology, args.pytest_args)
        everything = [*DRILLS, *ENGINE_DRILLS]
        chosen = everything if args.drills == "all" else [d for d in args.drills.split(",") if d]
        engine_drills = [d for d in chosen if d in ENGINE_DRILLS]
        drills = [d for d in chosen if d not in ENGINE_DRILLS]
        if drills:
            options = DrillOptions(
                clients=[c for c in args.clients.split(",") if c],
                runs=args.runs,
                concurrency=args.concurrency,
                fail_at=args.fail_at,
                prefect_python=args.prefect_python,
                markdown=args.markdown,
            )
            failed |= run_drills(topology, drills, options)
        if engine_drills:
            engine_options = EngineDrillOptions(
                clients=[c for c in args.clients.split(",") if c],
                runs=args.engine_runs,
                concurrency=_numbers(args.engine_concurrency)[0],
                prefect_python=args.prefect_python,
            )
            failed |= run_engine_drills(topology, engine_drills, engine_options)
        if args.load:
            load = LoadOptions(
                clients=[c for c in args.clients.split(",") if c],
                prefect_python=args.prefect_python,
                runs=args.load_runs,
                concurrencies=_numbers(args.load_concurrency),
                engine_runs=args.engine_runs,
                engine_concurrencies=_numbers(args.engine_concurrency),
                markdown=args.load_markdown,
            )
            failed |= run_load(topology, load)
    print(f"topology: done in {time.monotonic() - started:.0f} s", flush=True)
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.topology", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "run"):
        sub = commands.add_parser(name)
        sub.add_argument("--prefect", type=Path, required=True, help="prefect (with prefect-redis)")
        sub.add_argument("--base-port", type=int, default=0, help="first of 7 ports; 0: free ones")
        sub.add_argument("--replicas", type=int, default=2)
        sub.add_argument("--keep", action="store_true", help="keep the folder (logs) afterwards")
    drive = commands.choices["run"]
    drive.add_argument("--lifecycle", action="store_true", help="the interop lifecycle tests")
    drive.add_argument(
        "--drills", default="", help="comma-separated, or all (tests/topology/drill.py)"
    )
    drive.add_argument("--prefect-python", default=None, help="python with prefect: its client")
    drive.add_argument("--clients", default="trio,asyncio,prefect")
    drive.add_argument("--runs", type=int, default=200)
    drive.add_argument("--concurrency", type=int, default=32)
    drive.add_argument("--fail-at", type=float, default=0.15, help="share of runs created")
    drive.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    drive.add_argument("--load", action="store_true", help="the load table's rows, its limit")
    drive.add_argument("--load-runs", type=int, default=200, help="flow runs per raw row")
    drive.add_argument("--load-concurrency", default="16,64", help="raw rows' C, comma-separated")
    drive.add_argument("--engine-runs", type=int, default=100, help="flow runs per engine row")
    drive.add_argument("--engine-concurrency", default="20", help="engine rows' C (200 too?)")
    drive.add_argument("--load-markdown", type=Path, default=None, help="the load table, here")
    drive.add_argument("pytest_args", nargs="*", help="after --: options for pytest")
    args = parser.parse_args()
    args.prefect = args.prefect.absolute()
    sys.exit(up(args) if args.command == "up" else run(args))


if __name__ == "__main__":
    main()
