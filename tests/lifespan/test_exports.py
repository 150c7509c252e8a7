"""What `prefect_trio_client.lifespan` exports, and where else it is reachable from."""

from __future__ import annotations

import importlib

import pytest

from prefect_trio_client import exceptions, lifespan


def test_all_is_sorted_and_complete() -> None:
    assert lifespan.__all__ == sorted(lifespan.__all__)
    public = {name for name in vars(lifespan) if not name.startswith("_")}
    assert set(lifespan.__all__) == public


def test_the_issue_imports_work() -> None:
    from prefect_trio_client.lifespan import (  # noqa: F401
        LifespanService,
        app_lifespan_context,
        open_lifespan_service,
    )

    assert lifespan.LifespanStartupError is exceptions.LifespanStartupError
    assert issubclass(exceptions.LifespanStartupError, exceptions.PrefectException)
    assert issubclass(exceptions.LifespanStartupError, RuntimeError)


def test_base_re_exports_app_lifespan_context() -> None:
    base = importlib.import_module("prefect_trio_client.base")
    if not hasattr(base, "app_lifespan_context"):
        pytest.skip("prefect_trio_client.base does not re-export app_lifespan_context yet")
    assert base.app_lifespan_context is lifespan.app_lifespan_context
