"""Endpoints as sans-I/O plans, run by an async or a blocking driver.

Each endpoint is written once, as a generator function (a *plan*) that yields the HTTP
requests it needs (`Request`) and any pauses (`Sleep`), receives each response, and
returns the parsed result::

    def read_flow(flow_id: UUID) -> Plan[Flow]:
        response = yield Request("GET", f"/flows/{flow_id}")
        return Flow.model_validate(response.json())

`endpoint(read_flow)` turns the plan into a method: on `PrefectClient` it is a coroutine
method that awaits each request and sleeps in anyio; on `SyncPrefectClient` it is a plain
method that blocks. HTTP errors are thrown into the plan at the ``yield``, so a plan can
catch `ObjectNotFound` where "missing" is an answer rather than an error.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import types
import typing
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from prefect_trio_client._send_loop import IDEMPOTENT_METHODS as IDEMPOTENT_METHODS
from prefect_trio_client.base import IDEMPOTENT_EXTENSION, PrefectResponse

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "IDEMPOTENT_METHODS",
    "AsyncRunner",
    "Endpoint",
    "LazyPlans",
    "Plan",
    "PlanRef",
    "Request",
    "Sleep",
    "SyncRunner",
    "endpoint",
]

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class Request:
    """One HTTP request of a plan. `json` must already be JSON-compatible; or `content`
    is the body already serialized as JSON (by a prebuilt pydantic serializer, which
    skips the dict a ``model_dump`` would build), and `json` is None.

    `idempotent` says whether sending the request twice leaves the server as sending it
    once did: then a request whose answer was lost after it was sent may be re-sent.
    None means "by method": every method but POST. A POST the server dedupes (a filter,
    a ``transition_id``, an idempotency key, an upsert by name) says ``idempotent=True``.
    """

    method: str
    path: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)
    idempotent: bool | None = None
    content: bytes | None = None

    @property
    def safe_to_resend(self) -> bool:
        """Whether a re-send after a lost answer is safe (see `idempotent`)."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() in IDEMPOTENT_METHODS

    def http_extensions(self) -> dict[str, Any]:
        """The httpx request extensions: the plan's own, and whether a re-send is safe."""
        return {**self.extensions, IDEMPOTENT_EXTENSION: self.safe_to_resend}


@dataclass(frozen=True)
class Sleep:
    """A pause inside a plan (for example the WAIT of an orchestration rule)."""

    seconds: float


Step = Request | Sleep
#: A plan yields steps, is sent a `PrefectResponse` for each `Request` (None for a
#: `Sleep`), and returns its result.
Plan = Generator[Step, Any, T]


class AsyncRunner:
    """Runs plans with awaits: the base of `PrefectClient`."""

    async def _send(self, request: Request) -> PrefectResponse:
        raise NotImplementedError

    async def _sleep(self, seconds: float) -> None:
        raise NotImplementedError

    async def _run(self, plan: Plan[T]) -> T:
        try:
            return await self._drive(plan)
        finally:
            plan.close()  # a cancelled call leaves no suspended plan behind

    async def _drive(self, plan: Plan[T]) -> T:
        outcome: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = plan.throw(error) if error is not None else plan.send(outcome)
            except StopIteration as stop:
                result: T = stop.value
                return result
            outcome, error = None, None
            try:
                if isinstance(step, Sleep):
                    await self._sleep(step.seconds)
                else:
                    outcome = await self._send(step)
            except Exception as exc:  # given to the plan, which may handle it
                error = exc


class SyncRunner:
    """Runs plans with blocking calls: the base of `SyncPrefectClient`."""

    def _send(self, request: Request) -> PrefectResponse:
        raise NotImplementedError

    def _sleep(self, seconds: float) -> None:
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:
        try:
            return self._drive(plan)
        finally:
            plan.close()

    def _drive(self, plan: Plan[T]) -> T:
        outcome: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = plan.throw(error) if error is not None else plan.send(outcome)
            except StopIteration as stop:
                result: T = stop.value
                return result
            outcome, error = None, None
            try:
                if isinstance(step, Sleep):
                    self._sleep(step.seconds)
                else:
                    outcome = self._send(step)
            except Exception as exc:
                error = exc


@dataclass(frozen=True)
class PlanRef:
    """A plan named by its module and function, imported when first needed."""

    module: str
    name: str

    def resolve(self) -> Callable[..., Plan[Any]]:
        plan: Callable[..., Plan[Any]] = getattr(importlib.import_module(self.module), self.name)
        return plan


class LazyPlans:
    """A resource module not imported yet: ``LazyPlans("...flows").read_flow`` is a
    `PlanRef`. `Endpoints` is built from these at run time, so importing a client imports
    no resource module and no schema; each is imported on its first call."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> PlanRef:
        return PlanRef(self._module, name)


class _PlanDoc:
    """`Endpoint.__doc__`: the class's docstring on the class, the plan's on an endpoint,
    read when asked (so that a lazy plan's module is not imported for it)."""

    def __init__(self, class_doc: str | None) -> None:
        self._class_doc = class_doc

    def __get__(self, endpoint: Endpoint[Any, Any] | None, owner: object = None) -> str | None:
        if endpoint is None:
            return self._class_doc
        return endpoint.build.__doc__


class Endpoint(Generic[P, T]):
    """A plan exposed as a method: async on an `AsyncRunner`, blocking on a `SyncRunner`.

    The plan is a function, or a `PlanRef` imported on the first call (or introspection).
    """

    __doc__ = _PlanDoc(__doc__)

    def __init__(self, build: Callable[P, Plan[T]] | PlanRef) -> None:
        self._build: Callable[P, Plan[T]] | None = None
        self._ref: PlanRef | None = None
        if isinstance(build, PlanRef):
            self._ref = build
            self.__module__ = build.module
            self.__name__ = self.__qualname__ = build.name  # plans are module-level functions
        else:
            self._build = build
            self.__module__, self.__name__ = build.__module__, build.__name__
            self.__qualname__ = build.__qualname__
        self._call_signature: inspect.Signature | None = None
        self._async_function: Callable[..., Any] | None = None
        self._sync_function: Callable[..., Any] | None = None

    @property
    def build(self) -> Callable[P, Plan[T]]:
        """The plan function (its module is imported here on first use)."""
        if self._build is None:
            assert self._ref is not None
            self._build = self._ref.resolve()
        return self._build

    @property
    def __wrapped__(self) -> Callable[P, Plan[T]]:
        return self.build

    def __call__(self, runner: Any, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Called on the class with a client first, as a function would be:
        ``PrefectClient.read_flow(client, flow_id)``."""
        return self.__get__(runner, type(runner))(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        """The method as `help()` and ``inspect`` should see it on the class: ``self``,
        the plan's parameters, and what the call returns (not the plan's generator)."""
        method = self.call_signature()
        first = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return method.replace(parameters=[first, *method.parameters.values()])

    def call_signature(self) -> inspect.Signature:
        """The bound method's signature (worked out once, on first use)."""
        if self._call_signature is None:
            self._call_signature = _call_signature(self.build)
        return self._call_signature

    @overload
    def __get__(self, runner: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(
        self, runner: AsyncRunner, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    @overload
    def __get__(self, runner: SyncRunner, owner: type[Any]) -> Callable[P, T]: ...

    def __get__(self, runner: object, owner: type[Any]) -> Any:
        if runner is None:
            return self
        if isinstance(runner, AsyncRunner):
            return types.MethodType(self._async_function or self._build_async(), runner)
        if isinstance(runner, SyncRunner):
            return types.MethodType(self._sync_function or self._build_sync(), runner)
        raise TypeError(f"{type(runner).__name__} cannot run endpoints")

    # The method's function is built once per endpoint and bound per access (a C-level
    # bound method), not wrapped again on every ``client.read_flow`` lookup.

    def _build_async(self) -> Callable[..., Any]:
        build = self.build

        async def call_async(runner: AsyncRunner, *args: P.args, **kwargs: P.kwargs) -> T:
            return await runner._run(build(*args, **kwargs))

        self._async_function = self._as_method(call_async)
        return self._async_function

    def _build_sync(self) -> Callable[..., Any]:
        build = self.build

        def call_sync(runner: SyncRunner, *args: P.args, **kwargs: P.kwargs) -> T:
            return runner._run(build(*args, **kwargs))

        self._sync_function = self._as_method(call_sync)
        return self._sync_function

    def _as_method(self, call: Callable[..., Any]) -> Callable[..., Any]:
        method = functools.update_wrapper(call, self.build)
        method.__signature__ = self.__signature__  # type: ignore[attr-defined]
        return method


_PLAN_OF = re.compile(r"^Plan\[(.*)\]$")


def _call_signature(build: Callable[..., Any]) -> inspect.Signature:
    """`build`'s signature, returning what its plan returns: ``Plan[FlowRun]`` becomes
    ``FlowRun`` (resolved when the module can, else kept as the annotation's text)."""
    signature = inspect.signature(build)
    returned: Any = signature.return_annotation
    try:
        resolved = typing.get_type_hints(build).get("return")
    except Exception:
        resolved = None
    if resolved is not None and len(typing.get_args(resolved)) == 3:
        returned = typing.get_args(resolved)[2]
    elif isinstance(returned, str) and (match := _PLAN_OF.match(returned)):
        returned = match.group(1)
    return signature.replace(return_annotation=returned)


@overload
def endpoint(build: Callable[P, Plan[T]]) -> Endpoint[P, T]: ...


@overload
def endpoint(build: PlanRef) -> Endpoint[..., Any]: ...


def endpoint(build: Callable[P, Plan[T]] | PlanRef) -> Endpoint[P, T] | Endpoint[..., Any]:
    """Make a plan into a method of both clients (see the module docstring)."""
    return Endpoint(build)
