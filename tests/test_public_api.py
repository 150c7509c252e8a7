"""What each public module exports: `__all__` sorted, complete, and importable."""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
import pkgutil
from types import ModuleType

import pytest

import prefect_trio_client


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then the rest."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def public_modules() -> list[str]:
    names = ["prefect_trio_client"]
    for info in pkgutil.walk_packages(prefect_trio_client.__path__, "prefect_trio_client."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", public_modules())
def test_all_is_sorted_and_every_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported, key=isort_key), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported)
    for attribute in exported:
        assert hasattr(module, attribute), f"{name}.__all__ names missing {attribute}"


def defined_here(module: ModuleType) -> set[str]:
    return {
        attribute
        for attribute, value in vars(module).items()
        if not attribute.startswith("_")
        and attribute.isidentifier()  # pydantic files `RootModel[dict[str, str]]` here too
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }


@pytest.mark.parametrize("name", [n for n in public_modules() if n != "prefect_trio_client"])
def test_every_public_class_and_function_is_exported(name: str) -> None:
    module = importlib.import_module(name)
    missing = defined_here(module) - set(module.__all__)
    assert not missing, f"{name} defines public names missing from __all__: {sorted(missing)}"


def test_seed_names_import() -> None:
    from prefect_trio_client.base import (  # noqa: F401
        PrefectHttpxAsyncClient,
        PrefectHttpxSyncClient,
        PrefectResponse,
        ServerType,
        determine_server_type,
    )
    from prefect_trio_client.exceptions import (  # noqa: F401
        ObjectAlreadyExists,
        ObjectNotFound,
        PrefectHTTPStatusError,
    )


def test_top_level_reexports_are_the_same_objects() -> None:
    from prefect_trio_client import base, exceptions, runs, settings

    for attribute in prefect_trio_client.__all__:
        if attribute == "__version__":
            continue
        value = getattr(prefect_trio_client, attribute)
        modules = (base, exceptions, runs, settings)
        homes = [m for m in modules if getattr(m, attribute, None) is value]
        assert homes, f"{attribute} is not the object of its home module"


def test_package_ships_py_typed() -> None:
    assert importlib.resources.files("prefect_trio_client").joinpath("py.typed").is_file()


def test_run_tracking_names_load_on_first_use() -> None:
    import subprocess
    import sys

    code = (
        "import sys, prefect_trio_client as p;"
        "assert 'prefect_trio_client.runs' not in sys.modules;"
        "from prefect_trio_client import flow, task, get_run_logger;"
        "assert flow is sys.modules['prefect_trio_client.runs'].flow;"
        "p.nothing_here"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert "has no attribute 'nothing_here'" in result.stderr, result.stderr
