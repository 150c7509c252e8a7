"""app_lifespan_context: Prefect's signature, the current service, the default service of
each event loop and how that service ends with its loop."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import pytest
import trio
import trio.testing

from prefect_trio_client.exceptions import LifespanStartupError
from prefect_trio_client.lifespan import (
    LifespanService,
    LifespanState,
    app_lifespan_context,
    current_lifespan_service,
    open_lifespan_service,
)
from tests.lifespan.apps import Receive, RecordingApp, Scope, Send
from tests.virtual_clock import new_virtual_time_loop

BACKENDS = ["asyncio", "trio"]


def run(backend: str, main: Callable[[], Awaitable[None]]) -> None:
    """Run ``main`` in a fresh event loop of ``backend``, on virtual time."""
    if backend == "trio":
        options: dict[str, object] = {"clock": trio.testing.MockClock(autojump_threshold=0)}
    else:
        options = {"loop_factory": new_virtual_time_loop}
    anyio.run(main, backend=backend, backend_options=options)


def test_keeps_prefects_signature() -> None:
    parameters = list(inspect.signature(app_lifespan_context).parameters)
    assert parameters == ["app"]


@pytest.mark.anyio
async def test_plain_single_task_async_with() -> None:
    """The case where Prefect's helper corrupts trio's cancel-scope stack."""
    app = RecordingApp(startup_delay=1, shutdown_delay=1)
    async with app_lifespan_context(app), app.body():
        assert current_lifespan_service().state(app) is LifespanState.RUNNING
    assert (app.startups, app.shutdowns) == (1, 1)
    async with app_lifespan_context(app), app.body():
        pass
    assert (app.startups, app.shutdowns) == (2, 2)


@pytest.mark.anyio
async def test_leases_from_the_current_service() -> None:
    app = RecordingApp()
    default = current_lifespan_service()
    async with open_lifespan_service() as outer:
        assert current_lifespan_service() is outer
        async with open_lifespan_service() as inner:
            assert current_lifespan_service() is inner
            async with app_lifespan_context(app):
                assert (inner.refcount(app), outer.refcount(app), default.refcount(app)) == (
                    1,
                    0,
                    0,
                )
        assert current_lifespan_service() is outer
    assert current_lifespan_service() is default


@pytest.mark.anyio
async def test_child_tasks_of_a_service_block_use_it() -> None:
    app = RecordingApp()
    seen: list[LifespanService] = []

    async def child() -> None:
        seen.append(current_lifespan_service())
        async with app_lifespan_context(app):
            pass

    async with open_lifespan_service() as service, anyio.create_task_group() as tg:
        tg.start_soon(child)
    assert seen == [service]


@pytest.mark.anyio
async def test_siblings_entering_at_once_share_the_default_service() -> None:
    app = RecordingApp(startup_delay=1)
    refcounts: list[int] = []

    async def sibling() -> None:
        async with app_lifespan_context(app), app.body():
            refcounts.append(current_lifespan_service().refcount(app))
            await anyio.sleep(1)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(sibling)
    assert (app.calls, app.startups, app.shutdowns) == (1, 1, 1)
    assert max(refcounts) == 20


@pytest.mark.anyio
async def test_first_use_on_a_new_loop_is_counted_before_any_checkpoint() -> None:
    """Even the first lease of a loop (whose default service is not yet hosted) is
    counted at once, so a sibling entering right after shares its generation."""
    app = RecordingApp()

    async def sibling() -> None:
        async with app_lifespan_context(app), app.body():
            await anyio.sleep(1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sibling)
        tg.start_soon(sibling)
    assert app.calls == 1


@pytest.mark.anyio
async def test_startup_failure_on_the_default_service() -> None:
    app = RecordingApp(startup_failure="raise")
    with pytest.raises(LifespanStartupError):
        async with app_lifespan_context(app):
            pass
    app.startup_failure = None
    async with app_lifespan_context(app), app.body():
        pass


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_default_service_per_event_loop(backend: str) -> None:
    services: list[LifespanService] = []

    async def main() -> None:
        services.append(current_lifespan_service())
        services.append(current_lifespan_service())

    run(backend, main)
    run(backend, main)
    assert services[0] is services[1]
    assert services[2] is services[3]
    assert services[0] is not services[2]
    assert all(service.closed for service in services)  # each ended with its loop


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_service_ends_with_the_run_after_every_lease(backend: str) -> None:
    app = RecordingApp(shutdown_delay=1)
    services: list[LifespanService] = []

    async def main() -> None:
        async with app_lifespan_context(app), app.body():
            services.append(current_lifespan_service())

    run(backend, main)
    assert (app.startups, app.shutdowns) == (1, 1)
    assert services[0].closed
    assert services[0].open_apps() == []


def test_default_service_finishes_an_abandoned_startup_when_trio_ends() -> None:
    """The last lease gave up during a slow startup and the run ended: the system task
    lets the startup finish, then shuts the app down before the run is over."""
    app = RecordingApp(startup_delay=5, shutdown_delay=1)

    async def main() -> None:
        with anyio.move_on_after(1):
            async with app_lifespan_context(app):
                pytest.fail("unreachable")

    run("trio", main)
    assert app.events == [("startup", 1), ("started", 1), ("shutdown", 1), ("stopped", 1)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_host_never_raises(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    """Every lifespan failure goes to the leases or the log, never out of the host
    (a trio system task that raises would crash the run with TrioInternalError)."""
    failing_start = RecordingApp("start", startup_failure="raise")
    failing_stop = RecordingApp("stop", shutdown_failure="raise")

    async def main() -> None:
        with pytest.raises(LifespanStartupError):
            async with app_lifespan_context(failing_start):
                pass
        async with app_lifespan_context(failing_stop):
            pass

    run(backend, main)
    assert any("raised during lifespan.shutdown" in r.getMessage() for r in caplog.records)
    assert failing_stop.active_calls == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_host_fails_the_waiting_leases(
    backend: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """If the default service's host itself fails (a bug), the leases waiting on it get
    the error and the run goes on (no TrioInternalError from the system task)."""

    async def broken(self: LifespanService) -> None:
        await anyio.lowlevel.checkpoint()
        raise OSError("host broke")

    monkeypatch.setattr(LifespanService, "_serve_until_cancelled", broken)
    app = RecordingApp()
    errors: list[BaseException] = []

    async def main() -> None:
        try:
            async with app_lifespan_context(app):
                pytest.fail("unreachable")
        except RuntimeError as exc:
            errors.append(exc)

    run(backend, main)
    assert len(errors) == 1
    assert "default lifespan service failed" in str(errors[0])
    assert isinstance(errors[0].__cause__, OSError)
    assert "the default lifespan service failed" in caplog.messages
    assert app.calls == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_service_runs_apps_in_the_first_callers_context(backend: str) -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(request_id.get("<unset>"))
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    async def main() -> None:
        request_id.set("abc")
        async with app_lifespan_context(app):
            pass

    run(backend, main)
    assert seen == ["abc"]


def test_default_service_is_a_trio_system_task() -> None:
    app = RecordingApp()
    hosts: list[str] = []

    async def main() -> None:
        async with app_lifespan_context(app):
            root = trio.lowlevel.current_root_task()
            assert root is not None
            for task in _walk(root):
                if task.name == "prefect_trio_client default lifespan service":
                    assert task.parent_nursery is not None
                    hosts.append(task.parent_nursery.parent_task.name)

    trio.run(main)
    assert hosts == ["<init>"]  # the system nursery's task


def _walk(task: trio.lowlevel.Task) -> list[trio.lowlevel.Task]:
    found = [task]
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            found.extend(_walk(child))
    return found


def test_default_service_is_an_asyncio_task_of_the_loop() -> None:
    app = RecordingApp()
    names: list[str] = []

    async def main() -> None:
        async with app_lifespan_context(app):
            names.extend(task.get_name() for task in asyncio.all_tasks())

    asyncio.run(main())
    assert "prefect_trio_client default lifespan service" in names


@pytest.mark.parametrize("backend", BACKENDS)
def test_debug_log_when_the_default_service_ends(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="prefect_trio_client.lifespan")

    async def main() -> None:
        current_lifespan_service()

    run(backend, main)
    assert "the default lifespan service ended with its event loop" in caplog.messages
