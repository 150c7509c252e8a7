"""Test configuration: every async test runs on asyncio and on trio, both on virtual time.

``anyio_backend`` is parametrised over asyncio (with a virtual-time loop) and trio (with
``MockClock(autojump_threshold=0)``), so retry delays, deadlines and timeouts cost no wall
time and are exact. Tests that need real time use the ``real_time_backend`` fixture instead.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.virtual_clock import virtual_time_backend


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param("trio", id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_time_backend(request.param)


@pytest.fixture(autouse=True)
def isolated_prefect_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> pytest.MonkeyPatch:
    """Remove every PREFECT_* variable so tests see the documented defaults, whatever
    the developer's shell holds, and point PREFECT_HOME at a fresh folder."""
    for name in list(os.environ):
        if name.startswith("PREFECT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    return monkeypatch
