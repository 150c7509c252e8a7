"""Submodules imported when first named, so a package's import stays cheap (README,
"Import cost"): ``package.submodule`` works without an import statement of its own."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection
from types import ModuleType
from typing import Any

__all__ = ["lazy_submodules"]


def lazy_submodules(
    package: str, names: Collection[str], namespace: dict[str, Any]
) -> tuple[Callable[[str], ModuleType], Callable[[], list[str]]]:
    """A package's module ``__getattr__`` and ``__dir__`` for submodules `names`.

    Args:
        package: The package's ``__name__``.
        names: Its submodules that load on first use.
        namespace: Its ``globals()``, for ``dir()``.
    """

    def __getattr__(name: str) -> ModuleType:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return importlib.import_module(f"{package}.{name}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
