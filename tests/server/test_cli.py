"""``python -m prefect_trio_client.server`` serves over HTTP and stops cleanly."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.abc import Process

from prefect_trio_client.server.__main__ import _parser

pytestmark = pytest.mark.anyio

RUNNING = re.compile(rb"Running on (http://127\.0\.0\.1:\d+)")


async def _address(process: Process) -> str:
    """Read the server's log until hypercorn says where it listens."""
    assert process.stderr is not None
    seen = b""
    async for chunk in process.stderr:
        seen += chunk
        found = RUNNING.search(seen)
        if found:
            return found.group(1).decode()
    raise AssertionError(f"the server exited before listening:\n{seen.decode()}")


@pytest.mark.parametrize("server_backend", ["trio", "asyncio"])
async def test_serves_over_http_and_stops_on_sigint(tmp_path: Path, server_backend: str) -> None:
    database = tmp_path / "cli.db"
    command = [
        sys.executable,
        "-m",
        "prefect_trio_client.server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--backend",
        server_backend,
        "--database",
        str(database),
    ]
    with anyio.fail_after(60):
        async with await anyio.open_process(command) as process:
            try:
                base = await _address(process)
                async with httpx.AsyncClient(base_url=f"{base}/api") as client:
                    assert (await client.get("/health")).json() is True
                    created = await client.post("/flows/", json={"name": "over-http"})
                    assert created.status_code == 201
            finally:
                process.send_signal(signal.SIGINT)
                await process.wait()
    assert process.returncode == 0
    assert database.exists()


def test_command_line_defaults() -> None:
    args = _parser().parse_args([])
    assert (args.host, args.port, args.backend, args.database) == ("127.0.0.1", 4200, "trio", None)
