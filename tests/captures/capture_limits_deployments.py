"""Record Prefect's client for tag (v1) limits, the v2 slot calls without a lease, and the
deployment schedule, pause, branch and SLA calls, against a real Prefect 3.9.1 server.

Run from the repository root with Prefect's interpreter (``nox -s interop`` makes one)::

    PYTHONPATH=$PWD .nox/interop/bin/python tests/captures/capture_limits_deployments.py \
        http://127.0.0.1:4200/api

It writes ``tests/data/captures/limits_deployments.json``. Every name it creates carries a
random suffix, and it deletes what it made, so it can run against a shared server.
"""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio

from tests.captures.recorder import recording

OUT = Path(__file__).resolve().parents[1] / "data" / "captures" / "limits_deployments.json"


async def expect_error(call: Any) -> None:
    """Run a call that the server refuses; the exchange is what we want."""
    try:
        await call
    except Exception as exc:  # any refusal is recorded, then shown
        print(f"  refused as expected: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    else:
        raise AssertionError("the server accepted a call it should refuse")


async def main(api_url: str) -> None:
    from prefect._experimental.sla.objects import LatenessSla, TimeToCompletionSla
    from prefect.client.schemas.actions import (
        DeploymentScheduleCreate,
        DeploymentUpdate,
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.client.schemas.objects import (
        BranchingScheduleHandling,
        DeploymentBranchingOptions,
    )
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    suffix = uuid.uuid4().hex[:8]
    tag = f"capture-tag-{suffix}"
    gcl = f"capture-gcl-{suffix}"
    task_run_id = uuid.UUID("8c0b8e0a-5d2c-4a57-9a5e-7f3f2f0f3a01")
    other_task_run_id = uuid.UUID("8c0b8e0a-5d2c-4a57-9a5e-7f3f2f0f3a02")
    anchor = datetime(2030, 1, 1, tzinfo=timezone.utc)

    async with recording(api_url) as (client, record):
        # ------------------------------------------------------------ tag (v1) limits
        record.method = "create_concurrency_limit"
        await client.create_concurrency_limit(tag=tag, concurrency_limit=1)
        record.method = "create_concurrency_limit again (an upsert)"
        await client.create_concurrency_limit(tag=tag, concurrency_limit=2)
        record.method = "read_concurrency_limit_by_tag"
        await client.read_concurrency_limit_by_tag(tag)
        record.method = "read_concurrency_limits"
        await client.read_concurrency_limits(limit=10, offset=0)
        record.method = "increment_v1_concurrency_slots"
        await client.increment_v1_concurrency_slots([tag], task_run_id)
        record.method = "read_concurrency_limit_by_tag with a slot taken"
        await client.read_concurrency_limit_by_tag(tag)
        record.method = "increment_v1_concurrency_slots second"
        await client.increment_v1_concurrency_slots([tag], other_task_run_id)
        record.method = "increment_v1_concurrency_slots when full"
        await expect_error(
            client.increment_v1_concurrency_slots([tag], uuid.UUID(int=3)),
        )
        record.method = "decrement_v1_concurrency_slots"
        await client.decrement_v1_concurrency_slots([tag], task_run_id, 1.5)
        record.method = "reset_concurrency_limit_by_tag with slot_override"
        await client.reset_concurrency_limit_by_tag(tag, slot_override=[task_run_id])
        record.method = "read_concurrency_limit_by_tag after a reset"
        await client.read_concurrency_limit_by_tag(tag)
        record.method = "reset_concurrency_limit_by_tag"
        await client.reset_concurrency_limit_by_tag(tag)
        record.method = "delete_concurrency_limit_by_tag"
        await client.delete_concurrency_limit_by_tag(tag)
        record.method = "read_concurrency_limit_by_tag of an unknown tag"
        await expect_error(client.read_concurrency_limit_by_tag(tag))
        record.method = "delete_concurrency_limit_by_tag of an unknown tag"
        await expect_error(client.delete_concurrency_limit_by_tag(tag))
        record.method = "reset_concurrency_limit_by_tag of an unknown tag"
        await expect_error(client.reset_concurrency_limit_by_tag(tag))

        # ------------------------------------------------------------ global (v2) limits
        record.method = "setup"
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=gcl, limit=1)
        )
        record.method = "read_global_concurrency_limits"
        await client.read_global_concurrency_limits(limit=10, offset=0)
        record.method = "update_global_concurrency_limit"
        await client.update_global_concurrency_limit(
            gcl, GlobalConcurrencyLimitUpdate(limit=2, slot_decay_per_second=0.0)
        )
        record.method = "update_global_concurrency_limit of an unknown name"
        await expect_error(
            client.update_global_concurrency_limit(
                f"{gcl}-missing", GlobalConcurrencyLimitUpdate(limit=2)
            )
        )
        record.method = "increment_concurrency_slots"
        await client.increment_concurrency_slots([gcl], 2, "concurrency")
        record.method = "increment_concurrency_slots when full"
        await expect_error(client.increment_concurrency_slots([gcl], 1, "concurrency"))
        record.method = "release_concurrency_slots"
        await client.release_concurrency_slots([gcl], 2, 1.5)
        record.method = "release_concurrency_slots of unknown names"
        await client.release_concurrency_slots([f"{gcl}-missing"], 1, 1.5)
        upserted = f"{gcl}-upserted"
        record.method = "upsert_global_concurrency_limit_by_name (creates)"
        await client.upsert_global_concurrency_limit_by_name(upserted, 3)
        record.method = "upsert_global_concurrency_limit_by_name (updates)"
        await client.upsert_global_concurrency_limit_by_name(upserted, 4, slot_decay_per_second=0.5)
        record.method = "upsert_global_concurrency_limit_by_name (unchanged)"
        await client.upsert_global_concurrency_limit_by_name(upserted, 4)
        record.method = "cleanup"
        await client.delete_global_concurrency_limit_by_name(upserted)
        await client.delete_global_concurrency_limit_by_name(gcl)

        # ------------------------------------------------------------ deployments
        record.method = "setup"
        flow_id = await client.create_flow_from_name(f"capture-flow-{suffix}")
        deployment_id = await client.create_deployment(flow_id, f"capture-deployment-{suffix}")
        missing = uuid.UUID(int=7)

        record.method = "create_deployment_schedules (tuples)"
        created = await client.create_deployment_schedules(
            deployment_id,
            [(IntervalSchedule(interval=timedelta(hours=1), anchor_date=anchor), True)],
            max_scheduled_runs=5,
            parameters={"x": 1},
            slug="hourly",
        )
        record.method = "create_deployment_schedules"
        await client.create_deployment_schedules(
            deployment_id,
            [
                DeploymentScheduleCreate(
                    schedule=CronSchedule(cron="0 9 * * *", timezone="Europe/Paris"),
                    active=False,
                    slug="mornings",
                )
            ],
        )
        record.method = "create_deployment_schedules with a taken slug"
        try:
            await client.create_deployment_schedules(
                deployment_id,
                [DeploymentScheduleCreate(schedule=CronSchedule(cron="0 9 * * *"), slug="hourly")],
            )
        except Exception as exc:  # SQLite and PostgreSQL answer differently
            print(f"  taken slug: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        record.method = "read_deployment_schedules"
        await client.read_deployment_schedules(deployment_id)
        record.method = "read_deployment_schedules of an unknown deployment"
        await expect_error(client.read_deployment_schedules(missing))
        record.method = "update_deployment_schedule"
        await client.update_deployment_schedule(
            deployment_id,
            created[0].id,
            active=False,
            schedule=IntervalSchedule(interval=timedelta(minutes=30), anchor_date=anchor),
            max_scheduled_runs=3,
            parameters={"x": 2},
            slug="half-hourly",
        )
        record.method = "update_deployment_schedule active only"
        await client.update_deployment_schedule(deployment_id, created[0].id, active=True)
        record.method = "update_deployment_schedule of an unknown schedule"
        await expect_error(client.update_deployment_schedule(deployment_id, missing, active=True))
        record.method = "read_deployment_schedules after an update"
        await client.read_deployment_schedules(deployment_id)
        record.method = "delete_deployment_schedule"
        await client.delete_deployment_schedule(deployment_id, created[0].id)
        record.method = "delete_deployment_schedule of an unknown schedule"
        await expect_error(client.delete_deployment_schedule(deployment_id, created[0].id))

        record.method = "pause_deployment"
        await client.pause_deployment(deployment_id)
        record.method = "read_deployment after pause"
        await client.read_deployment(deployment_id)
        record.method = "resume_deployment"
        await client.resume_deployment(str(deployment_id))
        record.method = "set_deployment_paused_state"
        await client.set_deployment_paused_state(deployment_id, True)
        record.method = "pause_deployment of an unknown deployment"
        await expect_error(client.pause_deployment(missing))

        record.method = "create_deployment_branch"
        await expect_error(
            client.create_deployment_branch(
                deployment_id,
                "feature",
                options=DeploymentBranchingOptions(
                    schedule_handling=BranchingScheduleHandling.KEEP
                ),
                overrides=DeploymentUpdate(description="branched"),
            )
        )
        record.method = "create_deployment_branch without options"
        await expect_error(client.create_deployment_branch(deployment_id, "plain"))
        record.method = "apply_slas_for_deployment"
        await expect_error(
            client.apply_slas_for_deployment(
                deployment_id,
                [
                    TimeToCompletionSla(name="fast", duration=600, severity="high"),
                    LatenessSla(name="on-time", within=timedelta(minutes=10)),
                ],
            )
        )

        record.method = "cleanup"
        await client.delete_deployment(deployment_id)
        await client.delete_flow(flow_id)

    record.exchanges = {
        key: value
        for key, value in record.exchanges.items()
        if value["client_method"] not in ("setup", "cleanup")
        and value["path_template"] != "/csrf-token"  # the client's CSRF probe, not ours
    }
    record.save(OUT)
    print(f"{len(record.exchanges)} exchanges -> {OUT}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4200/api")
