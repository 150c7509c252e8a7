"""``log_prints=True``: ``print()`` inside such a run also goes to the run's logs.

``builtins.print`` is replaced while at least one run anywhere in the process asks for
it (a count under a lock), and the replacement looks the run up in the context: code
outside such a run, or printing to a file other than stdout, prints as before.
"""

from __future__ import annotations

import builtins
import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

from prefect_trio_client.runs._context import current_run

__all__ = ["prints_to_run_logs"]

_original_print = builtins.print
_lock = threading.Lock()
_users = [0]  # runs that asked for it


def _print(
    *values: object,
    sep: str | None = " ",
    end: str | None = "\n",
    file: Any = None,
    flush: bool = False,
) -> None:
    _original_print(*values, sep=sep, end=end, file=file, flush=flush)
    run = current_run.get()
    if run is None or not run.log_prints or file not in (None, sys.stdout):
        return
    message = (" " if sep is None else sep).join(str(value) for value in values)
    run.logger().info(message)


@contextlib.contextmanager
def prints_to_run_logs() -> Iterator[None]:
    """Hold the replacement of ``print`` for the duration of a run."""
    with _lock:
        _users[0] += 1
        if _users[0] == 1:
            builtins.print = _print
    try:
        yield
    finally:
        with _lock:
            _users[0] -= 1
            if _users[0] == 0:
                builtins.print = _original_print
