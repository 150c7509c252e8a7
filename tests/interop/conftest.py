"""Interop tests: they need a real Prefect server, which `nox -s interop` starts.

The server's URL arrives in ``PREFECT_TRIO_CLIENT_INTEROP_API_URL``, read at import,
before the suite's autouse fixture clears every ``PREFECT_*`` variable. Without it, the
tests here are skipped with a reason that says how to run them.
"""

from __future__ import annotations

import os
import uuid

import pytest

INTEROP_API_URL = os.environ.get("PREFECT_TRIO_CLIENT_INTEROP_API_URL")
INTEROP_CSRF = os.environ.get("PREFECT_TRIO_CLIENT_INTEROP_CSRF") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if INTEROP_API_URL:
        return
    skip = pytest.mark.skip(reason="needs a real Prefect server: run `nox -s interop`")
    for item in items:
        if "tests/interop" in str(item.path).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture
def api_url(isolated_prefect_env: pytest.MonkeyPatch) -> str:
    """Point the settings at the real server (after the environment was cleared)."""
    assert INTEROP_API_URL is not None
    isolated_prefect_env.setenv("PREFECT_API_URL", INTEROP_API_URL)
    return INTEROP_API_URL


@pytest.fixture
def unique() -> str:
    """A suffix that keeps names of this test apart on the long-lived server."""
    return uuid.uuid4().hex[:10]
