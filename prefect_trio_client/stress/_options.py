"""The options of a stress run (parsed by `_cli`, read by every scenario)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INJECTIONS", "Options"]

#: Violations a test can plant to see the tool catch them (``--inject``, not in --help).
INJECTIONS = ("leak", "double-store", "early-request")


@dataclass(frozen=True)
class Options:
    """One run's configuration; the defaults are the command line's."""

    scenario: str = "runs"
    backend: str = "trio"
    tasks: int = 1000
    depth: int = 3
    seed: int = 0
    api_url: str | None = None
    faults: float = 0.0
    cancel_rate: float = 0.1
    cancel_within: float = 2.0  # seconds: a deadline falls in U(0, this) after arrival
    ramp: float = 1.0  # seconds over which tasks arrive
    sync_threads: int = 4
    sync_rate: float = 0.1
    output: str = "auto"
    inject: str | None = None
