"""A layout of the topology for tests that start nothing (or only `sleep`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.topology.config import Layout, ports_from


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """Ports from 4450, programs that do not exist, not root (no account to switch to)."""
    for folder in ("logs", "pids"):
        (tmp_path / folder).mkdir()
    return Layout(
        root=tmp_path,
        ports=ports_from(4450),
        prefect=Path("/nonexistent/prefect"),
        pg_bin=Path("/nonexistent/pg"),
        redis_server="/nonexistent/redis-server",
        nginx="/nonexistent/nginx",
        run_as=None,
    )
