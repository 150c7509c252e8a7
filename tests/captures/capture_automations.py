"""Record Prefect's client calling every automation method against a real Prefect server.

Run from the repository root with the interop virtualenv, against a fresh server you
started (it expects no other automations)::

    PYTHONPATH=. .nox/interop/bin/python tests/captures/capture_automations.py \
        http://127.0.0.1:4311/api

It writes ``tests/data/captures/automations.json`` and deletes every automation it made.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import anyio

from tests.captures.recorder import recording

OUT = Path(__file__).resolve().parents[1] / "data" / "captures" / "automations.json"
DEPLOYMENT_ID = UUID("5b0e3c1a-9d64-4f0e-8a77-2f1d6c9e4b10")
"""A deployment id the RunDeployment action selects (the server does not check it)."""


async def main(api_url: str) -> None:
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import AutomationSort
    from prefect.events.actions import (
        CallWebhook,
        ChangeFlowRunState,
        DoNothing,
        PauseWorkQueue,
        RunDeployment,
        SendNotification,
    )
    from prefect.events.filters import AutomationFilter, AutomationFilterTags
    from prefect.events.schemas.automations import (
        AutomationCore,
        CompoundTrigger,
        EventTrigger,
        MetricTrigger,
        MetricTriggerOperator,
        MetricTriggerQuery,
        Posture,
        PrefectMetric,
        SequenceTrigger,
    )

    owner = f"prefect.deployment.{DEPLOYMENT_ID}"
    event = AutomationCore(
        name="capture-automation",
        description="runs a deployment when a flow run fails",
        tags=["capture"],
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": ["etl"]},
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=2,
            within=timedelta(seconds=30),
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=DEPLOYMENT_ID,
                parameters={"x": 1},
                schedule_after=timedelta(seconds=5),
            )
        ],
        actions_on_trigger=[
            SendNotification(block_document_id=uuid4(), body="{{ event.resource.id }} failed")
        ],
        actions_on_resolve=[DoNothing()],
        owner_resource=owner,
    )
    compound = AutomationCore(
        name="capture-compound",
        trigger=CompoundTrigger(
            require="any",
            within=timedelta(minutes=5),
            triggers=[
                EventTrigger(expect={"prefect.flow-run.Completed"}, posture=Posture.Reactive),
                EventTrigger(
                    expect={"prefect.flow-run.Running"},
                    posture=Posture.Proactive,
                    within=timedelta(minutes=1),
                ),
            ],
        ),
        actions=[ChangeFlowRunState(state=StateType.CANCELLED, message="stopped")],
    )
    sequence = AutomationCore(
        name="capture-sequence",
        enabled=False,
        trigger=SequenceTrigger(
            triggers=[
                EventTrigger(expect={"a.started"}, posture=Posture.Reactive),
                EventTrigger(expect={"a.finished"}, posture=Posture.Reactive),
            ],
        ),
        actions=[PauseWorkQueue(source="inferred")],
    )
    metric = AutomationCore(
        name="capture-metric",
        trigger=MetricTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            metric=MetricTriggerQuery(
                name=PrefectMetric.duration,
                threshold=60.5,
                operator=MetricTriggerOperator.GT,
                range=timedelta(minutes=10),
                firing_for=timedelta(minutes=5),
            ),
        ),
        actions=[CallWebhook(block_document_id=uuid4(), payload='{"a": 1}')],
    )

    async with recording(api_url) as (client, record):
        created: list[UUID] = []
        for label, automation in [
            ("create_automation", event),
            ("create_automation compound", compound),
            ("create_automation sequence", sequence),
        ]:
            record.method = label
            created.append(await client.create_automation(automation))
        first = created[0]

        record.method = "create_automation metric"
        try:  # metric triggers are Prefect Cloud's: the open-source server answers 422
            await client.create_automation(metric)
        except Exception as exc:
            print("create_automation with a metric trigger:", type(exc).__name__)

        record.method = "read_automation"
        read = await client.read_automation(first)
        assert read is not None
        assert read.name == "capture-automation"

        record.method = "read_automation missing"
        try:
            await client.read_automation(uuid4())
        except Exception as exc:  # Prefect's client raises on the 404
            print("read_automation of an unknown id:", type(exc).__name__)

        record.method = "read_automations"
        found = await client.read_automations(
            automations=AutomationFilter(tags=AutomationFilterTags(any_=["capture"])),
            sort=AutomationSort.NAME_DESC,
            limit=5,
            offset=0,
        )
        assert [a.name for a in found] == ["capture-automation"]

        record.method = "read_automations all"
        everything = await client.read_automations()
        assert len(everything) == 3

        record.method = "read_automations_by_name"
        by_name = await client.read_automations_by_name("capture-compound")
        assert [a.id for a in by_name] == [created[1]]

        record.method = "find_automation by id"
        assert (await client.find_automation(created[2])) is not None

        record.method = "find_automation by name"
        found_one = await client.find_automation("CAPTURE-SEQUENCE")
        assert found_one is not None
        assert found_one.id == created[2]

        record.method = "pause_automation"
        await client.pause_automation(first)
        record.method = "resume_automation"
        await client.resume_automation(first)

        record.method = "update_automation"
        # A body of every AutomationCore field (the PUT accepts neither id nor owner).
        fields: dict[str, Any] = read.model_dump(mode="json", exclude={"id", "owner_resource"})
        fields.update(name="capture-automation-2", description="updated", enabled=False)
        await client.update_automation(first, AutomationCore.model_validate(fields))

        record.method = "read_resource_related_automations"
        related = await client.read_resource_related_automations(owner)
        assert [a.id for a in related] == [first]

        record.method = "delete_resource_owned_automations"
        await client.delete_resource_owned_automations(owner)

        record.method = "delete_automation"
        for automation_id in created[1:]:
            await client.delete_automation(automation_id)

        record.method = "delete_automation missing"
        try:
            await client.delete_automation(first)  # deleted with its owner above
        except Exception as exc:
            print("delete_automation of an unknown id:", type(exc).__name__)

    record.save(OUT)
    print(f"{len(record.exchanges)} exchanges -> {OUT}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4311/api")
