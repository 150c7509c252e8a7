"""What `Flow` and `Task` share: the wrapped function, its options and its parameters."""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from prefect_trio_client.runs._context import RunTree, current_run
from prefect_trio_client.runs._engine import RunOptions
from prefect_trio_client.runs._parameters import Signature, json_safe
from prefect_trio_client.runs._tree import in_run_tree

if TYPE_CHECKING:
    from typing_extensions import Self

    from prefect_trio_client.schemas.objects import State

__all__ = ["Decorated", "function_key"]

P = ParamSpec("P")
R = TypeVar("R")


def function_key(fn: Callable[..., Any]) -> str:
    """A key stable for one function across calls and processes: its name and a hash of
    its module, qualified name and code (Prefect's ``task_key`` is name and code hash too)."""
    qualname = getattr(fn, "__qualname__", type(fn).__name__)
    code = getattr(fn, "__code__", None)
    digest = hashlib.sha256(f"{getattr(fn, '__module__', '')}:{qualname}".encode())
    if code is not None:
        digest.update(code.co_code)
    return f"{qualname.split('.')[-1]}-{digest.hexdigest()[:8]}"


class Decorated(Generic[P, R]):
    """An async function with run options; called, it runs as a flow or task run."""

    kind = "run"

    def __init__(
        self,
        fn: Callable[P, Coroutine[Any, Any, R]],
        *,
        name: str | None,
        version: str | None,
        description: str | None,
        tags: Iterable[str] | None,
        retries: int,
        retry_delay_seconds: float | Sequence[float],
        timeout_seconds: float | None,
        log_prints: bool,
        validate_parameters: bool,
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"@{self.kind} needs an async function (async def), got"
                f" {getattr(fn, '__qualname__', fn)!r}; run blocking code inside one with"
                " anyio.to_thread.run_sync"
            )
        if retries < 0:
            raise ValueError(f"@{self.kind} retries must be 0 or more, got {retries}")
        if timeout_seconds is not None and not timeout_seconds > 0:
            raise ValueError(
                f"@{self.kind} timeout_seconds must be more than 0, got {timeout_seconds}"
            )
        self.fn = fn
        self.name = name or fn.__name__
        self.version = version
        self.description = description or inspect.getdoc(fn)
        self.tags = list(tags or [])
        self.options = RunOptions(
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
            timeout_seconds=timeout_seconds,
            log_prints=log_prints,
        )
        self.validate_parameters = validate_parameters
        self.signature = Signature(fn)
        self.key = function_key(fn)
        functools.update_wrapper(self, fn)

    #: The keyword arguments the decorator was given, for `with_options`.
    _given: dict[str, Any]

    def with_options(self, **changes: Any) -> Self:
        """A copy with some options changed, as Prefect's ``with_options``:
        ``etl.with_options(tags=["nightly"], retries=2)``.

        Raises:
            TypeError: An option this decorator does not take.
        """
        return type(self)(self.fn, **{**self._given, **changes})

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function as a run: see `flow` / `task`. Prefect's ``return_state=True``
        keyword is taken here too (untyped: `returning_state` is the typed form)."""
        result: R = await self._call(args, kwargs, self._split_return_state(kwargs))
        return result

    @property
    def returning_state(self) -> Callable[P, Coroutine[Any, Any, State]]:
        """The call that returns the run's final state instead of its value (and raises
        nothing for a failed run): ``state = await etl.returning_state(day)``."""

        async def call(*args: P.args, **kwargs: P.kwargs) -> State:
            state: State = await self._call(args, kwargs, return_state=True)
            return state

        return call

    async def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool) -> Any:
        parameters = self._parameters(args, kwargs)
        parent = current_run.get()
        if parent is not None:
            return await self._run(parent.tree, parameters, return_state)
        return await in_run_tree(
            f"{self.kind} {self.name!r}",
            lambda tree: self._run(tree, parameters, return_state),
        )

    async def _run(self, tree: RunTree, parameters: dict[str, Any], return_state: bool) -> Any:
        raise NotImplementedError

    def _split_return_state(self, kwargs: dict[str, Any]) -> bool:
        """Take Prefect's ``return_state`` keyword out of a call's arguments, unless the
        function has a parameter of that name."""
        if "return_state" in self.signature.signature.parameters:
            return False
        return bool(kwargs.pop("return_state", False))

    def _parameters(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return self.signature.bind(args, kwargs)

    def _stored_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return json_safe(parameters, self.name)

    def _body(self, parameters: dict[str, Any]) -> Callable[[], Coroutine[Any, Any, R]]:
        call_args, call_kwargs = self.signature.call_arguments(parameters)

        def body() -> Coroutine[Any, Any, R]:
            return self.fn(*call_args, **call_kwargs)

        return body

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
