"""Fixtures for the lifespan tests: every test fails if it leaves a lifespan open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lifespan import apps


@pytest.fixture(autouse=True)
def no_lifespan_left_open() -> Iterator[list[apps.RecordingApp]]:
    """Fail the test if any RecordingApp it made is still running its lifespan, had a
    started generation torn down without ``lifespan.shutdown``, or is still held."""
    tracked = apps.start_tracking()
    try:
        yield tracked
    finally:
        apps.stop_tracking()
    problems = apps.open_lifespans(tracked)
    violations = [v for app in tracked for v in app.violations]
    if problems or violations:
        pytest.fail("lifespan left open or misused:\n  " + "\n  ".join(problems + violations))
