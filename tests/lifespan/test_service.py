"""LifespanService beyond Prefect's scenarios: failures, cancellation, shutdown races,
timeouts, closing, independence. Both backends, virtual time."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Callable

import anyio
import pytest

from prefect_trio_client.exceptions import LifespanStartupError, PrefectException
from prefect_trio_client.lifespan import (
    ASGIApp,
    LifespanService,
    LifespanState,
    open_lifespan_service,
)
from tests.lifespan.apps import (
    Message,
    Receive,
    RecordingApp,
    Scope,
    Send,
    ShutdownBoom,
    ShutdownFailure,
    StartupBoom,
    StartupFailure,
    untrack,
)

pytestmark = pytest.mark.anyio

STARTING = LifespanState.STARTING
RUNNING = LifespanState.RUNNING
STOPPING = LifespanState.STOPPING
STOPPED = LifespanState.STOPPED
LOGGER = "prefect_trio_client.lifespan"


async def wait_until(condition: Callable[[], bool], step: float = 0.01) -> None:
    """Poll on virtual time (free) until ``condition()`` holds: for states that no
    event announces, such as a shutdown that nobody waits for."""
    with anyio.fail_after(1000):
        while not condition():  # noqa: ASYNC110 - the service has no event to wait on
            await anyio.sleep(step)


# -- startup failures ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "message", "cause"),
    [
        ("failed", "lifespan.startup.failed: no database (1)", None),
        ("failed-raise", "lifespan.startup.failed: no database (1)", StartupBoom),
        ("raise", "StartupBoom: app startup 1 failed", StartupBoom),
        ("return", "without completing lifespan.startup", RuntimeError),
    ],
)
async def test_startup_failure_reaches_every_waiter_once_and_next_lease_is_fresh(
    failure: StartupFailure, message: str, cause: type[BaseException] | None
) -> None:
    app = RecordingApp(startup_failure=failure, startup_delay=1)
    errors: list[BaseException] = []
    n = 5

    async def waiter() -> None:
        try:
            async with service.lease(app):
                pytest.fail("a body ran although the startup failed")
        except BaseException as exc:
            errors.append(exc)

    async with open_lifespan_service() as service:
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(waiter)
            await wait_until(lambda: service.state(app) is STARTING)
            assert service.refcount(app) == n
        assert len(errors) == n
        assert all(type(error) is LifespanStartupError for error in errors)
        assert len({id(error) for error in errors}) == n  # one exception per waiter
        assert all(message in str(error) for error in errors)
        if cause is None:
            assert all(error.__cause__ is None for error in errors)
        else:
            assert all(type(error.__cause__) is cause for error in errors)
            assert len({id(error.__cause__) for error in errors}) == 1  # the app's own
        assert app.calls == 1  # one startup attempt, shared
        assert (service.state(app), service.refcount(app)) == (STOPPED, 0)
        assert service.open_apps() == []  # nothing stays registered

        app.startup_failure = None
        async with service.lease(app) as state, app.body():
            assert state["generation"] == 2
        assert (app.calls, app.startups, app.shutdowns) == (2, 1, 1)


async def test_startup_error_is_a_prefect_runtime_error() -> None:
    app = RecordingApp(startup_failure="raise")
    async with open_lifespan_service() as service:
        with pytest.raises(PrefectException) as caught:
            async with service.lease(app):
                pass
        assert isinstance(caught.value, RuntimeError)
        assert isinstance(caught.value.__cause__, StartupBoom)


# -- cancellation while waiting --------------------------------------------------------


async def test_last_lease_cancelled_while_waiting_for_startup_returns_at_once() -> None:
    app = RecordingApp(startup_delay=10, shutdown_delay=1)
    async with open_lifespan_service() as service:
        start = anyio.current_time()
        with anyio.move_on_after(1) as scope:
            async with service.lease(app):
                pytest.fail("a body ran before startup completed")
        assert scope.cancelled_caught
        assert anyio.current_time() == start + 1  # returned at once
        assert service.refcount(app) == 0
        assert service.state(app) is STARTING  # the service's task lets startup finish
        await wait_until(lambda: service.state(app) is STOPPED)
        # ... and then shuts the app down, with nobody waiting for it.
        assert anyio.current_time() == pytest.approx(start + 11, abs=0.02)
        assert app.events == [("startup", 1), ("started", 1), ("shutdown", 1), ("stopped", 1)]


async def test_cancelled_waiter_gives_its_count_back_others_still_enter() -> None:
    app = RecordingApp(startup_delay=10)
    entered: list[float] = []

    async def patient() -> None:
        async with service.lease(app), app.body():
            entered.append(anyio.current_time())

    async with open_lifespan_service() as service:
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(patient)
            with anyio.move_on_after(1):
                async with service.lease(app):
                    pytest.fail("unreachable")
            assert service.refcount(app) == 1
        assert entered == [start + 10]
        assert (app.startups, app.shutdowns) == (1, 1)


async def test_lease_abandoned_during_startup_is_rejoined_by_a_new_lease() -> None:
    app = RecordingApp(startup_delay=10)
    async with open_lifespan_service() as service:
        with anyio.move_on_after(1):
            async with service.lease(app):
                pytest.fail("unreachable")
        assert (service.state(app), service.refcount(app)) == (STARTING, 0)
        async with service.lease(app), app.body():  # joins the same startup
            assert app.calls == 1
        assert (app.calls, app.startups, app.shutdowns) == (1, 1, 1)


async def test_lease_cancelled_while_waiting_for_a_shutdown_to_finish() -> None:
    app = RecordingApp(shutdown_delay=5)
    async with open_lifespan_service() as service, anyio.create_task_group() as tg:

        async def leave() -> None:
            async with service.lease(app), app.body():
                pass

        async with service.lease(app):
            pass
        tg.start_soon(leave)  # a second generation, whose exit takes 5 s
        await wait_until(lambda: service.state(app) is STOPPING)
        with anyio.move_on_after(1):
            async with service.lease(app):
                pytest.fail("entered during a shutdown")
        assert service.refcount(app) == 0
    assert (app.calls, app.startups, app.shutdowns) == (2, 2, 2)  # no third generation


# -- shutdown races ------------------------------------------------------------------------


async def test_lease_arriving_during_shutdown_waits_then_starts_a_new_generation() -> None:
    app = RecordingApp(shutdown_delay=5)
    seen: dict[str, object] = {}

    async def first() -> None:
        async with service.lease(app), app.body():
            pass
        seen["first exit returned at"] = anyio.current_time()

    async def second() -> None:
        await wait_until(lambda: service.state(app) is STOPPING)
        seen["second arrives at"] = anyio.current_time()
        async with service.lease(app), app.body() as generation:
            seen["second enters at"] = anyio.current_time()
            seen["generation"] = generation
            seen["refcount"] = service.refcount(app)

    async with open_lifespan_service() as service:
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            tg.start_soon(second)
    assert seen["second arrives at"] == pytest.approx(start, abs=0.02)
    assert seen["first exit returned at"] == start + 5
    assert seen["second enters at"] == start + 5
    assert (seen["generation"], seen["refcount"]) == (2, 1)
    assert app.events == [
        ("startup", 1),
        ("started", 1),
        ("shutdown", 1),
        ("stopped", 1),
        ("startup", 2),
        ("started", 2),
        ("shutdown", 2),
        ("stopped", 2),
    ]
    assert app.max_active_calls == 1  # generations never overlap


async def test_states_through_a_generation() -> None:
    app = RecordingApp(startup_delay=2, shutdown_delay=2)
    states: list[LifespanState] = []

    async def watch() -> None:
        for _ in range(10):
            states.append(service.state(app))
            await anyio.sleep(1)

    async with open_lifespan_service() as service:
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            await anyio.sleep(0.5)
            async with service.lease(app):  # startup from 0.5 to 2.5
                await anyio.sleep(2)  # running until 4.5, then shutdown until 6.5
        assert anyio.current_time() == start + 10
    assert (
        states
        == [STOPPED, STARTING, STARTING, RUNNING, RUNNING, STOPPING, STOPPING] + [STOPPED] * 3
    )


async def test_taking_a_lease_of_a_running_app_has_no_checkpoint() -> None:
    app = RecordingApp()
    async with open_lifespan_service() as service, service.lease(app):
        with anyio.CancelScope() as scope:
            scope.cancel()
            # Entering and leaving (not last) in a cancelled scope: any checkpoint
            # would raise; a lease of a running app takes none.
            async with service.lease(app), app.body():
                assert service.refcount(app) == 2
            assert service.refcount(app) == 1
        assert not scope.cancelled_caught


async def test_a_lease_may_be_entered_in_one_task_and_left_in_another() -> None:
    """No scope spans a lease, so unstructured users (a client opened by one task and
    closed by another) are safe; Prefect's helper corrupts trio's stacks here."""
    app = RecordingApp(shutdown_delay=1)
    async with open_lifespan_service() as service:
        lease = service.lease(app)
        async with anyio.create_task_group() as tg:
            tg.start_soon(lease.__aenter__)
        assert (service.state(app), service.refcount(app)) == (RUNNING, 1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(lease.__aexit__, None, None, None)
        assert (service.state(app), app.shutdowns) == (STOPPED, 1)


# -- apps that do not speak lifespan ---------------------------------------------------------


async def returns_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "lifespan":
        raise AssertionError("no requests expected")


async def rejects_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http", "only HTTP here"


@pytest.mark.parametrize(
    "make_app",
    [lambda: RecordingApp(lifespan=False), lambda: returns_at_once, lambda: rejects_lifespan],
    ids=["raises", "returns", "asserts-scope-type"],
)
async def test_app_without_lifespan_is_served_without_it(
    make_app: Callable[[], ASGIApp], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    async with open_lifespan_service() as service:
        async with service.lease(app) as state:
            assert service.state(app) is RUNNING
            assert dict(state) == {}
        assert service.state(app) is STOPPED
        async with service.lease(app):
            pass
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    unsupported = [m for m in messages if "does not support the lifespan protocol" in m]
    assert len(unsupported) == 2
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == LOGGER)


async def test_app_ending_its_lifespan_early_is_served_until_the_last_lease() -> None:
    async def short_lived(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})

    async with open_lifespan_service() as service:
        async with service.lease(short_lived):
            await anyio.sleep(1)
            assert service.state(short_lived) is RUNNING
        assert service.state(short_lived) is STOPPED


# -- timeouts (virtual clock) ---------------------------------------------------------------


@pytest.mark.parametrize("failure", ["hang", "no-receive-hang"])
async def test_startup_timeout(failure: StartupFailure) -> None:
    app = RecordingApp(startup_failure=failure)
    async with open_lifespan_service(startup_timeout=5) as service:
        start = anyio.current_time()
        with pytest.raises(LifespanStartupError, match="within 5 s") as caught:
            async with service.lease(app):
                pass
        assert anyio.current_time() == start + 5
        assert isinstance(caught.value.__cause__, TimeoutError)
        assert service.open_apps() == []
        assert app.active_calls == 0  # the app was cancelled, not left behind


async def test_default_startup_timeout_is_30_seconds() -> None:
    app = RecordingApp(startup_failure="hang")
    async with open_lifespan_service() as service:
        assert (service.startup_timeout, service.shutdown_timeout) == (30.0, 30.0)
        start = anyio.current_time()
        with pytest.raises(LifespanStartupError):
            async with service.lease(app):
                pass
        assert anyio.current_time() == start + 30


@pytest.mark.parametrize("timeout", [None, 4])
async def test_shutdown_timeout(timeout: float | None, caplog: pytest.LogCaptureFixture) -> None:
    app = RecordingApp(shutdown_failure="hang")
    kwargs = {} if timeout is None else {"shutdown_timeout": timeout}
    async with open_lifespan_service(**kwargs) as service:
        async with service.lease(app):
            start = anyio.current_time()
        assert anyio.current_time() == start + (timeout or 30)
        assert service.state(app) is STOPPED
        assert app.active_calls == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        f"ASGI app <RecordingApp object> did not finish lifespan.shutdown within "
        f"{timeout or 30} s; it was cancelled"
    ]


async def test_an_app_that_ignores_cancellation_is_reported_and_outlasts_waiters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every wait of ours is bounded even when an app shields its shutdown from the
    timeout: the leaver gives up after the timeout plus a grace second, the closing
    service cancels the lifespan task and reports it; the task group still waits."""

    async def stubborn(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        with anyio.CancelScope(shield=True):
            await anyio.sleep(100)
        await send({"type": "lifespan.shutdown.complete"})

    start = anyio.current_time()
    async with open_lifespan_service(startup_timeout=1, shutdown_timeout=1) as service:
        async with service.lease(stubborn):
            pass
        assert anyio.current_time() == start + 2  # the timeout plus a grace second
        assert service.state(stubborn) is STOPPING
    assert anyio.current_time() == start + 100
    messages = caplog.messages
    assert any("still shutting down after 2 s" in m for m in messages)
    assert any("apps still running 3 s after close began; cancelling" in m for m in messages)


@pytest.mark.parametrize(
    ("failure", "logged"),
    [
        ("failed", "failed to shut down: lifespan.shutdown.failed: disk full"),
        ("raise", "raised during lifespan.shutdown"),
    ],
)
async def test_shutdown_failure_is_logged_not_raised(
    failure: ShutdownFailure, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = RecordingApp(shutdown_failure=failure)
    async with open_lifespan_service() as service:
        async with service.lease(app):
            pass
        assert service.state(app) is STOPPED
        async with service.lease(app), app.body():  # the next generation is fine
            pass
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(records) == 2
    assert all(logged in r.getMessage() for r in records)
    if failure == "raise":
        assert all(r.exc_info and r.exc_info[0] is ShutdownBoom for r in records)


@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan")])
async def test_timeouts_must_be_positive_and_finite(value: float) -> None:
    with pytest.raises(ValueError, match="startup_timeout"):
        LifespanService(startup_timeout=value)
    with pytest.raises(ValueError, match="shutdown_timeout"):
        async with open_lifespan_service(shutdown_timeout=value):
            pass


# -- closing the service -------------------------------------------------------------------


async def test_closing_with_leases_held_shuts_down_and_late_exits_are_no_ops() -> None:
    app = RecordingApp(shutdown_delay=1)
    other = RecordingApp("other")
    entered = anyio.Event()
    release = anyio.Event()
    exits: list[str] = []

    async def holder(service: LifespanService) -> None:
        async with service.lease(app), service.lease(other), service.lease(app):
            entered.set()
            await release.wait()
        exits.append("clean")

    async with anyio.create_task_group() as outer:
        async with open_lifespan_service() as service:
            outer.start_soon(holder, service)
            await entered.wait()
            assert service.refcount(app) == 2
        # Leaving the service block shut both apps down while the leases are held.
        assert (app.startups, app.shutdowns, other.startups, other.shutdowns) == (1, 1, 1, 1)
        assert service.closed
        assert (service.state(app), service.refcount(app)) == (STOPPED, 0)
        with pytest.raises(RuntimeError, match="closed"):
            async with service.lease(app):
                pass
        release.set()
    assert exits == ["clean"]  # the late exits were no-ops, not errors
    assert (app.calls, app.shutdowns) == (1, 1)


async def test_a_late_exit_during_the_closing_shutdown_returns_at_once() -> None:
    app = RecordingApp(shutdown_delay=5)
    entered = anyio.Event()
    exit_took: list[float] = []

    async def holder(service: LifespanService) -> None:
        async with service.lease(app):
            entered.set()
            await wait_until(lambda: service.state(app) is STOPPING)
            left_at = anyio.current_time()
        exit_took.append(anyio.current_time() - left_at)

    async with anyio.create_task_group() as outer:
        async with open_lifespan_service() as service:
            outer.start_soon(holder, service)
            await entered.wait()
            start = anyio.current_time()
        assert anyio.current_time() == start + 5  # closing waited for the shutdown
    assert exit_took == [0]  # the holder's exit did not wait for it: a no-op
    assert (app.startups, app.shutdowns) == (1, 1)


async def test_closing_while_a_lease_waits_for_startup() -> None:
    app = RecordingApp(startup_delay=3)
    outcome: list[BaseException] = []

    async def waiter(service: LifespanService) -> None:
        try:
            async with service.lease(app):
                pytest.fail("entered an app of a closed service")
        except RuntimeError as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as outer, open_lifespan_service() as service:
        outer.start_soon(waiter, service)
        await wait_until(lambda: service.state(app) is STARTING)
        # Close let the startup finish, then shut the app down.
    assert (app.startups, app.shutdowns) == (1, 1)
    assert len(outcome) == 1
    assert type(outcome[0]) is RuntimeError
    assert "closed" in str(outcome[0])


async def test_service_block_errors_are_not_exception_groups() -> None:
    app = RecordingApp()
    with pytest.raises(ZeroDivisionError) as caught:
        async with open_lifespan_service() as service, service.lease(app):
            _ = 1 / 0
    assert type(caught.value) is ZeroDivisionError
    assert (app.startups, app.shutdowns) == (1, 1)


async def test_service_block_cancelled_from_outside_shuts_apps_down() -> None:
    app = RecordingApp(shutdown_delay=2)
    with anyio.move_on_after(1) as scope:
        async with open_lifespan_service() as service, service.lease(app):
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert (app.startups, app.shutdowns) == (1, 1)


# -- independence and references -----------------------------------------------------------


async def test_two_apps_are_independent() -> None:
    one, two = RecordingApp("one"), RecordingApp("two", startup_failure="raise")
    async with open_lifespan_service() as service:
        async with service.lease(one):
            with pytest.raises(LifespanStartupError):
                async with service.lease(two):
                    pass
            assert (service.state(one), service.refcount(one)) == (RUNNING, 1)
            two.startup_failure = None
            async with service.lease(two):
                assert (service.refcount(one), service.refcount(two)) == (1, 1)
            assert (service.state(one), service.state(two)) == (RUNNING, STOPPED)
            assert (two.shutdowns, one.shutdowns) == (1, 0)
        assert (one.startups, one.shutdowns) == (1, 1)


async def test_registries_belong_to_services() -> None:
    app = RecordingApp()
    async with (
        open_lifespan_service() as first,
        open_lifespan_service() as second,
        first.lease(app),
    ):
        assert (first.refcount(app), second.refcount(app)) == (1, 0)
        assert (first.state(app), second.state(app)) == (RUNNING, STOPPED)
        assert second.open_apps() == []


async def test_entries_hold_a_strong_reference_and_nothing_else_does() -> None:
    async with open_lifespan_service() as service:
        app = RecordingApp()
        untrack(app)  # the leak tracker's reference would keep it alive
        ref = weakref.ref(app)
        lease = service.lease(app)
        del app
        async with lease:
            gc.collect()
            assert ref() is not None  # kept alive by the service while it runs
        del lease
    gc.collect()
    assert ref() is None  # no process-wide registry kept it


async def test_lifespan_state_is_shared_read_only() -> None:
    app = RecordingApp(state={"db": "connected"})
    async with (
        open_lifespan_service() as service,
        service.lease(app) as state,
        service.lease(app) as same,
    ):
        assert dict(state) == {"db": "connected", "generation": 1}
        assert dict(same) == dict(state)
        with pytest.raises(TypeError):
            state["db"] = "gone"  # type: ignore[index]  # the point: it is read-only


async def test_a_lease_is_entered_once() -> None:
    app = RecordingApp()
    async with open_lifespan_service() as service:
        lease = service.lease(app)
        async with lease:
            with pytest.raises(RuntimeError, match="only once"):
                async with lease:
                    pass


async def test_a_service_not_opened_refuses_leases() -> None:
    with pytest.raises(RuntimeError, match="open_lifespan_service"):
        async with LifespanService().lease(RecordingApp()):
            pass


async def test_protocol_violation_is_a_startup_failure() -> None:
    async def confused(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        message: Message = {"type": "lifespan.shutdown.complete"}
        await send(message)

    async with open_lifespan_service() as service:
        with pytest.raises(LifespanStartupError, match="unexpected ASGI lifespan message"):
            async with service.lease(confused):
                pass
