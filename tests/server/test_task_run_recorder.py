"""The embedded server's task-run recorder: task runs written from the events a client's
engine sends (through ``POST /events`` and ``/events/in``), as Prefect 3.9.1's recorder
writes them: idempotent on event id, the newest state kept whatever the order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from prefect_trio_client import states
from prefect_trio_client.events import get_events_client
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.orchestration.flow_runs import post_flow_run
from prefect_trio_client.schemas.actions import FlowRunCreate
from prefect_trio_client.schemas.events import Event
from prefect_trio_client.schemas.filters import (
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect_trio_client.schemas.objects import StateType
from prefect_trio_client.server import create_app

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
LIFE = [("PENDING", "Pending", None), ("RUNNING", "Running", "PENDING")]
LIFE += [("COMPLETED", "Completed", "RUNNING")]


def task_run_event(
    task_run_id: UUID,
    flow_run_id: UUID | None,
    step: int,
    *,
    dynamic_key: str = "0",
    orchestration: str | None = "client",
    event_id: UUID | None = None,
) -> dict[str, Any]:
    """The event of step `step` of `LIFE`, shaped as Prefect's engine sends it."""
    state_type, name, initial = LIFE[step]
    occurred = T0 + timedelta(seconds=step)
    resource = {
        "prefect.resource.id": f"prefect.task-run.{task_run_id}",
        "prefect.resource.name": "add-0",
        "prefect.run-count": str(min(step, 1)),
        "prefect.state-message": "",
        "prefect.state-name": name,
        "prefect.state-timestamp": occurred.isoformat(),
        "prefect.state-type": state_type,
    }
    if orchestration is not None:
        resource["prefect.orchestration"] = orchestration
    related = []
    if flow_run_id is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
                "prefect.resource.name": "a-run",
            }
        )
    task_run: dict[str, Any] = {
        "name": "add-0",
        "task_key": "add-1234",
        "dynamic_key": dynamic_key,
        "empirical_policy": {"max_retries": 0, "retry_delay_seconds": 0.0, "retries": 0},
        "tags": ["etl"],
        "labels": {},
        "task_inputs": {"x": []},
        "run_count": min(step, 1),
        "flow_run_run_count": 1,
        "expected_start_time": T0.isoformat(),
        "total_run_time": 1.0 if step == 2 else 0.0,
    }
    if step >= 1:
        task_run["start_time"] = (T0 + timedelta(seconds=1)).isoformat()
    if step == 2:
        task_run["end_time"] = occurred.isoformat()
    return Event.model_validate(
        {
            "id": event_id or uuid4(),
            "occurred": occurred,
            "event": f"prefect.task-run.{name}",
            "resource": resource,
            "related": related,
            "payload": {
                "intended": {"from": initial, "to": state_type},
                "initial_state": None,
                "validated_state": {
                    "type": state_type,
                    "name": name,
                    "message": "",
                    "state_details": {},
                    "data": None,
                },
                "task_run": task_run,
            },
        }
    ).model_dump(mode="json")


async def new_flow_run(client: PrefectClient) -> UUID:
    flow_id = await client.create_flow_from_name("recorded")
    create = FlowRunCreate(flow_id=flow_id, state=states.Running().to_state_create())
    flow_run = await client._run(post_flow_run(create))
    return flow_run.id


async def post(client: PrefectClient, *events: dict[str, Any]) -> None:
    await client.request("POST", "/events", json=list(events))


@pytest.fixture
async def client() -> Any:
    async with PrefectClient(create_app(":memory:")) as client:
        yield client


async def test_posted_events_are_recorded_as_a_task_run(client: PrefectClient) -> None:
    flow_run_id = await new_flow_run(client)
    task_run_id = uuid4()
    events = [task_run_event(task_run_id, flow_run_id, step) for step in range(3)]
    await post(client, *events)
    [run] = await client.read_task_runs()
    assert run.id == task_run_id
    assert (run.flow_run_id, run.name, run.task_key, run.dynamic_key) == (
        flow_run_id,
        "add-0",
        "add-1234",
        "0",
    )
    assert (run.state_type, run.state_name, run.run_count) == (StateType.COMPLETED, "Completed", 1)
    assert run.state is not None
    assert str(run.state.id) == events[2]["id"]
    assert run.tags == ["etl"]
    assert run.start_time == T0 + timedelta(seconds=1)
    assert run.end_time == T0 + timedelta(seconds=2)
    history = await client.read_task_run_states(task_run_id)
    assert [str(state.id) for state in history] == [event["id"] for event in events]
    assert all(state.state_details.task_run_id == task_run_id for state in history)
    assert all(state.state_details.flow_run_id == flow_run_id for state in history)
    completed = TaskRunFilter(
        state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.COMPLETED]))
    )
    assert [r.id for r in await client.read_task_runs(task_run_filter=completed)] == [task_run_id]
    body = {"task_runs": completed.model_dump(mode="json")}
    assert (await client.request("POST", "/task_runs/count", json=body)).json() == 1


async def test_recording_is_idempotent_on_event_id(client: PrefectClient) -> None:
    flow_run_id = await new_flow_run(client)
    task_run_id = uuid4()
    events = [task_run_event(task_run_id, flow_run_id, step) for step in range(3)]
    await post(client, *events)
    await post(client, *events, *events)  # sent again, as after a lost confirmation
    assert len(await client.read_task_runs()) == 1
    assert len(await client.read_task_run_states(task_run_id)) == 3


async def test_events_out_of_order_leave_the_newest_state(client: PrefectClient) -> None:
    flow_run_id = await new_flow_run(client)
    task_run_id = uuid4()
    pending, running, completed = (task_run_event(task_run_id, flow_run_id, s) for s in range(3))
    await post(client, completed)
    await post(client, running, pending)
    [run] = await client.read_task_runs()
    assert run.state_name == "Completed"
    assert run.end_time == T0 + timedelta(seconds=2)
    history = await client.read_task_run_states(task_run_id)
    assert [state.name for state in history] == ["Pending", "Running", "Completed"]


async def test_the_natural_key_keeps_the_first_id(client: PrefectClient) -> None:
    flow_run_id = await new_flow_run(client)
    first, second = uuid4(), uuid4()
    await post(client, task_run_event(first, flow_run_id, 0))
    await post(client, task_run_event(second, flow_run_id, 1))  # same flow run, key, dynamic key
    [run] = await client.read_task_runs()
    assert run.id == first
    assert run.state_name == "Running"
    assert len(await client.read_task_run_states(first)) == 2


async def test_only_client_orchestrated_events_of_known_flow_runs(client: PrefectClient) -> None:
    flow_run_id = await new_flow_run(client)
    await post(client, task_run_event(uuid4(), flow_run_id, 0, orchestration=None))
    await post(client, task_run_event(uuid4(), uuid4(), 0))  # no such flow run: discarded
    assert await client.read_task_runs() == []
    alone = uuid4()
    await post(client, task_run_event(alone, None, 0, dynamic_key="add-1234-abc"))
    [run] = await client.read_task_runs()
    assert (run.id, run.flow_run_id) == (alone, None)


async def test_events_through_the_websocket_are_recorded(client: PrefectClient) -> None:
    app = client._app
    assert app is not None
    flow_run_id = await new_flow_run(client)
    task_run_id = uuid4()
    async with get_events_client(app) as events:
        for step in range(3):
            events.emit_nowait(Event.model_validate(task_run_event(task_run_id, flow_run_id, step)))
    assert events.transport == "websocket"
    [run] = await client.read_task_runs()
    assert (run.id, run.state_name) == (task_run_id, "Completed")
    assert len(await client.read_task_run_states(task_run_id)) == 3
