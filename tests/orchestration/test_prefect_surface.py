"""Every public method of Prefect 3.9.1's `PrefectClient` / `SyncPrefectClient` exists on
ours, with Prefect's parameter names in Prefect's order.

``tests/data/prefect-client-methods.json`` was taken from Prefect 3.9.1 itself (method
names and ``inspect.signature`` parameter names). A missing or misnamed method fails here.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient

PREFECT: dict[str, dict[str, list[str]]] = json.loads(
    (Path(__file__).parents[1] / "data" / "prefect-client-methods.json").read_text()
)

#: Methods that need what is not built yet (none left: the event reads came last).
NOT_YET: set[str] = set()

#: Where Prefect takes a decorated flow or task, we take plain values (README, "The
#: orchestration client"); these methods' parameters differ on purpose, as listed.
OWN_PARAMETERS = {
    "create_flow_run": ({"flow"}, {"flow_id"}),
    "create_task_run": ({"task", "extra_tags"}, {"task_key", "tags"}),
}

CLIENTS: dict[str, type[Any]] = {"async": PrefectClient, "sync": SyncPrefectClient}


def parameters(method: Any) -> tuple[list[str], set[str]]:
    """(positional parameters in order, keyword-only ones: their order cannot matter)."""
    positional: list[str] = []
    keyword_only: set[str] = set()
    for name, parameter in inspect.signature(method).parameters.items():
        if name == "self" or parameter.kind is parameter.VAR_KEYWORD:
            continue
        if parameter.kind is parameter.KEYWORD_ONLY:
            keyword_only.add(name)
        else:
            positional.append(name)
    return positional, keyword_only


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_every_prefect_method_exists(kind: str) -> None:
    missing = sorted(name for name in PREFECT[kind] if not hasattr(CLIENTS[kind], name))
    assert missing == sorted(NOT_YET)


@pytest.mark.parametrize("kind", ["async", "sync"])
@pytest.mark.parametrize("name", sorted(PREFECT["async"]))
def test_prefect_parameter_names_in_prefect_order(kind: str, name: str) -> None:
    if name in NOT_YET:
        pytest.skip("not built yet")
    theirs = [p for p in PREFECT[kind][name] if p not in ("args", "kwargs")]
    positional, keyword_only = parameters(getattr(CLIENTS[kind], name))
    dropped, added = OWN_PARAMETERS.get(name, (set(), set()))
    theirs = [p for p in theirs if p not in dropped]
    shown = f"{name}: ours {positional} + {sorted(keyword_only)}, Prefect's {theirs}"
    assert set(theirs) <= set(positional) | keyword_only, shown
    in_common = [p for p in positional if p in theirs]
    assert in_common == theirs[: len(in_common)], shown  # positional ones: Prefect's order
    assert added <= set(positional) | keyword_only
