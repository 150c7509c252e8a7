"""The stress tool: ``python -m prefect_trio_client.stress --help``.

What a user runs to trust the client: thousands of tasks nest client contexts (async,
and sync clients from worker threads), do real requests under random cancellations and
optional injected faults, against the embedded server in-process or a real server; the
tool checks the invariants (one startup per lifespan generation, no request outside a
started lifespan, every created run stored exactly once, nothing leaked, every client
closed), prints a summary table, and exits with status 1 on any violation. A seed fixes
the whole schedule of arrivals, cancellations and faults.

Scenarios:
- ``runs`` (default): nested contexts doing flow-run work (`_runs`).
- ``contexts``: what nested contexts cost, per context (`_contexts`).
- ``lifespan``: the lifespan service alone, without HTTP (`_lifespan`).

`rich` (the ``[stress]`` extra) draws the progress bar and the table on a terminal;
without it the tool prints plain lines and works the same.
"""

from prefect_trio_client.stress._cli import main as main
from prefect_trio_client.stress._options import Options as Options
from prefect_trio_client.stress._report import Report as Report

__all__ = ["Options", "Report", "main"]
