"""Interop tests: they need a real Prefect server, which `nox -s interop` starts.

The server's URL arrives in ``PREFECT_TRIO_CLIENT_INTEROP_API_URL``, read at import,
before the suite's autouse fixture clears every ``PREFECT_*`` variable. Without it, the
tests here are skipped with a reason that says how to run them.

Tests marked ``topology`` need Prefect's scaled topology (replicas, PostgreSQL, Redis,
nginx: `nox -s topology`), whose state file arrives in ``PREFECT_TRIO_CLIENT_TOPOLOGY``;
the ``topology`` fixture is a handle on it (kill a replica, restart PostgreSQL or Redis).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.topology.stack import Topology

INTEROP_API_URL = os.environ.get("PREFECT_TRIO_CLIENT_INTEROP_API_URL")
INTEROP_CSRF = os.environ.get("PREFECT_TRIO_CLIENT_INTEROP_CSRF") == "1"
TOPOLOGY_STATE = os.environ.get("PREFECT_TRIO_CLIENT_TOPOLOGY")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    no_server = pytest.mark.skip(reason="needs a real Prefect server: run `nox -s interop`")
    no_topology = pytest.mark.skip(reason="needs Prefect's scaled topology: `nox -s topology`")
    for item in items:
        if "tests/interop" not in str(item.path).replace(os.sep, "/"):
            continue
        if not TOPOLOGY_STATE and item.get_closest_marker("topology") is not None:
            item.add_marker(no_topology)
        elif not INTEROP_API_URL:
            item.add_marker(no_server)


@pytest.fixture
def api_url(isolated_prefect_env: pytest.MonkeyPatch) -> str:
    """Point the settings at the real server (after the environment was cleared)."""
    assert INTEROP_API_URL is not None
    isolated_prefect_env.setenv("PREFECT_API_URL", INTEROP_API_URL)
    return INTEROP_API_URL


@pytest.fixture
def topology() -> Topology:
    """A handle on the running topology (`nox -s topology` started it)."""
    assert TOPOLOGY_STATE is not None
    return Topology.attach(Path(TOPOLOGY_STATE))


@pytest.fixture
def unique() -> str:
    """A suffix that keeps names of this test apart on the long-lived server."""
    return uuid.uuid4().hex[:10]
