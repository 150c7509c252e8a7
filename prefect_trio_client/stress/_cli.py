"""The command line: parse the options, run one scenario, print its report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

import anyio

from prefect_trio_client.stress._lifespan import LifespanOptions, run_lifespan
from prefect_trio_client.stress._options import INJECTIONS, Options
from prefect_trio_client.stress._report import Output, Report, choose_output

__all__ = ["main", "parse_args", "run"]

SCENARIOS = ("runs", "contexts", "lifespan")

_DESCRIPTION = """\
Stress prefect-trio-client with concurrent, nested client contexts and check that
nothing breaks. Scenarios: "runs" (default) nests get_client() contexts, async and
sync, doing real flow-run requests under random cancellations and optional injected
faults, then reads every run back; "contexts" measures what nested contexts cost;
"lifespan" drives the lifespan service alone. Exit status 1 on any violation.
"""


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability from 0 to 1, got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m prefect_trio_client.stress", description=_DESCRIPTION
    )
    add = parser.add_argument
    add("--scenario", choices=SCENARIOS, default=defaults.scenario)
    add("--backend", choices=("trio", "asyncio"), default=defaults.backend)
    add("--tasks", type=_positive, default=defaults.tasks, help="concurrent tasks")
    add("--depth", type=_positive, default=defaults.depth, help="contexts nested per task")
    add("--seed", type=int, default=defaults.seed, help="seeds the whole schedule")
    add(
        "--api-url",
        default=None,
        help="a running server's API (default: the embedded server in-process, in a "
        "temporary PREFECT_HOME made and removed by the run)",
    )
    add(
        "--faults",
        type=_probability,
        default=defaults.faults,
        metavar="RATE",
        help="inject a fault into each request with this probability (runs); each "
        "client then has a fault-injecting transport of its own",
    )
    add("--cancel-rate", type=_probability, default=defaults.cancel_rate, help="tasks cancelled")
    add(
        "--cancel-within",
        type=_not_negative,
        default=defaults.cancel_within,
        metavar="SECONDS",
        help="a cancelled task's deadline falls in U(0, this) after it arrives",
    )
    add(
        "--ramp",
        type=_not_negative,
        default=defaults.ramp,
        metavar="SECONDS",
        help="tasks arrive over this long (runs)",
    )
    add(
        "--sync-threads",
        type=int,
        default=defaults.sync_threads,
        metavar="N",
        help="worker threads for sync clients; 0 for none (runs)",
    )
    add(
        "--sync-rate",
        type=_probability,
        default=defaults.sync_rate,
        help="tasks whose innermost context is a sync client in a worker thread (runs)",
    )
    add(
        "--output",
        choices=("auto", "rich", "plain"),
        default=defaults.output,
        help="auto: rich on a terminal when it is installed (the [stress] extra)",
    )
    add("--inject", choices=INJECTIONS, default=None, help=argparse.SUPPRESS)

    extra = LifespanOptions()
    group = parser.add_argument_group("the lifespan scenario")
    group.add_argument("--service", choices=("default", "explicit"), default=extra.service)
    group.add_argument("--hold-max-ms", type=_not_negative, default=extra.hold_max_ms)
    group.add_argument("--waves", type=int, default=extra.waves, help="0: one wave per 200 tasks")
    group.add_argument("--wave-gap-ms", type=_not_negative, default=extra.wave_gap_ms)
    group.add_argument("--jitter-ms", type=_not_negative, default=extra.jitter_ms)
    group.add_argument("--straggler-rate", type=_probability, default=extra.straggler_rate)
    group.add_argument("--startup-ms", type=_not_negative, default=extra.startup_ms)
    group.add_argument("--shutdown-ms", type=_not_negative, default=extra.shutdown_ms)
    group.add_argument("--fail-rate", type=_probability, default=extra.fail_rate)
    group.add_argument("--startup-fail-rate", type=_probability, default=extra.startup_fail_rate)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> tuple[Options, LifespanOptions]:
    """The options of one run (argparse exits with status 2 on a bad one)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.sync_threads < 0:
        parser.error("--sync-threads must be 0 or more")
    if args.api_url is not None and not args.api_url.startswith(("http://", "https://")):
        parser.error(f"--api-url must be an http(s) URL, got {args.api_url!r}")
    if args.scenario == "lifespan" and args.api_url is not None:
        parser.error("the lifespan scenario runs in-process only: drop --api-url")
    options = Options(
        scenario=args.scenario,
        backend=args.backend,
        tasks=args.tasks,
        depth=args.depth,
        seed=args.seed,
        api_url=args.api_url,
        faults=args.faults,
        cancel_rate=args.cancel_rate,
        cancel_within=args.cancel_within,
        ramp=args.ramp,
        sync_threads=args.sync_threads,
        sync_rate=args.sync_rate,
        output=args.output,
        inject=args.inject,
    )
    extra = LifespanOptions(
        service=args.service,
        hold_max_ms=args.hold_max_ms,
        waves=args.waves,
        wave_gap_ms=args.wave_gap_ms,
        jitter_ms=args.jitter_ms,
        straggler_rate=args.straggler_rate,
        startup_ms=args.startup_ms,
        shutdown_ms=args.shutdown_ms,
        fail_rate=args.fail_rate,
        startup_fail_rate=args.startup_fail_rate,
    )
    return options, extra


def run(options: Options, extra: LifespanOptions, output: Output) -> Report:
    """Run the scenario `options` names on its backend and return its report."""
    if options.scenario == "lifespan":
        return anyio.run(run_lifespan, options, extra, output, backend=options.backend)
    # Imported here: the client scenarios pull in the client and the embedded server.
    from prefect_trio_client.stress._contexts import run_contexts  # noqa: PLC0415
    from prefect_trio_client.stress._runs import run_runs  # noqa: PLC0415
    from prefect_trio_client.stress._target import open_target  # noqa: PLC0415

    scenario = run_runs if options.scenario == "runs" else run_contexts
    with open_target(options.api_url) as target:
        return anyio.run(scenario, options, target, output, backend=options.backend)


def main(argv: Sequence[str] | None = None, stream: TextIO | None = None) -> int:
    """Run the tool: 0 when every invariant holds, 1 on any violation."""
    options, extra = parse_args(argv)
    out = stream if stream is not None else sys.stdout
    output = Output(choose_output(options.output, out), out)
    report = run(options, extra, output)
    output.report(report)
    return 0 if report.passed else 1
