"""Exact interleavings on trio: Sequencer, wait_all_tasks_blocked, and what Prefect's
helper gets wrong under trio (cancel-scope and nursery stack corruption)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
import trio
import trio.testing

from prefect_trio_client.lifespan import (
    LifespanState,
    app_lifespan_context,
    current_lifespan_service,
    open_lifespan_service,
)
from tests.lifespan.apps import RecordingApp


async def test_plain_single_task_async_with() -> None:
    app = RecordingApp()
    async with app_lifespan_context(app), app.body():
        await trio.lowlevel.checkpoint()
    assert (app.startups, app.shutdowns) == (1, 1)


async def test_first_in_last_out_across_tasks(autojump_clock: trio.testing.MockClock) -> None:
    """Prefect: the first task enters the lifespan, the last one exits it ("Nursery
    stack corrupted" under trio). Here A enters first and B leaves last."""
    app = RecordingApp(shutdown_delay=1)
    seq = trio.testing.Sequencer()
    log: list[str] = []

    async def task_a() -> None:
        async with app_lifespan_context(app), app.body():
            async with seq(0):
                log.append("A in")
            async with seq(2):
                log.append("A out")
        async with seq(3):
            log.append(f"A left, shutdowns={app.shutdowns}")

    async def task_b() -> None:
        async with seq(1):
            pass
        async with app_lifespan_context(app), app.body():
            log.append("B in")
            async with seq(4):
                log.append("B out")
        log.append(f"B left, shutdowns={app.shutdowns}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(task_a)
        nursery.start_soon(task_b)
    assert log == ["A in", "B in", "A out", "A left, shutdowns=0", "B out", "B left, shutdowns=1"]


async def test_interleaving_with_a_sequencer(autojump_clock: trio.testing.MockClock) -> None:
    """A enters, B enters, A exits, B waits for A's exit, B exits: no deadlock."""
    app = RecordingApp(startup_delay=1, shutdown_delay=1)
    seq = trio.testing.Sequencer()
    log: list[str] = []

    async with open_lifespan_service() as service:

        async def task_a() -> None:
            async with seq(0):
                pass
            async with service.lease(app), app.body():
                async with seq(1):
                    log.append("A in")
                async with seq(3):
                    pass
            async with seq(4):
                log.append(f"A out, refcount={service.refcount(app)}")

        async def task_b() -> None:
            async with service.lease(app), app.body():
                async with seq(2):
                    log.append("B in")
                async with seq(5):
                    log.append("B saw A out")
            log.append(f"B out, state={service.state(app).name}")

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(task_a)
                nursery.start_soon(task_b)
    assert log == ["A in", "B in", "A out, refcount=1", "B saw A out", "B out, state=STOPPED"]


async def test_many_waiters_block_on_one_startup() -> None:
    app = RecordingApp()
    gate = app.startup_gate = anyio.Event()
    n = 100
    entered = 0

    async def user() -> None:
        nonlocal entered
        async with service.lease(app), app.body():
            entered += 1
            await trio.lowlevel.checkpoint()

    async with open_lifespan_service() as service:
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(user)
            await trio.testing.wait_all_tasks_blocked()
            assert (service.state(app), service.refcount(app)) == (LifespanState.STARTING, n)
            assert (app.calls, entered) == (1, 0)
            gate.set()
        assert (entered, app.startups, app.shutdowns) == (n, 1, 1)


class FirstStepProbe(trio.abc.Instrument):
    """Records ``probe()`` when the task named ``name`` ends its first step, that is,
    reaches its first checkpoint and yields to the scheduler."""

    def __init__(self, name: str, probe: Callable[[], object]) -> None:
        self.name = name
        self.probe = probe
        self.seen: list[object] = []

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if task.name == self.name and not self.seen:
            self.seen.append(self.probe())


@pytest.mark.parametrize("phase", ["stopped", "starting", "stopping"])
async def test_a_lease_is_counted_before_its_first_checkpoint(
    phase: str, autojump_clock: trio.testing.MockClock
) -> None:
    app = RecordingApp(startup_delay=1, shutdown_delay=1)
    async with open_lifespan_service() as service, trio.open_nursery() as nursery:

        async def leave_at_once() -> None:
            async with service.lease(app):
                pass

        before = 0
        if phase == "starting":
            nursery.start_soon(leave_at_once)
            await trio.testing.wait_all_tasks_blocked()
            before = 1
        elif phase == "stopping":
            nursery.start_soon(leave_at_once)
            await trio.sleep(1.5)
            assert service.state(app) is LifespanState.STOPPING

        async def probed() -> None:
            async with service.lease(app):
                pass

        probe = FirstStepProbe("probed", lambda: service.refcount(app))
        trio.lowlevel.add_instrument(probe)
        try:
            nursery.start_soon(probed, name="probed")
            await trio.testing.wait_all_tasks_blocked()
        finally:
            trio.lowlevel.remove_instrument(probe)
        assert probe.seen == [before + 1]


async def test_the_default_service_is_shared_across_unrelated_tasks() -> None:
    app = RecordingApp()
    services = []

    async def user() -> None:
        services.append(current_lifespan_service())
        async with app_lifespan_context(app), app.body():
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as a, trio.open_nursery() as b:
        a.start_soon(user)
        b.start_soon(user)
    assert len(set(map(id, services))) == 1
    assert app.calls == 1


async def test_cancelling_a_waiter_does_not_disturb_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = RecordingApp(startup_delay=5)
    got_in: list[int] = []

    async def user(i: int, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            async with app_lifespan_context(app), app.body():
                got_in.append(i)
                await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        scopes = [await nursery.start(user, i) for i in range(6)]
        await trio.sleep(1)
        for scope in scopes[::2]:
            scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert current_lifespan_service().refcount(app) == 3
    assert sorted(got_in) == [1, 3, 5]
    assert (app.startups, app.shutdowns) == (1, 1)


@pytest.mark.parametrize("n", [1, 3])
async def test_anyio_and_trio_scopes_mix(n: int) -> None:
    app = RecordingApp()
    with anyio.CancelScope() as scope:
        async with app_lifespan_context(app):
            for _ in range(n):
                async with app_lifespan_context(app):
                    pass
            scope.cancel()
            await trio.lowlevel.checkpoint()
    assert scope.cancelled_caught
    assert (app.startups, app.shutdowns) == (1, 1)
