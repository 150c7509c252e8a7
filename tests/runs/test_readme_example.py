"""The README's flow example runs as printed, and leaves its runs on the API."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import anyio
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
    result = await anyio.run_process(
        [sys.executable, "-c", code], env=dict(os.environ), check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "done"
    run = await only_flow_run("crawl")
    assert run.state_type is StateType.COMPLETED
    fetched = await task_runs(run.id)
    assert sorted(t.name for t in fetched) == ["fetch-0", "fetch-1"]
