"""The stress tool (`python -m prefect_trio_client.stress`) in small configurations.

Each test runs the tool's `main` as a user runs it, on trio and on asyncio, in real time
(the embedded server's database works in a worker thread), against the embedded server
in-process. Planted violations (the hidden ``--inject`` option) must be caught.
"""

from __future__ import annotations

import functools
import io
import re

import pytest

from prefect_trio_client.stress import _report, main
from prefect_trio_client.stress._schedule import fingerprint, make_schedule


@pytest.fixture(params=["trio", "asyncio"])
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def run_tool(*argv: str) -> tuple[int, str]:
    stream = io.StringIO()
    status = main([*argv, "--output", "plain"], stream=stream)
    return status, stream.getvalue()


def value_of(output: str, metric: str) -> str:
    match = re.search(rf"^{re.escape(metric)}\s+(.*)$", output, re.MULTILINE)
    assert match is not None, f"no {metric!r} row in:\n{output}"
    return match.group(1).strip()


SMALL_RUNS = ("--tasks", "12", "--depth", "2", "--ramp", "0.05")


def test_runs_scenario_passes_with_cancellations_and_sync_clients(backend: str) -> None:
    status, output = run_tool(
        *SMALL_RUNS,
        *("--backend", backend, "--seed", "3"),
        *("--cancel-rate", "0.5", "--cancel-within", "0.05", "--sync-rate", "0.5"),
    )
    assert status == 0, output
    assert value_of(output, "RESULT") == "PASS"
    assert "invariant: every created run stored exactly once" in output
    async_clients, sync_clients = value_of(output, "client contexts, async / sync").split(" / ")
    assert int(sync_clients) > 0
    assert int(async_clients) > 0
    # Timed requests: how many were in flight on average, and how long they took in all.
    assert float(value_of(output, "requests in flight, on average")) > 0
    assert float(value_of(output, "time in requests, summed (s)")) > 0
    assert int(value_of(output, "answers 503 / 429 (the server was busy)")) >= 0


def test_runs_scenario_passes_with_injected_faults(backend: str) -> None:
    status, output = run_tool(*SMALL_RUNS, "--backend", backend, "--faults", "0.2")
    assert status == 0, output
    assert int(value_of(output, "faults injected (rate 0.2)")) > 0


def test_contexts_scenario_passes(backend: str) -> None:
    status, output = run_tool("--scenario", "contexts", "--tasks", "20", "--backend", backend)
    assert status == 0, output
    assert value_of(output, "tasks x depth = contexts") == "20 x 3 = 60"
    assert value_of(output, "requests served") == "60"
    assert value_of(output, "shared connections opened") == "1"
    assert value_of(output, "invariant: every pool closed").startswith("PASS")


def test_lifespan_scenario_passes(backend: str) -> None:
    status, output = run_tool("--scenario", "lifespan", "--tasks", "200", "--backend", backend)
    assert status == 0, output
    assert value_of(output, "RESULT") == "PASS"


@pytest.mark.parametrize(
    ("planted", "caught"),
    [
        ("leak", ["every client closed", "no leaked connections", "no lifespan lease left"]),
        ("double-store", ["every created run stored exactly once"]),
        ("early-request", ["no request outside a started lifespan"]),
    ],
)
def test_a_planted_violation_fails_the_run(backend: str, planted: str, caught: list[str]) -> None:
    status, output = run_tool(
        *("--tasks", "3", "--depth", "2", "--cancel-rate", "0", "--ramp", "0"),
        *("--backend", backend, "--inject", planted),
    )
    assert status == 1, output
    for invariant in caught:
        assert value_of(output, f"invariant: {invariant}").startswith("FAIL")
    assert value_of(output, "RESULT") == "FAIL"


def test_the_same_seed_gives_the_same_schedule() -> None:
    schedule = functools.partial(
        make_schedule,
        tasks=50,
        depth=3,
        cancel_rate=0.3,
        cancel_within=1.0,
        sync_rate=0.2,
        ramp=0.5,
    )
    first = schedule(seed=7)
    assert schedule(seed=7) == first
    assert fingerprint(schedule(seed=7)) == fingerprint(first)
    assert fingerprint(schedule(seed=8)) != fingerprint(first)
    assert any(plan.cancel_after is not None for plan in first)
    assert any(plan.sync_innermost for plan in first)


def test_the_same_seed_injects_the_same_faults_on_either_backend() -> None:
    """Each context's faults follow from its seed and its own requests, not from the
    order the event loop ran the tasks in."""
    common = ("--tasks", "8", "--depth", "2", "--cancel-rate", "0", "--faults", "0.3")
    outputs = [run_tool(*common, "--seed", "11", "--backend", b)[1] for b in ("trio", "asyncio")]
    digests = {value_of(output, "fault schedule fingerprint") for output in outputs}
    schedules = {value_of(output, "seed (schedule fingerprint)") for output in outputs}
    assert len(digests) == 1, outputs
    assert len(schedules) == 1
    other = run_tool(*common, "--seed", "12")[1]
    assert value_of(other, "fault schedule fingerprint") not in digests


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_rich_a_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_report, "rich_installed", lambda: False)
    stream = Terminal()
    status = main(["--scenario", "lifespan", "--tasks", "20"], stream=stream)
    output = stream.getvalue()
    assert status == 0
    assert "tasks: 20/20" in output  # the plain progress line
    assert value_of(output, "RESULT") == "PASS"
    assert "\x1b[" not in output


def test_asking_for_rich_without_it_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_report, "rich_installed", lambda: False)
    with pytest.raises(SystemExit, match=r"prefect-trio-client\[stress\]"):
        main(["--output", "rich"])


def test_rich_draws_the_table() -> None:
    pytest.importorskip("rich")
    stream = io.StringIO()
    status = main(["--scenario", "lifespan", "--tasks", "20", "--output", "rich"], stream=stream)
    output = stream.getvalue()
    assert status == 0
    assert "every startup matched by a shutdown" in output
    assert "RESULT" in output


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--faults", "2"], "must be a probability"),
        (["--tasks", "0"], "must be at least 1"),
        (["--api-url", "localhost:4200"], "must be an http"),
        (["--scenario", "lifespan", "--api-url", "http://x/api"], "in-process only"),
    ],
)
def test_bad_options_are_named(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
