"""The captured Prefect 3.9 request/response bodies, loaded from ``tests/data``.

The file is a copy of the capture the issue ships; tests never read outside the repository.
Lists in response bodies were shortened by the capture to ``{__list_len__, __first_item__}``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SAMPLES_PATH = Path(__file__).resolve().parent.parent / "data" / "prefect-api-samples.json"


@cache
def load() -> dict[str, Any]:
    with SAMPLES_PATH.open(encoding="utf-8") as file:
        data: dict[str, Any] = json.load(file)
    return data


def sample(section: str, key: str) -> dict[str, Any]:
    """One captured exchange (``section`` is ``endpoints`` or ``extra_examples``)."""
    exchange: dict[str, Any] = load()[section][key]
    return exchange


def all_keys() -> list[tuple[str, str]]:
    data = load()
    return [(section, key) for section in ("endpoints", "extra_examples") for key in data[section]]


def items(body: Any) -> list[Any]:
    """The objects a response body holds: a shortened list gives its first item."""
    if isinstance(body, dict) and "__list_len__" in body:
        assert body["__list_len__"] >= 1
        return [body["__first_item__"]]
    if isinstance(body, list):
        return body
    return [body]


def without(value: Any, path: str) -> Any:
    """A deep copy of ``value`` minus the dotted ``path`` (``*`` walks every list item)."""
    head, _, rest = path.partition(".")
    if isinstance(value, list):
        assert head == "*", path
        return [without(item, rest) for item in value]
    assert isinstance(value, dict), path
    if not rest:
        return {k: v for k, v in value.items() if k != head}
    return {k: (without(v, rest) if k == head else v) for k, v in value.items()}
