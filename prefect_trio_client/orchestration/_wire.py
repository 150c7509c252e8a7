"""Small pure helpers the endpoint plans share: bodies out, models in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from prefect_trio_client.base import PrefectResponse

__all__ = ["body", "filter_body", "parse", "parse_list"]

M = TypeVar("M", bound=BaseModel)


def body(model: BaseModel | None) -> Any:
    """A model as the JSON value the API expects (None stays None)."""
    return None if model is None else model.model_dump(mode="json")


def filter_body(filters: Mapping[str, BaseModel | None], **paging: Any) -> dict[str, Any]:
    """A ``/filter`` or ``/count`` body: each filter under its key, then paging and sort.

    Enum members (sorts) are sent by value; None values are sent as null, as Prefect does.
    """
    result: dict[str, Any] = {key: body(value) for key, value in filters.items()}
    for key, value in paging.items():
        result[key] = getattr(value, "value", value)
    return result


def parse(model: type[M], response: PrefectResponse) -> M:
    return model.model_validate(response.json())


_adapters: dict[type[Any], TypeAdapter[Any]] = {}


def parse_list(model: type[M], response: PrefectResponse) -> list[M]:
    adapter = _adapters.get(model)
    if adapter is None:
        adapter = _adapters[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    result: list[M] = adapter.validate_python(response.json())
    return result
