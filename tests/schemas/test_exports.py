"""Each schema module names its public API in a sorted, complete ``__all__``."""

from __future__ import annotations

import inspect
import re
from types import ModuleType

import pytest

from prefect_trio_client import schemas, states
from prefect_trio_client.schemas import (
    actions,
    automations,
    filters,
    objects,
    responses,
    sorting,
)

MODULES = [schemas, actions, automations, filters, objects, responses, sorting, states]


def _ruff_order(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 enforces: CONSTANTS, then CamelCase, then the rest."""
    if re.fullmatch(r"[A-Z0-9_]+", name) and "_" in name:
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def _defined_here(module: ModuleType) -> set[str]:
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    }


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_all_is_sorted(module: ModuleType) -> None:
    assert module.__all__ == sorted(module.__all__, key=_ruff_order)
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_all_names_exist_and_cover_every_public_definition(module: ModuleType) -> None:
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
    assert _defined_here(module) - set(module.__all__) == set()


def test_prefects_response_names_are_re_exported() -> None:
    assert responses.WorkerFlowRunResponse is objects.WorkerFlowRunResponse
    assert responses.GlobalConcurrencyLimitResponse is objects.GlobalConcurrencyLimit
    assert responses.DeploymentResponse is objects.Deployment
    assert responses.ConcurrencyLimitWithLeaseResponse is objects.ConcurrencyLimitWithLeaseResponse


def test_the_import_paths_the_issue_promises() -> None:
    from prefect_trio_client.schemas.filters import FlowFilter, FlowRunFilter
    from prefect_trio_client.schemas.objects import FlowRun, State, StateType
    from prefect_trio_client.states import Completed, Running

    assert Running().type is StateType.RUNNING
    assert Completed().is_final()
    assert {FlowFilter.__name__, FlowRunFilter.__name__, FlowRun.__name__, State.__name__} == {
        "FlowFilter",
        "FlowRunFilter",
        "FlowRun",
        "State",
    }


def test_schemas_import_nothing_else_of_ours() -> None:
    """Schemas are leaves (DESIGN section 1): only sibling schema modules are imported."""
    for module in (actions, filters, objects, responses, sorting):
        source = inspect.getsource(module)
        ours = set(re.findall(r"^\s*(?:from|import) (prefect_trio_client[\w.]*)", source, re.M))
        assert {name for name in ours if not name.startswith("prefect_trio_client.schemas")} == (
            set()
        ), module.__name__
