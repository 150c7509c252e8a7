"""Stress-test concurrent, nested app_lifespan_context users of one in-process ASGI app.

Thousands of tasks arrive in waves, nest ``app_lifespan_context`` (and explicit leases)
``--depth`` deep, hold for a random time, and some are cancelled or raise. The app
checks as it goes that its lifespans never overlap and that no body runs while it is
not started; the closing table says PASS or FAIL on every invariant, and the exit status
is 1 on any violation.

This is the ``lifespan`` scenario of the stress tool, which also drives real clients
(``python -m prefect_trio_client.stress --help``); this file keeps the old command::

    python examples/stress_nested_contexts.py --backend trio --tasks 10000
    python examples/stress_nested_contexts.py --backend asyncio --tasks 200 --depth 2
"""

from __future__ import annotations

import sys

from prefect_trio_client.stress import main

if __name__ == "__main__":
    sys.exit(main(["--scenario", "lifespan", *sys.argv[1:]]))
