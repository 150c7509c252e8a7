"""Developer and CI sessions: tests (every installed Python 3.10-3.13), lint, typecheck, examples.

``nox -s tests lint typecheck`` is what CI runs (through ``.ci/run``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests", "lint", "typecheck", "examples"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]


def _works(executable: str | None) -> bool:
    if executable is None:
        return False
    return (
        subprocess.run([executable, "-c", "pass"], check=False, capture_output=True).returncode == 0
    )


def _find_pythons() -> list[str] | None:
    """Every supported interpreter on this machine, or None for nox's own Python.

    pyenv shims answer for versions that are installed but not selected, so a name on
    PATH is tried before it is trusted, and pyenv's version folders are put on PATH.
    """
    pyenv_versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = []
    for version in SUPPORTED:
        name = f"python{version}"
        if not _works(shutil.which(name)):
            for folder in sorted(pyenv_versions.glob(f"{version}.*/bin"), reverse=True):
                if _works(str(folder / name)):
                    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ['PATH']}"
                    break
        if _works(shutil.which(name)):
            found.append(version)
    return found or None


PYTHONS = _find_pythons()


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite against the installed package, one pytest worker per core.

    Arguments after ``--`` go to pytest; ``-n 0`` runs it in one process.
    """
    session.install(".", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("pytest", "-n", "auto", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repository."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, the tests and the examples."""
    session.install(".", *nox.project.dependency_groups(PYPROJECT, "typing", "test"))
    session.run("mypy", "--strict", "prefect_trio_client", "tests", "examples")


# Each example with the arguments that keep it small; nox runs them all.
EXAMPLES: list[list[str]] = [
    ["examples/quickstart.py"],
    ["examples/quickstart.py", "--backend", "asyncio"],
    ["examples/etl_pipeline.py"],
    ["examples/etl_pipeline.py", "--backend", "asyncio"],
    ["examples/retrying_client.py"],
    ["examples/retrying_client.py", "--backend", "asyncio"],
    ["examples/stress_nested_contexts.py", "--backend", "trio", "--tasks", "300"],
    ["examples/stress_nested_contexts.py", "--backend", "asyncio", "--tasks", "300"],
]


# The stress tool (issue 12) in small configurations: a few seconds, both backends.
STRESS_TOOL = ["-m", "prefect_trio_client.stress"]
STRESS_SMALL: list[list[str]] = [
    [*STRESS_TOOL, "--backend", "trio", "--tasks", "200"],
    [*STRESS_TOOL, "--backend", "asyncio", "--tasks", "200", "--faults", "0.1"],
    [*STRESS_TOOL, "--scenario", "contexts", "--backend", "trio", "--tasks", "500"],
]


@nox.session
def examples(session: nox.Session) -> None:
    """Run every example program, then the stress tool small; any non-zero exit fails
    the session."""
    session.install(".")
    home = tempfile.mkdtemp(prefix="prefect-home-")  # the quickstart's database lives here
    for argv in EXAMPLES:
        session.run("python", *argv, env={"PREFECT_HOME": home})
    for argv in STRESS_SMALL:
        session.run("python", *argv)


@nox.session
def stress(session: nox.Session) -> None:
    """The stress tool at full size (issue 12): 10,000 tasks, depth 3, on trio and asyncio,
    in-process and against a real `prefect server start`. Options after ``--`` go to
    every run (``--tasks 2000``, ``--faults 0.05``)."""
    session.install(".[stress]")
    session.install(*PREFECT_SERVER_REQUIREMENTS)
    full = [*STRESS_TOOL, "--tasks", "10000", "--depth", "3"]
    for backend in ("trio", "asyncio"):
        session.run("python", *full, "--backend", backend, *session.posargs)
    prefect = str(Path(session.bin) / "prefect")
    # A real server serves some 50 requests a second here: 10,000 tasks queue for the
    # client's slots far longer than a call's default 300 s budget, so the budget is an
    # hour (a call that waits longer fails with an error that names the setting).
    budget = {"PREFECT_CLIENT_RETRY_TIMEOUT": "3600"}
    with _prefect_server(session, prefect, csrf=False) as server:
        for backend in ("trio", "asyncio"):
            session.run(
                "python",
                *(*full, "--backend", backend, "--api-url", server.api_url),
                *session.posargs,
                env=budget,
            )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (not tests): the embedded server in-process on both backends, the
    lifespan service under 10,000 concurrent nested leases, and what client contexts cost
    beside Prefect 3.9.1's client (issue 14: `tests/bench_contexts.py`, against a stub API
    in a process of its own; the table goes to the "Client contexts" section of
    BENCHMARKS.md), and the embedded server's listings and creations with 1k to 100k flow
    runs stored (issue 12: `tests/server/bench_scale.py`, the "Embedded server at scale"
    section). Options after ``--`` go to the client-context benchmark, such as
    ``--rounds 3`` or ``--contexts 2000``; those after a ``--side-by-side`` among them go to
    the side-by-side benchmark below instead.

    Side by side with Prefect 3.9.1's client (issue 12, `tests/bench_side_by_side.py`):
    import, a script's start, CPU per request, 10,000 lifespan leases, open clients and
    ephemeral mode, ours beside Prefect's and the floor; it writes its marked sections of
    BENCHMARKS.md (quoting LOAD.md's table) and docs/benchmarks.png (matplotlib, installed
    here only)."""
    contexts_args, side_args = _split_side_by_side(session.posargs)
    session.install(".", *nox.project.dependency_groups(PYPROJECT, "test"))
    for backend in ("trio", "asyncio"):
        for database in ("file", "memory"):
            session.run(
                "python", "-m", "tests.server.bench", "--backend", backend, "--database", database
            )
    for backend in ("trio", "asyncio"):
        session.run(
            "python", "examples/stress_nested_contexts.py", "--backend", backend, "--tasks", "10000"
        )
    # issue 12: the embedded server at scale (1k, 10k, 100k flow runs stored; both backends)
    session.run("python", "-m", "tests.server.bench_scale", "--markdown", "BENCHMARKS.md")
    prefect_python = _prefect_virtualenv(session)  # Prefect's client, without our package
    session.run(
        "python",
        "-m",
        "tests.bench_contexts",
        *("--prefect-python", str(prefect_python), "--markdown", "BENCHMARKS.md"),
        *("--raw", str(Path(session.create_tmp()) / "bench-contexts.json")),
        *contexts_args,
    )
    # issue 12, item 2: import cost against `import anyio, httpx, pydantic` (README)
    session.run("python", "-m", "tests.bench.import_time")
    # Side by side (issue 12): its own marked sections of BENCHMARKS.md, and the chart.
    session.install("matplotlib")  # the chart only; never a dependency of the package
    session.run(
        "python",
        "-m",
        "tests.bench_side_by_side",
        *("--prefect-python", str(prefect_python), "--markdown", "BENCHMARKS.md"),
        *("--chart", "docs/benchmarks.png", "--load-table", "LOAD.md"),
        *("--raw", str(Path(session.create_tmp()) / "bench-side-by-side.json")),
        *side_args,
    )
    # issue 12, item 3: per-request CPU, ours and bare httpx paired in one process (the
    # ratio that holds on a shared machine; README, "paired in one process")
    session.run("python", "-m", "tests.bench.paired_requests")


def _split_side_by_side(posargs: list[str]) -> tuple[list[str], list[str]]:
    """The bench session's options: (the client-context benchmark's, the side-by-side
    benchmark's), split at a ``--side-by-side`` marker."""
    if "--side-by-side" not in posargs:
        return list(posargs), []
    at = posargs.index("--side-by-side")
    return list(posargs[:at]), list(posargs[at + 1 :])


# The real Prefect server the interop and load sessions talk to (it speaks API 0.8.4).
# Prefect 3.9.1 bounds FastAPI below 0.151 itself (its server uses FastAPI's `min_items`,
# which 0.155 no longer accepts) and resolves with a plain install.
PREFECT_SERVER_REQUIREMENTS = ["prefect==3.9.1"]


CSRF_MODULES = ["tests/interop/test_lifecycle.py", "tests/interop/test_load_guard.py"]


@nox.session
def interop(session: nox.Session) -> None:
    """Run tests/interop against a real `prefect server start` (plain; then, with CSRF on,
    the modules in `CSRF_MODULES`).

    The servers (plain, CSRF on, with services) live in this session's virtualenv (Prefect
    is not a dependency of the package), start at once, each on 127.0.0.1 on a free port
    with a temporary PREFECT_HOME, and are stopped by their PIDs whatever happens.
    """
    session.install(".", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.install(*PREFECT_SERVER_REQUIREMENTS)
    prefect = str(Path(session.bin) / "prefect")
    # The three servers start together (their start-ups overlap) and answer in turn.
    with _prefect_servers(
        session,
        prefect,
        ServerConfig(csrf=False),
        ServerConfig(csrf=True),
        ServerConfig(csrf=False, services=True),
    ) as (plain, csrf_on, with_services):
        for csrf, server in ((False, plain), (True, csrf_on)):
            session.run(
                "pytest",
                # with CSRF on, the modules whose requests differ: the token on every
                # method of the lifecycle, and its single flight under load
                *(CSRF_MODULES if csrf else ["tests/interop"]),
                "-p",
                "no:randomly",
                *session.posargs,
                env={
                    "PREFECT_TRIO_CLIENT_INTEROP_API_URL": server.api_url,
                    "PREFECT_TRIO_CLIENT_INTEROP_CSRF": "1" if csrf else "0",
                },
            )
        # Prefect's own engine reports task runs as events, which only a server with its
        # services records: the engine-against-engine comparison runs against one, and so
        # do the event reads (the services store events).
        session.run(
            "pytest",
            "tests/interop/test_engine_records.py",
            "tests/interop/test_events.py",  # events are stored by the services too
            "tests/interop/test_events_proxy.py",  # events through the fault proxy
            "-p",
            "no:randomly",
            *session.posargs,
            env={
                "PREFECT_TRIO_CLIENT_INTEROP_API_URL": with_services.api_url,
                "PREFECT_TRIO_CLIENT_INTEROP_SERVICES": "1",
            },
        )


LOAD_CLIENTS = ("prefect", "trio", "asyncio")


@nox.session
def load(session: nox.Session) -> None:
    """The load workload of issue 8: ours (trio, asyncio) against Prefect's own client.

    Each row (a client at a concurrency) gets a fresh `prefect server start --no-services`
    (SQLite) on 127.0.0.1, so rows are independent; Prefect's driver runs in a second
    virtualenv that has Prefect and not our package. Prints the table and writes it to
    LOAD.md. Options after ``--``: ``--runs 200``, ``--rounds 3`` (interleaved; the table
    shows each row's median round), ``--concurrency 1,4,16,64``,
    ``--clients prefect,trio,asyncio``, ``--markdown LOAD.md``, and ``--server-errors``
    to have the server log each retryable error (costs it time: a diagnostic, not a
    measurement).

    Then the engine-against-engine table of issue 15 (`_engine_rows`): ``--engine`` runs
    only it, ``--no-engine`` skips it; ``--engine-runs 200``, ``--engine-concurrency
    20,200``; ``--clients`` and ``--rounds`` apply to it too. A trial:
    ``nox -s load -- --engine --rounds 1 --engine-runs 20 --engine-concurrency 20``.
    """
    parser = argparse.ArgumentParser(prog="nox -s load --")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--clients", default=",".join(LOAD_CLIENTS))
    parser.add_argument("--markdown", default="LOAD.md")
    parser.add_argument("--server-errors", action="store_true")
    # issue 15: the engine-against-engine table (part of the default run)
    parser.add_argument("--engine", action="store_true", help="only the engine table")
    parser.add_argument("--no-engine", action="store_true", help="only the raw-client table")
    parser.add_argument("--engine-runs", type=int, default=200)
    parser.add_argument("--engine-concurrency", default="20,200")
    options = parser.parse_args(session.posargs)
    concurrencies = [int(c) for c in options.concurrency.split(",") if c]
    clients = [c for c in options.clients.split(",") if c]
    unknown = set(clients) - set(LOAD_CLIENTS)
    if unknown:
        session.error(f"unknown clients {sorted(unknown)}: choose from {LOAD_CLIENTS}")

    session.install(".", *nox.project.dependency_groups(PYPROJECT, "test"))
    prefect_python = _prefect_virtualenv(session)
    prefect = str(prefect_python.parent / "prefect")
    rows = Path(session.create_tmp()) / "load-rows.jsonl"
    rows.unlink(missing_ok=True)
    server_env = {"PREFECT_SERVER_LOG_RETRYABLE_ERRORS": "true"} if options.server_errors else {}
    # Rounds interleave: every client at every concurrency, then again, so a slow spell
    # of the machine lands on all clients alike; the table shows medians.
    for round_index in range(0 if options.engine else options.rounds):
        for concurrency in concurrencies:
            for client in clients:
                with _prefect_server(session, prefect, csrf=False, extra_env=server_env) as server:
                    session.run(
                        "python",
                        "-m",
                        "tests.load.harness",
                        "row",
                        *("--client", client, "--runs", str(options.runs)),
                        *("--concurrency", str(concurrency), "--api-url", server.api_url),
                        *("--server-pid", str(server.pid), "--server-log", str(server.log)),
                        *("--prefect-python", str(prefect_python), "--results", str(rows)),
                        *("--round", str(round_index)),
                    )
    if not options.no_engine:
        _engine_rows(session, options, prefect, prefect_python, rows, clients)
    session.run(
        "python", "-m", "tests.load.harness", "report", str(rows), "--markdown", options.markdown
    )
    session.log(f"rows (JSON lines, with per-endpoint counts and latencies): {rows}")


def _engine_rows(
    session: nox.Session,
    options: argparse.Namespace,
    prefect: str,
    prefect_python: Path,
    rows: Path,
    engines: list[str],
) -> None:
    """Issue 15's engine-against-engine rows: the same program (a flow of 2 tasks and 1
    log line) run by Prefect's engine (asyncio, in Prefect's virtualenv) and by ours (trio,
    asyncio), each row against a fresh server with its services (Prefect's engine needs its
    task-run recorder), rounds interleaved as above."""
    for round_index in range(options.rounds):
        for concurrency in [int(c) for c in options.engine_concurrency.split(",") if c]:
            for engine in engines:
                with _prefect_server(session, prefect, csrf=False, services=True) as server:
                    session.run(
                        "python",
                        "-m",
                        "tests.load.harness",
                        "engine-row",
                        *("--client", engine, "--runs", str(options.engine_runs)),
                        *("--concurrency", str(concurrency), "--api-url", server.api_url),
                        *("--server-pid", str(server.pid)),
                        *("--prefect-python", str(prefect_python), "--results", str(rows)),
                        *("--round", str(round_index)),
                    )


@nox.session
def faults(session: nox.Session) -> None:
    """The faults workload of issue 9 (tests/faults/run.py): 500 flow runs through 30%
    injected faults on trio and asyncio, against the embedded server in-process and a real
    `prefect server start --no-services` (SQLite, 127.0.0.1, stopped by its PID) reached
    through the loopback TCP fault proxy; prints one markdown table.

    Options after ``--`` go to the script: ``--runs 500``, ``--concurrency 16``,
    ``--rate 0.3``, ``--servers embedded,prefect``, ``--backends trio,asyncio``,
    ``--check`` (exit 1 when a target is missed), ``--markdown FILE``. CI runs
    ``nox -s faults -- --runs 40 --check``.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--servers", default="embedded,prefect")
    known, _ = parser.parse_known_args(session.posargs)
    session.install(".", *nox.project.dependency_groups(PYPROJECT, "test"))
    command = ["python", "-m", "tests.faults.run", *session.posargs]
    if "prefect" not in known.servers.split(","):
        session.run(*command)
        return
    prefect_python = _prefect_virtualenv(session)
    prefect = str(prefect_python.parent / "prefect")
    with _prefect_server(session, prefect, csrf=False) as server:
        session.run(*command, "--prefect-api-url", server.api_url)


def _prefect_virtualenv(session: nox.Session, requirements: list[str] | None = None) -> Path:
    """A virtualenv beside the session's with only Prefect (for its server and its client
    driver), or with ``requirements`` instead; returns its python."""
    requirements = requirements or PREFECT_SERVER_REQUIREMENTS
    location = Path(session.virtualenv.location).parent / f"{session.name}-prefect"
    python = location / "bin" / "python"
    if session.venv_backend == "uv":
        base = str(Path(session.bin) / "python")
        session.run("uv", "venv", "--clear", "--quiet", "--python", base, str(location))
        session.run("uv", "pip", "install", "--quiet", "--python", str(python), *requirements)
    else:
        session.run("python", "-m", "venv", "--clear", str(location))
        session.run(
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            *requirements,
            external=True,
        )
    return python


# --- issue 16: Prefect's scaled topology ------------------------------------------------

#: Prefect's server with Redis for messaging, caches, ordering and leases: prefect-redis
#: 0.3.0 needs prefect>=3.7.4 and redis>=8, which Prefect 3.9.1 satisfies (asyncpg, the
#: PostgreSQL driver, comes with Prefect).
TOPOLOGY_REQUIREMENTS = [*PREFECT_SERVER_REQUIREMENTS, "prefect-redis==0.3.0"]
#: The CI-sized run: lifecycle, then the replica-kill drill with 100 flow runs per client.
#: CI's share (a few minutes): the lifecycle tests and the replica-kill drill with our
#: client only (Prefect's client runs it in the full session).
TOPOLOGY_CI = ["--drills", "replica-kill", "--runs", "60", "--clients", "trio,asyncio"]
#: The full run only: the load table's rows on the topology and its own limit (raw client
#: at C=16 and 64, engines at C=20; ``-- --engine-concurrency 20,200`` adds C=200).
TOPOLOGY_LOAD = ["--load"]


def _topology_system_packages(session: nox.Session) -> None:
    """apt-get install what the topology needs and this machine lacks (as root only)."""
    found = {
        "postgresql": any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        or shutil.which("initdb") is not None,
        "redis-server": shutil.which("redis-server") is not None,
        "nginx": shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists(),
    }
    missing = [package for package, present in found.items() if not present]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        session.error(f"the topology needs {', '.join(missing)}: install them (apt: {missing})")
    session.run("apt-get", "update", external=True)
    session.run("apt-get", "install", "-y", "--no-install-recommends", *missing, external=True)


@nox.session
def topology(session: nox.Session) -> None:
    """Prefect's scaled topology (issue 16): its own PostgreSQL cluster, Redis, two
    `prefect server start --no-services` replicas, `prefect server services start` and
    nginx round-robin, all on 127.0.0.1 under a temporary folder and always torn down
    (tests/topology). On it: the interop lifecycle tests through the proxy, then the
    failure drills (tests/topology/drill.py: a replica SIGKILLed, PostgreSQL restarted,
    Redis restarted, a proxy cutting idle connections), each with ours on trio and asyncio
    and Prefect's client, 200 flow runs at C=32, the failure once 15% of them were created;
    the table is printed. Then the refuse-upgrade drill run by engines
    (tests/topology/engine_drill.py) and the load table's rows with the topology's own
    limit (tests/topology/rows.py).

    ``nox -s topology -- --ci`` is the CI size (the replica-kill drill only, 100 flow runs
    per row); other options after ``--`` go to ``python -m tests.topology run``
    (``--drills replica-kill,idle-cut``, ``--runs``, ``--clients trio,asyncio``,
    ``--fail-at 0.15``, ``--keep``, ``--markdown FILE``).
    """
    _topology_system_packages(session)
    session.install(".", *nox.project.dependency_groups(PYPROJECT, "test"))
    prefect_python = _prefect_virtualenv(session, TOPOLOGY_REQUIREMENTS)
    options = [arg for arg in session.posargs if arg != "--ci"]
    full = ["--drills", "all", *TOPOLOGY_LOAD]
    preset = TOPOLOGY_CI if len(options) < len(session.posargs) else full
    session.run(
        "python",
        *("-m", "tests.topology", "run", "--lifecycle", *preset),
        *("--prefect", str(prefect_python.parent / "prefect")),
        *("--prefect-python", str(prefect_python)),
        *options,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrefectServer(NamedTuple):
    api_url: str
    pid: int
    log: Path


class ServerConfig(NamedTuple):
    """One `prefect server start`: CSRF protection, its services, extra environment."""

    csrf: bool
    services: bool = False
    extra_env: dict[str, str] | None = None


@contextlib.contextmanager
def _prefect_server(
    session: nox.Session,
    prefect: str,
    *,
    csrf: bool,
    extra_env: dict[str, str] | None = None,
    services: bool = False,
) -> Iterator[PrefectServer]:
    """Start `prefect server start` on 127.0.0.1, wait for /api/health, stop it by PID.

    Without `services` it runs ``--no-services``; with them it also records task runs
    from events, as Prefect's own engine needs."""
    config = ServerConfig(csrf=csrf, services=services, extra_env=extra_env)
    with _prefect_servers(session, prefect, config) as (server,):
        yield server


@contextlib.contextmanager
def _prefect_servers(
    session: nox.Session, prefect: str, *configs: ServerConfig
) -> Iterator[tuple[PrefectServer, ...]]:
    """Several Prefect servers started at once, so that their start-ups (tens of seconds
    of imports and migrations each) overlap; yields them once each answers /api/health,
    and stops them all by PID whatever happens."""
    with contextlib.ExitStack() as stack:
        started = [stack.enter_context(_launched(session, prefect, c)) for c in configs]
        yield tuple(_healthy(session, *launched) for launched in started)


@contextlib.contextmanager
def _launched(
    session: nox.Session, prefect: str, config: ServerConfig
) -> Iterator[tuple[subprocess.Popen[bytes], PrefectServer, float]]:
    """`prefect server start` launched (not yet answering): the process, the server, and
    when it started; terminated (killed after 20 s) and its PREFECT_HOME removed on exit."""
    home = Path(tempfile.mkdtemp(prefix="prefect-interop-"))
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED": "true" if config.csrf else "false",
        **(config.extra_env or {}),
    }
    log_path = home / "server.log"
    command = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    if not config.services:
        command.append("--no-services")
    session.log(f"starting {' '.join(command)} (CSRF {'on' if config.csrf else 'off'})")
    started = time.monotonic()
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield server, PrefectServer(api_url, server.pid, log_path), started
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(home, ignore_errors=True)


def _healthy(
    session: nox.Session,
    process: subprocess.Popen[bytes],
    server: PrefectServer,
    started: float,
) -> PrefectServer:
    """``server`` once it answers /api/health: 180 s at most from when the wait for it
    began (servers started together share the machine, so each gets a wait of its own)."""
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            session.error(
                f"the Prefect server for {server.api_url} exited:\n{server.log.read_text()[-4000:]}"
            )
        try:
            with urllib.request.urlopen(f"{server.api_url}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            session.error(
                f"no {server.api_url}/health after 180 s:\n{server.log.read_text()[-4000:]}"
            )
        time.sleep(0.5)
    session.log(f"Prefect server ready at {server.api_url} in {time.monotonic() - started:.1f}s")
    return server
