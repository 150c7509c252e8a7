"""Every Python snippet of the README runs as printed, top to bottom, with no server:
the embedded one serves them (the one that needs a server says so, and is left out)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import anyio
import pytest

README = Path(__file__).parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
NEEDS_A_SERVER = "base_url="  # the HTTP client example: a server on port 4200

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


def test_the_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 5
    assert sum(NEEDS_A_SERVER in snippet for snippet in SNIPPETS) == 1


async def test_the_snippets_run_in_order_in_one_home() -> None:
    for number, snippet in enumerate(SNIPPETS, start=1):
        if NEEDS_A_SERVER in snippet:
            continue
        result = await anyio.run_process(
            [sys.executable, "-c", snippet], env=dict(os.environ), check=False
        )
        assert result.returncode == 0, f"snippet {number}:\n{result.stderr.decode()[-3000:]}"
