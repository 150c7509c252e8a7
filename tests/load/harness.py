"""Run one measurement row of the load workload, or print the table of all rows.

`nox -s load` starts a fresh Prefect server for each row and calls::

    python -m tests.load.harness row --client trio --runs 200 --concurrency 16 \\
        --api-url http://127.0.0.1:PORT/api --server-pid PID --results rows.jsonl
    python -m tests.load.harness report rows.jsonl --markdown LOAD.md

A row runs the workload with one client (``trio`` and ``asyncio``: ours, in this process;
``prefect``: Prefect's own client, `prefect_driver.py` in ``--prefect-python``'s
virtualenv), reads the stored runs back with plain httpx, and appends one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import anyio

from tests.load.workload import CALLS_PER_RUN, outcome, parse_parts, read_back

HERE = Path(__file__).resolve().parent
CLIENTS = ("prefect", "trio", "asyncio")


def _client_env(api_url: str, home: str) -> dict[str, str]:
    # Nor PYTHONPATH: a checkout on it (``PYTHONPATH=$PWD``) would put our package beside
    # Prefect's driver, which refuses to run then.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "PYTHONPATH"
    }
    env["PREFECT_API_URL"] = api_url
    env["PREFECT_HOME"] = home
    return env


def _drive_ours(args: argparse.Namespace, tag: str, home: str) -> dict[str, Any]:
    # Defaults, except our own client settings a user may set to try them out
    # (``PREFECT_CLIENT_BACKPRESSURE_MAX=2 nox -s load``).
    for name in [name for name in os.environ if name.startswith("PREFECT_")]:
        if not name.startswith("PREFECT_CLIENT_"):
            del os.environ[name]
    os.environ.update({"PREFECT_API_URL": args.api_url, "PREFECT_HOME": home})
    from prefect_trio_client import __version__
    from tests.load.ours import drive

    async def main() -> dict[str, Any]:
        return await drive(
            runs=args.runs,
            concurrency=args.concurrency,
            tag=tag,
            server_pid=args.server_pid,
            parts=parse_parts(args.part),
        )

    result = anyio.run(main, backend=args.client)
    result["client_version"] = f"prefect-trio-client {__version__} ({args.client})"
    return result


def _drive_prefect(args: argparse.Namespace, tag: str, home: str) -> dict[str, Any]:
    if args.prefect_python is None:
        sys.exit("--prefect-python is needed for the prefect client")
    out = Path(home) / "row.json"
    command = [
        args.prefect_python,
        str(HERE / "prefect_driver.py"),
        *("--runs", str(args.runs), "--concurrency", str(args.concurrency), "--tag", tag),
        *("--out", str(out)),
    ]
    if args.server_pid:
        command += ["--server-pid", str(args.server_pid)]
    command += [f"--part={part}" for part in args.part]
    subprocess.run(command, check=True, env=_client_env(args.api_url, home), cwd=home)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _server_errors(log: Path | None, offset: int) -> dict[str, int]:
    """The retryable exceptions the server logged during the row, by kind."""
    if log is None or not log.exists():
        return {}
    with log.open("rb") as file:
        file.seek(offset)
        text = file.read().decode("utf-8", "replace")
    kinds: Counter[str] = Counter()
    for match in re.finditer(r"^(\w+(?:\.\w+)*(?:Error|Exception)): (.*)$", text, re.MULTILINE):
        kinds[f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(2)[:80]}"] += 1
    return dict(kinds.most_common(8))


def row(args: argparse.Namespace) -> None:
    tag = f"{args.client}-c{args.concurrency}-{uuid.uuid4().hex[:8]}"
    log_offset = args.server_log.stat().st_size if args.server_log else 0
    with tempfile.TemporaryDirectory(prefix="prefect-load-client-") as home:
        if args.client == "prefect":
            result = _drive_prefect(args, tag, home)
        else:
            result = _drive_ours(args, tag, home)
    stored = anyio.run(read_back, args.api_url, tag, args.runs)
    merged = {
        "client": args.client,
        "round": args.round,
        **result,
        "read_back": {k: v for k, v in stored.items() if k != "complete_names"},
        **outcome(result, stored),
        "server_errors": _server_errors(args.server_log, log_offset),
        "source": _source(),
    }
    with args.results.open("a", encoding="utf-8") as file:
        file.write(json.dumps(merged) + "\n")
    print(
        f"{args.client:8} c={args.concurrency:<3} {merged['wall_s']:7.1f} s  "
        f"{(args.runs - merged['lost']) / merged['wall_s']:6.2f} done/s  lost {merged['lost']}  "
        f"stored {merged['stored']}  dup {merged['duplicates']}  "
        f"503s {merged['status_503']}  retries {merged['retries']}"
    )


# --- the engine-against-engine rows (issue 15) -------------------------------------------

ENGINES = ("prefect", "trio", "asyncio")
"""Prefect's engine (asyncio, in its own virtualenv), ours on trio and on asyncio."""


def engine_row(args: argparse.Namespace) -> None:
    """One engine at one concurrency: run the program, then check what it stored."""
    from tests.load.engine_records import check_records

    tag = f"{args.client}-c{args.concurrency}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="prefect-engine-load-") as home:
        out = Path(home) / "row.json"
        if args.client == "prefect":
            if args.prefect_python is None:
                sys.exit("--prefect-python is needed for Prefect's engine")
            command = [args.prefect_python, str(HERE / "engine_driver.py"), "--engine", "prefect"]
            env = _client_env(args.api_url, home)
        else:
            command = [sys.executable, str(HERE / "engine_driver.py"), "--engine", "ours"]
            command += ["--backend", args.client]
            env = _client_env(args.api_url, home)
            # our client settings a user may set to try them out, as in the raw rows
            env.update({k: v for k, v in os.environ.items() if k.startswith("PREFECT_CLIENT_")})
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(HERE.parent.parent), env.get("PYTHONPATH")])
            )
        command += ["--runs", str(args.runs), "--concurrency", str(args.concurrency)]
        command += ["--tag", tag, "--out", str(out)]
        if args.server_pid:
            command += ["--server-pid", str(args.server_pid)]
        command += [f"--part={part}" for part in args.part]
        subprocess.run(command, check=True, env=env, cwd=home)
        result: dict[str, Any] = json.loads(out.read_text())
    records = anyio.run(check_records, args.api_url, tag, args.runs)
    merged = {
        "kind": "engine",
        "client": args.client,
        "round": args.round,
        **result,
        **records,
        "source": _source(),
    }
    with args.results.open("a", encoding="utf-8") as file:
        file.write(json.dumps(merged) + "\n")
    print(
        f"engine {args.client:8} c={args.concurrency:<3} {result['wall_s']:7.1f} s  "
        f"{_engine_rate(merged):6.2f} flow runs/s  {_engine_requests(merged):5.2f} req/run  "
        f"lost {records['lost']}  dup {records['duplicated']}  (records read after "
        f"{records['waited_s']} s)"
    )


def _engine_rate(row: dict[str, Any]) -> float:
    """Flow runs per second: the runs that returned over the wall time."""
    return float(row["runs"] - row["failed"]) / float(row["wall_s"])


def _engine_requests(row: dict[str, Any]) -> float:
    """HTTP requests per flow run, the program's whole life after its warm-up included."""
    return float(sum(row["requests"].values())) / float(row["runs"])


ENGINE_COLUMNS = [
    ("engine", "client"),
    ("C", "concurrency"),
    ("flow runs/s", "rate"),
    ("req/run", "req_per_run"),
    ("lost", "lost"),
    ("dup", "duplicated"),
    ("records", "records"),
    ("ours/Prefect", "ratio"),
]


def engine_table(rows: list[dict[str, Any]]) -> list[str]:
    """The engine table: per engine and concurrency, the median round's rate with the
    range of all rounds, requests per flow run, lost and duplicated records summed over
    the rounds, and ours over Prefect's as the median of same-round ratios."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["client"], r["concurrency"]), []).append(r)
    theirs = {
        (r.get("round", 0), r["concurrency"]): _engine_rate(r)
        for r in rows
        if r["client"] == "prefect"
    }
    order = {name: i for i, name in enumerate(ENGINES)}
    lines = [
        "| " + " | ".join(title for title, _ in ENGINE_COLUMNS) + " |",
        "|" + "|".join("---" if i == 0 else "--:" for i in range(len(ENGINE_COLUMNS))) + "|",
    ]
    for (client, concurrency), group in sorted(
        groups.items(), key=lambda item: (item[0][1], order.get(item[0][0], 9))
    ):
        rates = sorted(_engine_rate(r) for r in group)
        median = statistics.median(rates)
        rate = f"{median:.2f}" + (f" ({rates[0]:.2f}-{rates[-1]:.2f})" if len(rates) > 1 else "")
        ratios = [
            _engine_rate(r) / theirs[key]
            for r in group
            if client != "prefect" and theirs.get(key := (r.get("round", 0), concurrency))
        ]
        problems = Counter[str]()
        for r in group:
            problems.update(r["problems"])
        cells = {
            "client": client,
            "concurrency": str(concurrency),
            "rate": rate,
            "req_per_run": f"{statistics.median(_engine_requests(r) for r in group):.2f}",
            "lost": str(sum(r["lost"] for r in group)),
            "duplicated": str(sum(r["duplicated"] for r in group)),
            "records": "all as expected"
            if not problems
            else "; ".join(f"{kind}: {n}" for kind, n in sorted(problems.items())),
            "ratio": f"{statistics.median(ratios):.2f}" if ratios else "",
        }
        lines.append("| " + " | ".join(cells[key] for _, key in ENGINE_COLUMNS) + " |")
    return lines


# --- the table ------------------------------------------------------------------------


def _server_limits(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The least server CPU per completed flow run that any row of the table needed.

    Retries and 503s only add to it; the server is one Python process, bounded by one
    core, so N runs need at least N x cpu_per_run seconds at the machine's best speed.
    """
    per_run = [r["server_cpu_s"] / _done(r) for r in rows if r.get("server_cpu_s") and _done(r)]
    return {"cpu_per_run": min(per_run) if per_run else 0.0}


def _done(row: dict[str, Any]) -> int:
    """The row's flow runs that were not lost."""
    done: int = row["runs"] - row["lost"]
    return done


def _disturbed(row: dict[str, Any]) -> bool:
    """Other work used more than half a core of the machine during the row."""
    return bool(row.get("other_cpu_s", 0.0) > DISTURBED * row["wall_s"])


def _limit(row: dict[str, Any]) -> float:
    """The server's own time for the work the row completed, measured in the row itself.

    The server's CPU time during the row, less the share spent on requests that were
    not calls (retries after 503s: a refusal costs the server about as much as the work
    it refused), because a request's cost is not a constant of the workload here: the
    machine's speed drifts (rows of the same work at concurrency 1 needed 135-174 ms of
    server CPU per flow run within one table), so a cost measured in another row is not
    this row's. At concurrency 1 it is also the time the client waited for answers (one
    request in flight: the server's answer time is the floor).
    """
    calls = sum(row["calls"].values())
    requests = row["requests_total"] or calls
    bound = float(row.get("server_cpu_s") or 0.0) * (calls / requests if requests else 1.0)
    if row["concurrency"] == 1 and row["latency_all_ms"].get("n"):
        waited = row["latency_all_ms"]["mean"] / 1000 * requests
        bound = max(bound, waited)
    return bound


def _least_limit(row: dict[str, Any], limits: dict[str, float]) -> float:
    """The row's runs at the least server CPU per flow run any row of the table needed."""
    return _done(row) * limits["cpu_per_run"]


#: Cores of other work above which a row is marked as disturbed.
DISTURBED = 0.5

COLUMNS = [
    ("client", "client"),
    ("C", "concurrency"),
    ("wall s", "wall"),
    ("done/s", "rate"),
    ("lost", "lost"),
    ("stored", "stored"),
    ("dup", "duplicates"),
    ("503s", "status_503"),
    ("429s", "status_429"),
    ("retries", "retries"),
    ("req/run", "req_per_run"),
    ("server CPU s", "server_cpu"),
    ("server busy", "server_busy"),
    ("client CPU s", "client_cpu"),
    ("other CPU s", "other_cpu"),
    ("server limit s", "limit"),
    ("wall/limit", "wall_limit"),
    ("wall/least", "wall_least"),
    ("ours/theirs", "ratio"),
]


def _rate(row: dict[str, Any]) -> float:
    return _done(row) / float(row["wall_s"])


def _ratios(rows: list[dict[str, Any]]) -> dict[tuple[str, int], float]:
    """Ours over theirs per client and concurrency: the median of the per-round ratios.

    Each ratio compares rows of the same round, so a quiet or a busy spell of the machine
    weighs on both clients alike.
    """
    theirs = {
        (r.get("round", 0), r["concurrency"]): _rate(r) for r in rows if r["client"] == "prefect"
    }
    per_round: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        key = (r.get("round", 0), r["concurrency"])
        if r["client"] != "prefect" and key in theirs and theirs[key]:
            per_round.setdefault((r["client"], r["concurrency"]), []).append(_rate(r) / theirs[key])
    return {key: statistics.median(values) for key, values in per_round.items()}


def _median_rows(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The rows of each client and concurrency, the round with the median wall time first.

    A table row shows that round's own numbers (so its columns belong together), with the
    other rounds' wall times as a range and their losses and duplicates summed.
    """
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["client"], r["concurrency"]), []).append(r)
    ordered = []
    for group in groups.values():
        walls = sorted(group, key=lambda r: float(r["wall_s"]))
        median = walls[(len(walls) - 1) // 2]  # the lower median: a measured round
        ordered.append([median, *(r for r in walls if r is not median)])
    return ordered


#: The columns of one server process's CPU, left out when no row measured it (a topology
#: of several processes measures its own: tests/topology/rows.py).
SERVER_COLUMNS = {"server_cpu", "server_busy", "limit", "wall_limit", "wall_least"}


def _measured_server(rows: list[dict[str, Any]]) -> bool:
    return any(r.get("server_cpu_s") is not None for r in rows)


def table(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, float]]:
    limits = _server_limits(rows)
    ratios = _ratios(rows)
    order = {name: i for i, name in enumerate(CLIENTS)}
    groups = sorted(
        _median_rows(rows), key=lambda g: (g[0]["concurrency"], order.get(g[0]["client"], 9))
    )
    shown = [c for c in COLUMNS if _measured_server(rows) or c[1] not in SERVER_COLUMNS]
    lines = [
        "| " + " | ".join(title for title, _ in shown) + " |",
        "|" + "|".join("---" if i == 0 else "--:" for i in range(len(shown))) + "|",
    ]
    for group in groups:
        r = group[0]
        rate = _rate(r)
        limit = _limit(r)
        least = _least_limit(r, limits)
        server_cpu = r.get("server_cpu_s")
        ratio = ratios.get((r["client"], r["concurrency"]))
        wall = f"{r['wall_s']:.1f}" + ("*" if _disturbed(r) else "")
        if len(group) > 1:
            walls = [float(g["wall_s"]) for g in group]
            wall += f" ({min(walls):.1f}-{max(walls):.1f})"
        cells = {
            "client": r["client"],
            "concurrency": str(r["concurrency"]),
            "wall": wall,
            "rate": f"{rate:.2f}",
            "lost": str(sum(g["lost"] for g in group)),
            "stored": str(r["stored"]),
            "duplicates": str(sum(g["duplicates"] for g in group)),
            "status_503": str(r["status_503"]),
            "status_429": str(r["status_429"]),
            "retries": str(r["retries"]),
            "req_per_run": f"{r['requests_total'] / r['runs']:.2f}",
            "server_cpu": f"{server_cpu:.1f}" if server_cpu is not None else "",
            "server_busy": f"{server_cpu / r['wall_s']:.0%}" if server_cpu is not None else "",
            "client_cpu": f"{r['client_cpu_s']:.1f}",
            "other_cpu": f"{r['other_cpu_s']:.1f}" if "other_cpu_s" in r else "",
            "limit": f"{limit:.1f}" if limit else "",
            "wall_limit": f"{r['wall_s'] / limit:.2f}" if limit else "",
            "wall_least": f"{r['wall_s'] / least:.2f}" if least else "",
            "ratio": f"{ratio:.2f}" if ratio is not None else "",
        }
        lines.append("| " + " | ".join(cells[key] for _, key in shown) + " |")
    return lines, limits


def _details(rows: list[dict[str, Any]]) -> list[str]:
    """Where runs were lost and where the 503s landed, per row that had any."""
    lines: list[str] = []
    multiple_rounds = len({r.get("round", 0) for r in rows}) > 1
    for r in rows:
        overloads = {
            route: sum(n for status, n in statuses.items() if int(status) in (429, 503))
            for route, statuses in r["statuses"].items()
        }
        overloads = {route: n for route, n in overloads.items() if n}
        if not (r["lost"] or overloads or r["duplicates"] or r.get("not_accepted")):
            continue
        rounds = f" round {r.get('round', 0) + 1}" if multiple_rounds else ""
        lines.append(f"- **{r['client']} c={r['concurrency']}**{rounds}:")
        if overloads:
            by_route = ", ".join(f"`{k}` {v}" for k, v in sorted(overloads.items()))
            seconds = r.get("overload_by_second", {})
            peak = max(seconds.values()) if seconds else 0
            fast = [
                f"`{route}` p50 {q['p50']} ms"
                for route, q in r["latency_ms"].items()
                if "->" in route and q.get("n")
            ]
            lines.append(
                f"  503/429 by endpoint: {by_route}; in {len(seconds)} distinct seconds of "
                f"{r['wall_s']:.0f}, at most {peak} in one second"
                + (f"; answered in: {', '.join(sorted(fast))}" if fast else "")
            )
        if r["failures"]:
            steps = Counter(f"{f['step']} ({f['error']})" for f in r["failures"])
            given_up = ", ".join(f"{k}: {v}" for k, v in steps.most_common())
            times = sorted(f["at_s"] for f in r["failures"])
            lines.append(
                f"  runs given up, by the step that failed: {given_up}; the first "
                f"{times[0]:.1f} s into the row, the last at {times[-1]:.1f} s"
            )
        if r["read_back"]["incomplete"]:
            lines.append(f"  stored but incomplete: {r['read_back']['incomplete']}")
        if r["duplicates"]:
            lines.append(f"  duplicated flow runs: {r['duplicates']}")
        if r.get("not_accepted"):
            lines.append(f"  transitions not accepted: {r['not_accepted']}")
        if r.get("server_errors"):
            lines.append(f"  server log: {r['server_errors']}")
    return lines


def _source() -> str:
    """Which client source was measured: the commit, and whether the package differed."""
    root = HERE.parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "prefect_trio_client"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "the package as found (not a git checkout)"
    return f"commit {commit}" + (" with uncommitted changes to the package" if changed else "")


class Setting(NamedTuple):
    """Where the rows were measured, for the report's first paragraph."""

    #: The command that measured them.
    by: str = "`nox -s load`"
    #: The server of a raw-client row.
    server: str = "a fresh `prefect server start --no-services` (SQLite) per row"
    #: The server of an engine row.
    engine_server: str = "a fresh `prefect server start` with its services (SQLite) per row"


#: `nox -s load`'s own setting.
LOAD_SETTING = Setting()


def render(everything: list[dict[str, Any]], setting: Setting = LOAD_SETTING) -> str:
    """The report of rows (raw-client and engine ones) as markdown."""
    rows = [r for r in everything if r.get("kind") != "engine"]
    engines = [r for r in everything if r.get("kind") == "engine"]
    return (_raw_report(rows, setting) if rows else "") + (
        _engine_report(engines, setting) if engines else ""
    )


def report(args: argparse.Namespace) -> None:
    everything = [json.loads(line) for line in args.results.read_text().splitlines() if line]
    if not everything:
        sys.exit(f"no rows in {args.results}")
    text = render(everything)
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


def _engine_report(rows: list[dict[str, Any]], setting: Setting) -> str:
    versions = sorted({r["client_version"] for r in rows})
    runs = sorted({r["runs"] for r in rows})
    rounds = len({r.get("round", 0) for r in rows})
    sources = "; ".join(sorted({r["source"] for r in rows if r["client"] != "prefect"})) or "?"
    lines = [
        "# Load: our engine against Prefect's, on a real Prefect server with its services",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by {setting.by} on "
        f"{os.cpu_count()} CPUs ({platform.python_implementation()} "
        f"{platform.python_version()}): {rounds} round{'s' if rounds > 1 else ''}; "
        f"{', '.join(map(str, runs))} flow runs per row of one program (`tests/load/"
        "engine_driver.py`: a flow of 2 tasks and 1 log line), C flow runs in flight, "
        f"after 2 warm-up runs; {setting.engine_server}. Engines: {'; '.join(versions)}; "
        f"our source: {sources}.",
        "",
        *engine_table(rows),
        "",
        "- flow runs/s: flow runs that returned per second of wall time; the median of "
        "the rounds, with their range.",
        "- req/run: HTTP requests the program sent (counted in its process: httpx's "
        "transport, which our websockets use too, and the websockets Prefect's events "
        "client opens), after the warm-up until it exited, per timed flow run; the median "
        "of the rounds.",
        "- lost / dup / records: each flow run must be stored once, Pending, Running, "
        "Completed, with 2 task runs each Pending, Running, Completed, and its log line; "
        "summed over the rounds. The records are read until complete or 120 s have "
        "passed (Prefect's task-run recorder writes task runs from events after the "
        "flows returned).",
        "- ours/Prefect: flow runs/s of ours over Prefect's engine at the same C in the "
        "same round; the median over the rounds.",
        "",
    ]
    return "\n".join(lines)


def _raw_report(rows: list[dict[str, Any]], setting: Setting) -> str:
    lines, limits = table(rows)
    versions = sorted({r.get("client_version", r["client"]) for r in rows})
    runs = sorted({r["runs"] for r in rows})
    rounds = len({r.get("round", 0) for r in rows})
    sources = "; ".join(sorted({r["source"] for r in rows if r["client"] != "prefect"})) or "?"
    header = [
        "# Load: our client against Prefect's own, on a real Prefect server",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by {setting.by} on "
        f"{os.cpu_count()} CPUs ({platform.python_implementation()} "
        f"{platform.python_version()}): {rounds} round{'s' if rounds > 1 else ''}, each of "
        f"every client at every concurrency in turn; {', '.join(map(str, runs))} flow runs "
        "per row, each "
        f"{CALLS_PER_RUN} calls (create_flow_run with an idempotency key, Running, 2 task "
        "runs each created, Running, Completed, one create_logs of 3 lines, Completed), "
        f"C flow runs in flight, one client shared by all workers; {setting.server}. Clients: "
        f"{'; '.join(versions)}; our client's source: {sources}.",
        "",
        *lines,
        "",
        "- A row shows the round whose wall time is the median of its rounds (the lower "
        "one of an even count), with the range of all rounds after it; lost and dup are "
        "summed over all rounds.",
        "- done/s: flow runs completed (not lost) per second of wall time.",
        "- lost: the driver gave up on the run, or the read-back does not show it Completed "
        "with 2 Completed task runs and 3 log lines; dup: stored flow runs beyond the first "
        "of each idempotency key; retries: requests sent minus calls made.",
        *(_server_notes(limits) if _measured_server(rows) else _other_note()),
        "- ours/theirs: done/s of ours over done/s of Prefect's client at the same C in the "
        "same round; the median over the rounds.",
    ]
    details = _details(rows)
    if details:
        header += ["", "Where the overload answers landed and what was lost:", "", *details]
    return "\n".join(header) + "\n"


def _other_note() -> list[str]:
    return [
        "- other CPU s: what the rest of the machine used during the row (/proc/stat less "
        "the client and the server's parts): a row where it is large was disturbed (a * "
        f"after the wall time: more than {DISTURBED} of a core)."
    ]


def _server_notes(limits: dict[str, float]) -> list[str]:
    return [
        "- server CPU s: CPU time of the server process during the row (/proc); server "
        "busy: that over the wall time (the server is one Python process: about 100% is "
        "one core, and the client runs on the same machine); other CPU s: what the rest of "
        "the machine used meanwhile (/proc/stat less server and client): a row where it is "
        f"large was disturbed (a * after the wall time: more than {DISTURBED} of a core).",
        "- server limit s: the time the server itself needed for the work the row "
        "completed, measured in the same row: its CPU time less the share of requests "
        "that were retries (a 503 costs it about as much as the work it refused), and at "
        "C=1 at least the time the client waited for its answers (one request in flight). "
        "Measured per row because the machine's speed drifts: the same work needed "
        "different server CPU in different rows. wall/limit is how close the client came "
        "to keeping the server busy with useful work.",
        "- wall/least: wall time over the row's runs x "
        f"{limits['cpu_per_run'] * 1000:.1f} ms, the least server CPU per flow run any "
        "row of the table needed: a stricter bound, which also counts the machine's "
        "drift against the row.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("row", help="run one row and append it to --results")
    one.add_argument("--client", choices=CLIENTS, required=True)
    one.add_argument("--runs", type=int, default=200)
    one.add_argument("--concurrency", type=int, required=True)
    one.add_argument("--api-url", required=True)
    one.add_argument("--server-pid", type=int, default=None)
    one.add_argument("--server-log", type=Path, default=None)
    one.add_argument(
        "--part",
        action="append",
        default=[],
        metavar="NAME=PID",
        help="also measure this process's CPU (with its children), e.g. a topology's replica",
    )
    one.add_argument("--prefect-python", default=None)
    one.add_argument("--results", type=Path, required=True)
    one.add_argument("--round", type=int, default=0, help="which round of the table")
    engine = commands.add_parser("engine-row", help="run one engine row, append it to --results")
    for action in one._actions[1:]:  # the same options as a row (not -h)
        engine._add_action(action)
    out = commands.add_parser("report", help="print the table of the rows in RESULTS")
    out.add_argument("results", type=Path)
    out.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "row":
        row(args)
    elif args.command == "engine-row":
        engine_row(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
