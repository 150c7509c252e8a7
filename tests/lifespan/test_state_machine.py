"""A hypothesis state machine over leases, driven through an anyio BlockingPortal.

Hypothesis has no async state machines, so the machine lives in the test thread and
every action runs in an event loop (trio or asyncio) behind a portal. A model of the
refcount, the startups and the shutdowns is checked against the service and the app
after every step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from contextlib import ExitStack

import anyio
import anyio.abc
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

from prefect_trio_client.exceptions import LifespanStartupError
from prefect_trio_client.lifespan import LifespanService, LifespanState, open_lifespan_service
from tests.lifespan.apps import RecordingApp

WAIT = 5.0  # seconds of real time a portal call may take before the test fails


async def bounded(function: Callable[[], Awaitable[object]]) -> None:
    """Await ``function()`` in the loop, failing (not hanging) if it takes too long."""
    with anyio.fail_after(WAIT):
        await function()


class Holder:
    """A task holding one lease until told to release it or cancelled."""

    def __init__(self) -> None:
        self.outcome: str | None = None
        self.future: Future[None] | None = None

    async def run(
        self,
        service: LifespanService,
        app: RecordingApp,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        self.settled = anyio.Event()
        self.release = anyio.Event()
        self.scope = anyio.CancelScope()
        task_status.started()
        with self.scope:
            try:
                async with service.lease(app):
                    self.outcome = "entered"
                    self.settled.set()
                    await self.release.wait()
                self.outcome = "released"
            except LifespanStartupError:
                self.outcome = "failed"
        if self.scope.cancelled_caught:
            self.outcome = f"cancelled after {self.outcome}"
        self.settled.set()


class LeaseMachine(RuleBasedStateMachine):
    backend = "trio"
    holders = Bundle("holders")

    def __init__(self) -> None:
        super().__init__()
        self.stack = ExitStack()
        self.portal: BlockingPortal = self.stack.enter_context(start_blocking_portal(self.backend))
        self.app = RecordingApp(f"machine-{self.backend}")
        self.service: LifespanService = self.stack.enter_context(
            self.portal.wrap_async_context_manager(
                open_lifespan_service(startup_timeout=2, shutdown_timeout=2)
            )
        )
        self.count = 0
        self.startups = 0
        self.shutdowns = 0
        self.fail_next = False
        self.live: list[Holder] = []

    def _start_holder(self) -> Holder:
        holder = Holder()
        future, _ = self.portal.start_task(holder.run, self.service, self.app)
        holder.future = future
        self.live.append(holder)
        return holder

    def _finish(self, holder: Holder) -> str:
        assert holder.future is not None
        holder.future.result(WAIT)
        self.live.remove(holder)
        assert holder.outcome is not None
        return holder.outcome

    def _left(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.shutdowns += 1  # the last one out waited for the shutdown

    @rule(target=holders)
    def acquire(self) -> object:
        holder = self._start_holder()
        self.portal.call(bounded, holder.settled.wait)
        if self.count == 0 and self.fail_next:
            self.fail_next = False
            assert self._finish(holder) == "failed"
            return multiple()
        assert holder.outcome == "entered"
        if self.count == 0:
            self.startups += 1
        self.count += 1
        return holder

    @rule(holder=consumes(holders))
    def release(self, holder: Holder) -> None:
        self.portal.call(holder.release.set)
        assert self._finish(holder) == "released"
        self._left()

    @rule(holder=consumes(holders))
    def cancel(self, holder: Holder) -> None:
        self.portal.call(holder.scope.cancel)
        assert self._finish(holder) == "cancelled after entered"
        self._left()

    @rule()
    def fail_next_startup(self) -> None:
        def arm() -> None:
            self.app.fail_next_startup = "raise"

        self.portal.call(arm)
        self.fail_next = True

    @precondition(lambda self: self.count == 0)
    @rule()
    def cancel_while_waiting_for_startup(self) -> None:
        def gate() -> anyio.Event:
            self.app.startup_began = anyio.Event()
            self.app.startup_gate = anyio.Event()
            return self.app.startup_gate

        startup_gate = self.portal.call(gate)
        holder = self._start_holder()
        self.portal.call(bounded, self.app.startup_began.wait)
        self.portal.call(holder.scope.cancel)
        assert self._finish(holder) == "cancelled after None"  # returned at once
        assert self.portal.call(self._snapshot) == (0, LifespanState.STARTING)
        stopped = self.app.stopped
        self.portal.call(startup_gate.set)
        self.portal.call(bounded, stopped.wait)  # the service shut the app down (or it failed)
        self.app.startup_gate = None
        if self.fail_next:
            self.fail_next = False
        else:
            self.startups += 1
            self.shutdowns += 1

    @precondition(lambda self: self.count == 1 and not self.fail_next)
    @rule(holder=consumes(holders), target=holders)
    def acquire_during_the_last_shutdown(self, holder: Holder) -> object:
        """The last holder leaves; while the app shuts down a new lease arrives: it
        waits for the shutdown, then starts a new generation."""

        def gate() -> anyio.Event:
            self.app.shutdown_began = anyio.Event()
            self.app.shutdown_gate = anyio.Event()
            return self.app.shutdown_gate

        shutdown_gate = self.portal.call(gate)
        self.portal.call(holder.release.set)
        self.portal.call(bounded, self.app.shutdown_began.wait)
        newcomer = self._start_holder()
        assert self.portal.call(self._snapshot) == (1, LifespanState.STOPPING)
        assert not newcomer.settled.is_set()  # it waits for the shutdown to finish
        self.portal.call(shutdown_gate.set)
        assert self._finish(holder) == "released"
        self.portal.call(bounded, newcomer.settled.wait)
        self.app.shutdown_gate = None
        assert newcomer.outcome == "entered"
        self.startups += 1
        self.shutdowns += 1
        return newcomer

    def _snapshot(self) -> tuple[int, LifespanState]:
        return self.service.refcount(self.app), self.service.state(self.app)

    @invariant()
    def service_matches_the_model(self) -> None:
        refcount, state = self.portal.call(self._snapshot)
        assert refcount == self.count
        assert state is (LifespanState.RUNNING if self.count else LifespanState.STOPPED)
        assert (self.app.startups, self.app.shutdowns) == (self.startups, self.shutdowns)
        assert self.app.violations == []

    def teardown(self) -> None:
        try:
            for holder in list(self.live):
                self.portal.call(holder.scope.cancel)
                self._finish(holder)
                self._left()
        finally:
            self.stack.close()
        assert self.app.startups == self.app.shutdowns == self.startups
        assert self.app.active_calls == 0


class AsyncioLeaseMachine(LeaseMachine):
    backend = "asyncio"


machine_settings = settings(max_examples=40, stateful_step_count=20, deadline=None)
TestLeaseMachineOnTrio = LeaseMachine.TestCase
TestLeaseMachineOnTrio.settings = machine_settings
TestLeaseMachineOnAsyncio = AsyncioLeaseMachine.TestCase
TestLeaseMachineOnAsyncio.settings = machine_settings
