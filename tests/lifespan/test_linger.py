"""`LifespanService.lease(app, linger=...)`: the last lease out leaves at once and the
service keeps the app running a while for the next user (both backends, virtual time)."""

from __future__ import annotations

import anyio
import pytest

from prefect_trio_client.lifespan import LifespanState, open_lifespan_service
from tests.lifespan.apps import RecordingApp

pytestmark = pytest.mark.anyio


async def test_the_last_lease_out_leaves_at_once_and_the_app_stops_after_the_linger() -> None:
    app = RecordingApp(shutdown_delay=1)
    async with open_lifespan_service() as service:
        async with service.lease(app, linger=5):
            app.exit_body(app.enter_body())
        assert anyio.current_time() == 0  # no shutdown waited for
        assert service.state(app) is LifespanState.RUNNING
        assert service.refcount(app) == 0
        await anyio.sleep(4.9)
        assert app.shutdowns == 0
        await app.stopped.wait()
        assert anyio.current_time() == pytest.approx(6)  # 5 s of linger, 1 s of shutdown
        assert (app.startups, app.shutdowns) == (1, 1)
        assert service.state(app) is LifespanState.STOPPED


async def test_a_lease_arriving_while_the_app_lingers_enters_at_once_and_restarts_the_linger() -> (
    None
):
    app = RecordingApp(startup_delay=1)
    async with open_lifespan_service() as service:
        async with service.lease(app, linger=5):
            pass
        await anyio.sleep(4)
        async with service.lease(app, linger=5):
            assert anyio.current_time() == pytest.approx(5)  # no startup: it was running
            await anyio.sleep(3)  # past the first linger's end
        assert (app.startups, app.shutdowns) == (1, 0)
        await app.stopped.wait()
        assert anyio.current_time() == pytest.approx(13)  # 5 s after the second left
        assert (app.startups, app.shutdowns) == (1, 1)


async def test_closing_the_service_stops_a_lingering_app_at_once() -> None:
    app = RecordingApp()
    async with open_lifespan_service() as service, service.lease(app, linger=1000):
        pass
    assert anyio.current_time() == 0
    assert (app.startups, app.shutdowns) == (1, 1)


async def test_a_cancelled_service_stops_a_lingering_app() -> None:
    app = RecordingApp(shutdown_delay=2)
    with anyio.CancelScope() as scope:
        async with open_lifespan_service() as service:
            async with service.lease(app, linger=1000):
                pass
            scope.cancel()
            await anyio.sleep(1)
    assert (app.startups, app.shutdowns) == (1, 1)
    assert anyio.current_time() == pytest.approx(2)  # the shutdown was waited for


@pytest.mark.parametrize("linger", [-1.0, float("inf"), float("nan")])
async def test_a_bad_linger_is_refused(linger: float) -> None:
    async with open_lifespan_service() as service:
        with pytest.raises(ValueError, match="linger must be"):
            service.lease(RecordingApp(), linger=linger)
