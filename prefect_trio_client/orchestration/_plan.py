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
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast, overload

from prefect_trio_client._send_loop import IDEMPOTENT_METHODS as IDEMPOTENT_METHODS
from prefect_trio_client.base import IDEMPOTENT_EXTENSION, PrefectResponse

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "IDEMPOTENT_METHODS",
    "AsyncRunner",
    "Endpoint",
    "Plan",
    "Request",
    "Sleep",
    "SyncRunner",
    "endpoint",
]

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class Request:
    """One HTTP request of a plan. `json` must already be JSON-compatible.

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


class Endpoint(Generic[P, T]):
    """A plan exposed as a method: async on an `AsyncRunner`, blocking on a `SyncRunner`."""

    def __init__(self, build: Callable[P, Plan[T]]) -> None:
        self.build = build
        functools.update_wrapper(cast(Any, self), build)

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
        build = self.build
        if isinstance(runner, AsyncRunner):

            async def call_async(*args: P.args, **kwargs: P.kwargs) -> T:
                return await runner._run(build(*args, **kwargs))

            return functools.update_wrapper(call_async, build)
        if isinstance(runner, SyncRunner):

            def call_sync(*args: P.args, **kwargs: P.kwargs) -> T:
                return runner._run(build(*args, **kwargs))

            return functools.update_wrapper(call_sync, build)
        raise TypeError(f"{type(runner).__name__} cannot run endpoints")


def endpoint(build: Callable[P, Plan[T]]) -> Endpoint[P, T]:
    """Make a plan into a method of both clients (see the module docstring)."""
    return Endpoint(build)
