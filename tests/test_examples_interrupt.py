"""Ctrl-C ends the quickstart with one line and exit status 130, under trio and asyncio."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import anyio
import pytest

QUICKSTART = Path(__file__).parents[1] / "examples" / "quickstart.py"

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["trio", "asyncio"])
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT to send")
async def test_ctrl_c_ends_the_quickstart_in_one_line(backend: str) -> None:
    command = [sys.executable, str(QUICKSTART), "--runs", "5000", "--backend", backend]
    with anyio.fail_after(120):
        async with await anyio.open_process(command) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            seen = b""
            while b"Ctrl-C to stop" not in seen:  # the program is running its flows
                seen += await process.stdout.receive()
            process.send_signal(signal.SIGINT)
            errors = b"".join([chunk async for chunk in process.stderr])
            status = await process.wait()
    assert status == 130
    assert errors.decode().strip().splitlines() == [
        "interrupted (Ctrl-C): runs in flight end Cancelled"
    ]
