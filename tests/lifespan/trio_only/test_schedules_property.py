"""A hypothesis property over random lease schedules, on trio's virtual clock.

Each example draws users (when each enters, how deep it nests, how long it holds,
whether it is cancelled and when, whether its body raises) and an app (startup and
shutdown durations, which startups fail), runs them against one service under
``trio.run(..., clock=MockClock(autojump_threshold=0))`` and checks at every event and
on a sampling task:

* startups - shutdowns is 1 while any lease is held (a body runs), 0 when the service
  reports the app STOPPED, and never outside {0, 1};
* generations never overlap (the app asserts one lifespan call at a time);
* no body runs outside a started app (the app asserts it at body entry and exit);
* at the end every startup was matched by a shutdown, nothing is registered.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_trio_client.exceptions import LifespanStartupError
from prefect_trio_client.lifespan import (
    LifespanService,
    LifespanState,
    app_lifespan_context,
    open_lifespan_service,
)
from tests.lifespan.apps import RecordingApp

times = st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0])


@dataclass(frozen=True)
class User:
    enter_at: float
    depth: int
    hold: float
    cancel_after: float | None
    raises: bool
    via_context: bool


users = st.builds(
    User,
    enter_at=times,
    depth=st.integers(1, 3),
    hold=times,
    cancel_after=st.none() | times,
    raises=st.booleans(),
    via_context=st.booleans(),
)


class BodyError(Exception):
    pass


@dataclass
class Observed:
    held: int = 0
    bodies: int = 0
    cancelled: int = 0
    raised: int = 0
    completed: int = 0
    startup_errors: int = 0
    checks: int = 0


def check(app: RecordingApp, service: LifespanService, seen: Observed) -> None:
    seen.checks += 1
    diff = app.startups - app.shutdowns
    assert diff in (0, 1), f"startups - shutdowns = {diff}"
    if seen.held:
        assert diff == 1, "a lease is held but the app is not started"
        assert service.state(app) is LifespanState.RUNNING
    if service.state(app) is LifespanState.STOPPED:
        assert diff == 0, "the service says STOPPED but the app is started"
        assert app.active_calls == 0


async def run_schedule(
    schedule: list[User],
    startup_delay: float,
    shutdown_delay: float,
    failing_startups: frozenset[int],
) -> tuple[RecordingApp, Observed]:
    app = RecordingApp(
        startup_delay=startup_delay, shutdown_delay=shutdown_delay, failing_calls=failing_startups
    )
    seen = Observed()

    with trio.fail_after(600):  # virtual seconds: the schedules end long before
        return await _run(app, seen, schedule)


async def _run(
    app: RecordingApp, seen: Observed, schedule: list[User]
) -> tuple[RecordingApp, Observed]:
    async with open_lifespan_service(startup_timeout=4, shutdown_timeout=4) as service:

        async def enter(user: User, level: int) -> None:
            use = app_lifespan_context(app) if user.via_context else service.lease(app)
            async with use:
                if level < user.depth:
                    await enter(user, level + 1)
                    return
                generation = app.enter_body()
                seen.held += 1
                seen.bodies += 1
                check(app, service, seen)
                try:
                    await trio.sleep(user.hold)
                    if user.raises:
                        raise BodyError
                finally:
                    check(app, service, seen)
                    seen.held -= 1
                    app.exit_body(generation)

        async def run_user(user: User) -> None:
            await trio.sleep(user.enter_at)
            with trio.CancelScope() as scope:
                if user.cancel_after is not None:
                    scope.deadline = trio.current_time() + user.cancel_after
                try:
                    await enter(user, 1)
                    seen.completed += 1
                except BodyError:
                    seen.raised += 1
                except LifespanStartupError:
                    seen.startup_errors += 1
            if scope.cancelled_caught:
                seen.cancelled += 1
            check(app, service, seen)

        async def sample(stop: trio.Event) -> None:
            while not stop.is_set():
                check(app, service, seen)
                await trio.sleep(0.125)

        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sample, stop)
            async with trio.open_nursery() as users_nursery:
                for user in schedule:
                    users_nursery.start_soon(run_user, user)
            # Leases given up during a startup leave the shutdown to the service.
            with trio.fail_after(60):  # virtual seconds: a bug fails, it does not hang
                while service.state(app) is not LifespanState.STOPPED:  # noqa: ASYNC110
                    await trio.sleep(0.125)
            check(app, service, seen)
            stop.set()
        assert service.open_apps() == []
    return app, seen


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schedule=st.lists(users, min_size=1, max_size=8),
    startup_delay=times,
    shutdown_delay=times,
    failing_startups=st.frozensets(st.integers(1, 4), max_size=2),
)
def test_random_schedules_keep_the_invariants(
    schedule: list[User],
    startup_delay: float,
    shutdown_delay: float,
    failing_startups: frozenset[int],
) -> None:
    app, seen = trio.run(
        run_schedule,
        schedule,
        startup_delay,
        shutdown_delay,
        failing_startups,
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    assert app.violations == []
    assert app.max_active_calls <= 1  # generations never overlap
    assert app.startups == app.shutdowns  # every startup matched by a shutdown
    assert (app.active_calls, app.torn_down_open) == (0, 0)
    assert seen.held == 0
    assert seen.checks > 0
    assert seen.bodies == app.bodies
    outcomes = seen.completed + seen.cancelled + seen.raised + seen.startup_errors
    assert outcomes == len(schedule)  # each user ended one known way
    if not seen.startup_errors and all(u.cancel_after is None for u in schedule):
        assert seen.raised == sum(u.raises for u in schedule)
        assert seen.completed == len(schedule) - seen.raised


def test_property_checker_can_fail() -> None:
    """The invariant check rejects a state it must reject."""
    app = RecordingApp()
    untracked_service = LifespanService()
    seen = Observed(held=1)
    with pytest.raises(AssertionError, match="not started"):
        check(app, untracked_service, seen)
    app.startups = 2
    with pytest.raises(AssertionError, match="startups - shutdowns = 2"):
        check(app, untracked_service, Observed())
    app.startups = 0
