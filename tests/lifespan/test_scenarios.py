"""Prefect's own app_lifespan_context scenarios, through every entry point, on both backends.

Each scenario runs three ways (an explicit lease, app_lifespan_context inside a service,
app_lifespan_context on the loop's default service) and on asyncio and trio, on virtual
time. The RecordingApp asserts as it goes that no body runs outside a started app and
that generations never overlap.
"""

from __future__ import annotations

import anyio
import pytest

from prefect_trio_client.lifespan import LifespanState
from tests.lifespan.apps import RecordingApp
from tests.lifespan.helpers import KINDS, using

pytestmark = pytest.mark.anyio

STOPPED = LifespanState.STOPPED
RUNNING = LifespanState.RUNNING


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_manages_the_lifespan(kind: str) -> None:
    app = RecordingApp()
    async with using(kind) as (use, service):
        assert (service.state(app), service.refcount(app)) == (STOPPED, 0)
        async with use(app), app.body():
            assert (app.startups, app.shutdowns) == (1, 0)
            assert (service.state(app), service.refcount(app)) == (RUNNING, 1)
        assert (app.startups, app.shutdowns) == (1, 1)
        assert (service.state(app), service.refcount(app)) == (STOPPED, 0)
        assert service.open_apps() == []
    assert app.events == [("startup", 1), ("started", 1), ("shutdown", 1), ("stopped", 1)]


async def test_once_despite_nesting(kind: str) -> None:
    app = RecordingApp(startup_delay=1, shutdown_delay=1)
    async with using(kind) as (use, service):
        async with use(app):
            assert service.refcount(app) == 1
            async with use(app):
                assert service.refcount(app) == 2
                async with use(app), app.body():
                    assert service.refcount(app) == 3
                assert app.shutdowns == 0
            assert app.shutdowns == 0
            assert service.refcount(app) == 1
        assert (app.calls, app.startups, app.shutdowns) == (1, 1, 1)


async def test_sequential_usage_restarts(kind: str) -> None:
    app = RecordingApp()
    async with using(kind) as (use, _service):
        for expected in (1, 2, 3):
            async with use(app), app.body() as generation:
                assert generation == expected
            assert app.shutdowns == expected
    assert app.events == [
        (event, call)
        for call in (1, 2, 3)
        for event in ("startup", "started", "shutdown", "stopped")
    ]


async def test_concurrent_entry_from_many_tasks(kind: str) -> None:
    app = RecordingApp(startup_delay=1)
    n = 50
    entered_at: list[float] = []
    all_in = anyio.Event()
    refcounts: list[int] = []

    async def user() -> None:
        async with use(app), app.body():
            entered_at.append(anyio.current_time())
            refcounts.append(service.refcount(app))
            if len(entered_at) == n:
                all_in.set()
            await all_in.wait()

    async with using(kind) as (use, service):
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(user)
        assert (app.calls, app.startups, app.shutdowns) == (1, 1, 1)
        assert entered_at == [start + 1] * n  # nobody before startup completed
        assert max(refcounts) == n
        assert app.max_held == n


async def test_dependency_interleaving_does_not_deadlock(kind: str) -> None:
    """A enters, B enters, A exits, B waits for A's exit, B exits; shutdown after B."""
    app = RecordingApp(shutdown_delay=1)
    order: list[str] = []
    a_in, b_in, a_out = anyio.Event(), anyio.Event(), anyio.Event()

    async def task_a() -> None:
        async with use(app), app.body():
            order.append("A enters")
            a_in.set()
            await b_in.wait()
            order.append("A exits")
        order.append(f"A out (refcount {service.refcount(app)}, {service.state(app).name})")
        a_out.set()

    async def task_b() -> None:
        await a_in.wait()
        async with use(app), app.body():
            order.append("B enters")
            b_in.set()
            await a_out.wait()
            order.append("B exits")
        order.append(f"B out (shutdowns {app.shutdowns})")

    async with using(kind) as (use, service):
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(task_a)
                tg.start_soon(task_b)
    assert order == [
        "A enters",
        "B enters",
        "A exits",
        "A out (refcount 1, RUNNING)",
        "B exits",
        "B out (shutdowns 1)",
    ]
    assert (app.startups, app.shutdowns) == (1, 1)


async def test_exception_in_body(kind: str) -> None:
    app = RecordingApp(shutdown_delay=1)
    async with using(kind) as (use, service):
        with pytest.raises(ValueError, match="in the body") as caught:
            async with use(app), app.body():
                raise ValueError("in the body")
        assert type(caught.value) is ValueError  # never an ExceptionGroup
        assert (app.startups, app.shutdowns) == (1, 1)
        assert service.state(app) is STOPPED


async def test_cancellation_of_every_holder_still_shuts_down(kind: str) -> None:
    app = RecordingApp(shutdown_delay=2)
    n = 10
    inside: list[int] = []

    async def holder() -> None:
        async with use(app), app.body():
            inside.append(1)
            await anyio.sleep_forever()

    async with using(kind) as (use, service):
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(holder)
            await anyio.wait_all_tasks_blocked()
            assert len(inside) == n
            assert service.refcount(app) == n
            cancelled_at = anyio.current_time()
            tg.cancel_scope.cancel()
        # The last holder's exit waited for the (shielded) shutdown to finish.
        assert anyio.current_time() == cancelled_at + 2
        assert (app.startups, app.shutdowns) == (1, 1)
        assert (service.state(app), service.refcount(app)) == (STOPPED, 0)


async def test_outer_deadline_on_holders_still_shuts_down(kind: str) -> None:
    app = RecordingApp(shutdown_delay=1)
    async with using(kind) as (use, service):
        start = anyio.current_time()
        with anyio.move_on_after(5) as scope:
            async with use(app), use(app), app.body():
                await anyio.sleep(100)
        assert scope.cancelled_caught
        assert (app.startups, app.shutdowns) == (1, 1)
        assert anyio.current_time() == start + 6
        assert service.state(app) is STOPPED


async def test_exception_when_nested(kind: str) -> None:
    app = RecordingApp()
    async with using(kind) as (use, service):
        refcounts: list[int] = []

        async def nested() -> None:
            async with use(app), use(app), app.body():
                refcounts.append(service.refcount(app))
                raise KeyError("inner")

        with pytest.raises(KeyError) as caught:
            await nested()
        assert type(caught.value) is KeyError
        assert refcounts == [2]
        assert (app.calls, app.startups, app.shutdowns) == (1, 1, 1)
        assert service.refcount(app) == 0
