"""Every automation method against a real Prefect server: trio, asyncio, and the sync client.

`automations_lifecycle` is written once against the async interface; the sync client runs
it through `Blocking`, and ``tests/server/test_automations.py`` runs it against the
embedded server too, so both servers are held to the same behaviour.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from prefect_trio_client.exceptions import ObjectNotFound
from prefect_trio_client.orchestration import PrefectClient, get_client
from prefect_trio_client.schemas.automations import (
    AutomationCore,
    AutomationFilter,
    AutomationFilterTags,
    ChangeFlowRunState,
    CompoundTrigger,
    DoNothing,
    EventTrigger,
    MetricTrigger,
    MetricTriggerOperator,
    MetricTriggerQuery,
    PauseWorkQueue,
    Posture,
    PrefectMetric,
    RunDeployment,
    SequenceTrigger,
    UnknownAction,
)
from prefect_trio_client.schemas.objects import StateType
from prefect_trio_client.schemas.sorting import AutomationSort
from tests.interop.test_lifecycle import Blocking

pytestmark = [pytest.mark.interop, pytest.mark.anyio]


async def _refused(call: Any) -> None:
    """The server answers 422 (what it cannot store)."""
    with pytest.raises(httpx.HTTPStatusError) as info:
        await call
    assert info.value.response.status_code == 422


async def automations_lifecycle(client: Any, unique: str) -> None:
    tag = f"automation-{unique}"
    owner_deployment, run_deployment = uuid4(), uuid4()
    owner = f"prefect.deployment.{owner_deployment}"
    trigger = EventTrigger(
        expect={"prefect.flow-run.Failed"},
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.role": "flow"},
        threshold=2,
        within=timedelta(seconds=30),
    )
    core = AutomationCore(
        name=f"auto-{unique}",
        tags=[tag],
        trigger=trigger,
        actions=[RunDeployment(deployment_id=run_deployment, parameters={"x": 1})],
        actions_on_resolve=[DoNothing()],
        owner_resource=owner,
    )
    automation_id = await client.create_automation(core)
    read = await client.read_automation(automation_id)
    assert (read.id, read.name, read.tags, read.enabled) == (automation_id, core.name, [tag], True)
    assert read.trigger == trigger
    assert read.actions == core.actions
    assert read.actions_on_resolve == [DoNothing()]
    assert read.owner_resource is None  # the server keeps the owner as a relation only
    assert read.created is not None

    compound = AutomationCore(
        name=f"auto-{unique}-compound",
        tags=[tag],
        trigger=CompoundTrigger(
            require="all",
            within=timedelta(minutes=5),
            triggers=[
                EventTrigger(expect={"a.started"}),
                EventTrigger(expect={"a.finished"}, posture=Posture.Proactive),
            ],
        ),
        actions=[ChangeFlowRunState(state=StateType.CANCELLED, message="stop")],
    )
    compound_id = await client.create_automation(compound)
    read_compound = await client.read_automation(compound_id)
    assert isinstance(read_compound.trigger, CompoundTrigger)
    inner = read_compound.trigger.triggers[1]
    assert isinstance(inner, EventTrigger)
    assert inner.within == timedelta(seconds=10)  # Proactive minimum
    sequence_id = await client.create_automation(
        AutomationCore(
            name=f"auto-{unique}-sequence",
            enabled=False,
            tags=[tag],
            trigger=SequenceTrigger(triggers=[EventTrigger(expect={"x"})]),
            actions=[PauseWorkQueue(source="inferred")],
        )
    )

    # listing, by name, find
    mine = AutomationFilter(tags=AutomationFilterTags(any_=[tag]))
    listed = await client.read_automations(automations=mine, sort=AutomationSort.NAME_DESC)
    assert [a.id for a in listed] == [sequence_id, compound_id, automation_id]
    page = await client.read_automations(automations=mine, limit=1, offset=1)
    assert [a.id for a in page] == [compound_id]
    by_name = await client.read_automations_by_name(f"auto-{unique}-compound")
    assert [a.id for a in by_name] == [compound_id]
    assert await client.read_automations_by_name(f"auto-{unique}-none") == []
    assert (await client.find_automation(compound_id)).id == compound_id
    assert (await client.find_automation(str(sequence_id))).id == sequence_id
    assert (await client.find_automation(f"AUTO-{unique}-COMPOUND")).id == compound_id
    assert await client.find_automation(f"no-automation-{unique}") is None
    with pytest.raises(ObjectNotFound):
        await client.find_automation(uuid4())
    with pytest.raises(ObjectNotFound):
        await client.read_automation(uuid4())

    # pause, resume
    await client.pause_automation(automation_id)
    assert (await client.read_automation(automation_id)).enabled is False
    await client.resume_automation(automation_id)
    assert (await client.read_automation(automation_id)).enabled is True
    with pytest.raises(ObjectNotFound):
        await client.pause_automation(uuid4())

    # update: a read automation goes back changed; the owner cannot change
    related = await client.read_resource_related_automations(f"prefect.deployment.{run_deployment}")
    assert [a.id for a in related] == [automation_id]
    changed = read.model_copy(
        update={
            "name": f"auto-{unique}-renamed",
            "description": "changed",
            "actions": [DoNothing()],
        }
    )
    await client.update_automation(automation_id, changed)
    after = await client.read_automation(automation_id)
    assert (after.name, after.description, after.actions) == (
        f"auto-{unique}-renamed",
        "changed",
        [DoNothing()],
    )
    assert after.trigger == trigger
    assert (
        await client.read_resource_related_automations(f"prefect.deployment.{run_deployment}") == []
    )
    with pytest.raises(ValueError, match="owner_resource"):
        await client.update_automation(automation_id, core)
    with pytest.raises(ObjectNotFound):
        await client.update_automation(uuid4(), changed)

    # what the open-source server cannot store
    metric = MetricTrigger(
        metric=MetricTriggerQuery(
            name=PrefectMetric.duration, threshold=60.0, operator=MetricTriggerOperator.GT
        )
    )
    await _refused(client.create_automation(core.model_copy(update={"trigger": metric})))
    unknown = core.model_copy(update={"actions": [UnknownAction(type=f"zap-{unique}")]})
    await _refused(client.create_automation(unknown))

    # owned automations go with their owner
    owned = await client.read_resource_related_automations(owner)
    assert [a.id for a in owned] == [automation_id]
    await client.delete_resource_owned_automations(owner)
    with pytest.raises(ObjectNotFound):
        await client.read_automation(automation_id)
    assert await client.read_resource_related_automations(owner) == []
    await client.delete_resource_owned_automations(owner)  # nothing left: no error

    await client.delete_automation(compound_id)
    await client.delete_automation(sequence_id)
    with pytest.raises(ObjectNotFound):
        await client.delete_automation(compound_id)
    assert await client.read_automations(automations=mine) == []


@pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"])
async def test_automations_async(anyio_backend: str, api_url: str, unique: str) -> None:
    async with get_client() as client:
        assert isinstance(client, PrefectClient)
        await automations_lifecycle(client, unique)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_automations_sync(anyio_backend: str, api_url: str, unique: str) -> None:
    with get_client(sync_client=True) as client:
        await automations_lifecycle(Blocking(client), unique)
