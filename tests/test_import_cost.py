"""Importing and using the client loads nothing the program has not used.

Each check runs in a fresh interpreter and reads ``sys.modules`` at the end: trio (and
anyio's trio backend) only under trio, the embedded server and what it needs (Starlette,
SQLite, an HTTP server) only in ephemeral mode, the settings model (pydantic-settings)
and the schemas only once a client is made or an endpoint called. How long imports take
is a benchmark's business (``python -m tests.bench.import_time``), not a test's.

Once a request is sent, trio may be in ``sys.modules`` under asyncio all the same:
httpcore 1.x imports it when installed (``httpcore/_synchronization.py``, as soon as httpx
builds a transport; bare httpx pays that too). So the asyncio programs below run with
trio blocked (``sys.modules["trio"] = None``: any ``import trio`` fails), which shows
that nothing of ours needs it, and check that anyio's trio backend stays unloaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ANYIO_TRIO = ("anyio._backends._trio",)
TRIO = ("trio", *ANYIO_TRIO)
SERVER_SIDE = ("prefect_trio_client.server", "starlette", "sqlite3", "_sqlite3", "hypercorn")
ON_FIRST_USE = ("pydantic_settings", "prefect_trio_client.schemas")

_REPORT = "\nimport json as _json, sys as _sys\nprint(_json.dumps(sorted(_sys.modules)))\n"


_BLOCK_TRIO = 'import sys\nsys.modules["trio"] = None  # "import trio" raises ImportError\n'


def loaded_by(code: str, cwd: Path, **env: str) -> set[str]:
    """The modules loaded at the end of `code`, run in a fresh interpreter in `cwd`;
    `code` must succeed."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    child_env.update(env)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + _REPORT],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=child_env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return set(modules)


def among(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of `names` (or their submodules) are in `modules`."""
    return sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in names))


@pytest.mark.parametrize(
    "statement",
    [
        "import prefect_trio_client",
        "import prefect_trio_client.orchestration",
        "from prefect_trio_client.orchestration import PrefectClient, get_client",
        "from prefect_trio_client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient",
    ],
)
def test_importing_the_client_loads_no_trio_server_settings_model_or_schemas(
    statement: str, tmp_path: Path
) -> None:
    modules = loaded_by(statement, tmp_path)
    assert "prefect_trio_client" in modules
    assert among(modules, TRIO + SERVER_SIDE + ON_FIRST_USE) == []


# A Prefect API that answers only the version check (the standard library's HTTP
# server, in a thread of the child); a client made by `get_client()` then asks for it.
_SERVER = """
import http.server, json, os, threading

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        answers = {"/api/admin/version": "3.9.1"}
        body = json.dumps(answers.get(self.path)).encode()
        self.send_response(200 if self.path in answers else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{server.server_address[1]}/api"
"""

_ASYNC_REQUEST = """
import asyncio
from prefect_trio_client.orchestration import get_client

async def main():
    async with get_client() as client:
        assert await client.api_version() == "3.9.1"

asyncio.run(main())
"""

_SYNC_REQUEST = """
from prefect_trio_client.orchestration import get_client

with get_client(sync_client=True) as client:
    assert client.api_version() == "3.9.1"
"""


@pytest.mark.parametrize("request_code", [_ASYNC_REQUEST, _SYNC_REQUEST], ids=["async", "sync"])
def test_a_request_to_a_server_on_asyncio_needs_no_trio_and_loads_no_embedded_server(
    request_code: str, tmp_path: Path
) -> None:
    code = _BLOCK_TRIO + _SERVER + request_code
    modules = loaded_by(code, tmp_path, PREFECT_HOME=str(tmp_path))
    assert among(modules, ANYIO_TRIO + SERVER_SIDE) == []
    # What the request did use was loaded on first use: the check can see modules.
    assert "prefect_trio_client.orchestration.admin" in modules
    assert "pydantic_settings" in modules


def test_ephemeral_mode_on_asyncio_serves_the_embedded_server_without_trio(tmp_path: Path) -> None:
    code = """
import asyncio
from prefect_trio_client.orchestration import get_client

async def main():
    async with get_client() as client:
        assert await client.api_healthcheck() is None

asyncio.run(main())
"""
    modules = loaded_by(_BLOCK_TRIO + code, tmp_path, PREFECT_HOME=str(tmp_path))
    assert "prefect_trio_client.server" in modules
    assert among(modules, ANYIO_TRIO) == []


def test_a_trio_program_gets_trio_and_no_embedded_server(tmp_path: Path) -> None:
    code = (
        _SERVER
        + """
import trio
from prefect_trio_client.orchestration import get_client

async def main():
    async with get_client() as client:
        assert await client.api_version() == "3.9.1"

trio.run(main)
"""
    )
    modules = loaded_by(code, tmp_path, PREFECT_HOME=str(tmp_path))
    assert "anyio._backends._trio" in modules
    assert among(modules, SERVER_SIDE) == []
