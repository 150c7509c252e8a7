"""The README's flow example runs as printed, and leaves its runs on the API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prefect_trio_client.schemas.objects import StateType
from tests.runs.helpers import only_flow_run, task_runs

README = Path(__file__).parents[2] / "README.md"

pytestmark = pytest.mark.anyio


def readme_flow_example() -> str:
    text = README.read_text()
    section = text.split("## Quick example: flows and tasks under trio", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README lost its flow example"
    return match.group(1)


async def test_the_readme_flow_example_runs() -> None:
    code = readme_flow_example()
    assert len(code.strip().splitlines()) <= 20
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    run = await only_flow_run("crawl")
    assert run.state_type is StateType.COMPLETED
    fetched = await task_runs(run.id)
    assert sorted(t.name for t in fetched) == ["fetch-0", "fetch-1"]
