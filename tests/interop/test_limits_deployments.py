"""Tag (v1) limits, global limits without a lease, and deployment schedules, pausing,
branches and SLAs against a real Prefect server: trio, asyncio and the sync client.

The scenario is written once against the async interface (the sync client runs it through
`Blocking`); ``tests/server/test_limits_deployments.py`` runs it against the embedded
server too, so both servers are held to the same answers.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest

from prefect_trio_client.exceptions import (
    ObjectAlreadyExists,
    ObjectNotFound,
    PrefectHTTPStatusError,
)
from prefect_trio_client.orchestration import get_client
from prefect_trio_client.schemas.actions import (
    DeploymentScheduleCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect_trio_client.schemas.objects import (
    CronSchedule,
    IntervalSchedule,
    TimeToCompletionSla,
)
from tests.interop.test_lifecycle import Blocking

pytestmark = [pytest.mark.interop, pytest.mark.anyio]

ANCHOR = datetime(2030, 1, 1, tzinfo=timezone.utc)


async def tag_limits(client: Any, unique: str) -> None:
    tag = f"tag-{unique}"
    run_1, run_2, run_3 = uuid4(), uuid4(), uuid4()

    async def holders() -> set[Any]:
        return set((await client.read_concurrency_limit_by_tag(tag)).active_slots)

    limit_id = await client.create_concurrency_limit(tag, 1)
    assert await client.create_concurrency_limit(tag, 2) == limit_id  # an upsert
    limit = await client.read_concurrency_limit_by_tag(tag)
    assert (limit.id, limit.tag, limit.concurrency_limit, limit.active_slots) == (
        limit_id,
        tag,
        2,
        [],
    )
    assert tag in [x.tag for x in await client.read_concurrency_limits(limit=200, offset=0)]
    # Prefect 3 keeps a tag limit as a global one.
    assert (await client.read_global_concurrency_limit_by_name(f"tag:{tag}")).limit == 2

    taken = await client.increment_v1_concurrency_slots([tag], run_1)
    assert [x["name"] for x in taken.json()] == [tag]
    await client.increment_v1_concurrency_slots([tag], run_2)
    with pytest.raises(PrefectHTTPStatusError) as full:
        await client.increment_v1_concurrency_slots([tag], run_3)
    assert full.value.response.status_code == 423
    assert f"for the {tag} tag has been reached" in full.value.response.text
    assert await holders() == {run_1, run_2}

    freed = await client.decrement_v1_concurrency_slots([tag], run_1, 1.0)
    assert [x["name"] for x in freed.json()] == [f"tag:{tag}"]
    assert await holders() == {run_2}
    again = await client.decrement_v1_concurrency_slots([tag], run_1, 1.0)  # nothing held
    assert again.status_code == 200
    assert await holders() == {run_2}

    await client.reset_concurrency_limit_by_tag(tag, slot_override=[run_3])
    assert await holders() == {run_3}
    await client.reset_concurrency_limit_by_tag(tag)
    assert await holders() == set()

    await client.delete_concurrency_limit_by_tag(tag)
    with pytest.raises(ObjectNotFound):
        await client.read_concurrency_limit_by_tag(tag)
    with pytest.raises(ObjectNotFound):
        await client.delete_concurrency_limit_by_tag(tag)
    with pytest.raises(ObjectNotFound):
        await client.reset_concurrency_limit_by_tag(tag)


async def global_limits(client: Any, unique: str) -> None:
    name = f"gcl-{unique}"

    async def read() -> Any:
        return await client.read_global_concurrency_limit_by_name(name)

    await client.upsert_global_concurrency_limit_by_name(name, 1)
    assert (await read()).limit == 1
    await client.upsert_global_concurrency_limit_by_name(name, 2, slot_decay_per_second=0.0)
    assert (await read()).limit == 2
    await client.upsert_global_concurrency_limit_by_name(name, 2)  # nothing to change
    updated = await client.update_global_concurrency_limit(
        name, GlobalConcurrencyLimitUpdate(limit=3)
    )
    assert updated.status_code == 204
    assert (await read()).limit == 3
    listed = await client.read_global_concurrency_limits(limit=200)
    assert name in [x.name for x in listed]
    assert [x.name for x in listed] == sorted(x.name for x in listed)

    taken = await client.increment_concurrency_slots([name], 2, "concurrency")
    assert [x["name"] for x in taken.json()] == [name]
    assert (await read()).active_slots == 2
    with pytest.raises(PrefectHTTPStatusError) as locked:
        await client.increment_concurrency_slots([name], 2, "concurrency")
    assert locked.value.response.status_code == 423
    assert float(locked.value.response.headers["Retry-After"]) >= 0
    with pytest.raises(PrefectHTTPStatusError) as too_many:
        await client.increment_concurrency_slots([name], 4, "concurrency")
    assert too_many.value.response.status_code == 422
    released = await client.release_concurrency_slots([name], 2, 1.5)
    assert [x["name"] for x in released.json()] == [name]
    assert (await read()).active_slots == 0
    unknown = await client.release_concurrency_slots([f"{name}-missing"], 1, 1.0)
    assert unknown.json() == []

    with pytest.raises(ObjectNotFound):
        await client.update_global_concurrency_limit(
            f"{name}-missing", GlobalConcurrencyLimitUpdate(limit=1)
        )
    await client.delete_global_concurrency_limit_by_name(name)


async def deployments(client: Any, unique: str) -> None:
    flow_id = await client.create_flow_from_name(f"flow-{unique}")
    deployment_id = await client.create_deployment(flow_id, f"deployment-{unique}")

    hourly = IntervalSchedule(interval=timedelta(hours=1), anchor_date=ANCHOR, timezone="UTC")
    (first,) = await client.create_deployment_schedules(
        deployment_id, [(hourly, True)], max_scheduled_runs=5, parameters={"x": 1}, slug="hourly"
    )
    assert (first.slug, first.active, first.max_scheduled_runs, first.parameters) == (
        "hourly",
        True,
        5,
        {"x": 1},
    )
    assert first.deployment_id == deployment_id
    cron = CronSchedule(cron="0 9 * * *", timezone="Europe/Paris")
    (second,) = await client.create_deployment_schedules(
        deployment_id, [DeploymentScheduleCreate(schedule=cron, active=False, slug="mornings")]
    )
    with pytest.raises(ObjectAlreadyExists):
        await client.create_deployment_schedules(
            deployment_id, [DeploymentScheduleCreate(schedule=cron, slug="hourly")]
        )
    schedules = await client.read_deployment_schedules(deployment_id)
    assert [s.id for s in schedules] == [second.id, first.id]  # last updated first

    half_hourly = IntervalSchedule(
        interval=timedelta(minutes=30), anchor_date=ANCHOR, timezone="UTC"
    )
    await client.update_deployment_schedule(
        deployment_id,
        first.id,
        active=False,
        schedule=half_hourly,
        max_scheduled_runs=3,
        slug="half-hourly",
    )
    changed = (await client.read_deployment_schedules(deployment_id))[0]
    assert (changed.id, changed.slug, changed.active, changed.max_scheduled_runs) == (
        first.id,
        "half-hourly",
        False,
        3,
    )
    # Prefect's server reads a missing `parameters` as {}, so an update clears them.
    assert changed.parameters == {}
    assert isinstance(changed.schedule, IntervalSchedule)
    assert changed.schedule.interval == timedelta(minutes=30)
    await client.update_deployment_schedule(deployment_id, first.id, active=True)
    assert (await client.read_deployment_schedules(deployment_id))[0].active is True
    with pytest.raises(ObjectNotFound):
        await client.update_deployment_schedule(deployment_id, uuid4(), active=True)

    await client.delete_deployment_schedule(deployment_id, first.id)
    assert [s.id for s in await client.read_deployment_schedules(deployment_id)] == [second.id]
    with pytest.raises(ObjectNotFound):
        await client.delete_deployment_schedule(deployment_id, first.id)
    with pytest.raises(ObjectNotFound):
        await client.read_deployment_schedules(uuid4())
    assert [s.id for s in (await client.read_deployment(deployment_id)).schedules] == [second.id]

    await client.pause_deployment(deployment_id)
    assert (await client.read_deployment(deployment_id)).paused is True
    await client.resume_deployment(str(deployment_id))
    assert (await client.read_deployment(deployment_id)).paused is False
    await client.set_deployment_paused_state(deployment_id, True)
    assert (await client.read_deployment(deployment_id)).paused is True
    with pytest.raises(ObjectNotFound):
        await client.pause_deployment(uuid4())

    # Prefect Cloud only: an open-source server has no such routes.
    with pytest.raises(ObjectNotFound):
        await client.create_deployment_branch(deployment_id, "feature")
    with pytest.raises(ObjectNotFound):
        await client.apply_slas_for_deployment(
            deployment_id, [TimeToCompletionSla(name="fast", duration=600)]
        )

    await client.delete_deployment(deployment_id)
    await client.delete_flow(flow_id)


async def limits_and_deployments(client: Any, unique: str) -> None:
    """Every method of this group, with the answers a Prefect 3.9 server gives."""
    await tag_limits(client, unique)
    await global_limits(client, unique)
    await deployments(client, unique)


@pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"])
async def test_limits_and_deployments_async(anyio_backend: str, api_url: str, unique: str) -> None:
    async with get_client() as client:
        await limits_and_deployments(client, unique)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_limits_and_deployments_sync(anyio_backend: str, api_url: str, unique: str) -> None:
    with get_client(sync_client=True) as client:
        await limits_and_deployments(Blocking(client), unique)
