"""A call's arguments as a run's parameters: bound, validated, and made JSON-safe."""

from __future__ import annotations

import inspect
import typing
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import pydantic
import pydantic_core

from prefect_trio_client.exceptions import PrefectException

__all__ = [
    "ParameterBindError",
    "ParameterSerializationWarning",
    "ParameterValidationError",
    "Signature",
]


class ParameterBindError(PrefectException, TypeError):
    """The call's arguments do not fit the function's signature."""


class ParameterValidationError(PrefectException, TypeError):
    """An argument does not validate against its annotation (``validate_parameters``)."""


class ParameterSerializationWarning(UserWarning):
    """A parameter is not JSON-serialisable: the run stores its ``repr`` instead."""


class Signature:
    """A function's signature, read once per decorated function."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn_name = getattr(fn, "__qualname__", repr(fn))
        self.signature = inspect.signature(fn)
        self._fn = fn
        self._model: type[pydantic.BaseModel] | None = None

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments by parameter name, defaults applied (``*args`` / ``**kwargs``
        keep their own names, as Prefect records them).

        Raises:
            ParameterBindError: The arguments do not fit the signature.
        """
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ParameterBindError(f"{self.fn_name}(): {exc}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def call_arguments(
        self, parameters: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments that call the function with `parameters`."""
        bound = inspect.BoundArguments(self.signature, dict(parameters))
        return bound.args, bound.kwargs

    def validate(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """`parameters` checked and coerced by their annotations (pydantic's lax mode).

        Raises:
            ParameterValidationError: Naming each parameter that failed and why.
        """
        model = self._validation_model()
        try:
            validated = model.model_validate(dict(parameters))
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            )
            raise ParameterValidationError(
                f"parameters of {self.fn_name}() do not validate: {problems}"
            ) from None
        return {name: getattr(validated, name) for name in parameters}

    def _validation_model(self) -> type[pydantic.BaseModel]:
        if self._model is None:
            try:
                hints = typing.get_type_hints(self._fn)
            except Exception:
                hints = {}
            fields: dict[str, Any] = {}
            for name, parameter in self.signature.parameters.items():
                annotation: Any = hints.get(name, Any)
                if parameter.kind is parameter.VAR_POSITIONAL:
                    annotation = tuple[annotation, ...]
                elif parameter.kind is parameter.VAR_KEYWORD:
                    annotation = dict[str, annotation]
                fields[name] = (annotation, ...)
            self._model = pydantic.create_model(
                f"{self.fn_name}_parameters",
                __config__=pydantic.ConfigDict(arbitrary_types_allowed=True),
                **fields,
            )
        return self._model


def json_safe(parameters: Mapping[str, Any], fn_name: str) -> dict[str, Any]:
    """Each parameter as JSON (pydantic's encoder: models, dates, UUIDs, ...); one that
    cannot be encoded is stored as its ``repr``, with a `ParameterSerializationWarning`."""
    safe: dict[str, Any] = {}
    for name, value in parameters.items():
        try:
            safe[name] = pydantic_core.to_jsonable_python(value)
        except Exception as exc:
            warnings.warn(
                f"parameter {name!r} of {fn_name}() is not JSON-serialisable"
                f" ({type(exc).__name__}); the run stores its repr instead",
                ParameterSerializationWarning,
                stacklevel=4,
            )
            safe[name] = _safe_repr(value)
    return safe


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"
