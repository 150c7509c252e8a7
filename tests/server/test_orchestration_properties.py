"""Property test: any sequence of proposals keeps a run's bookkeeping consistent with
its state history, and terminal states are never left without force."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_trio_client.schemas.objects import TERMINAL_STATES, FlowRun, State, StateType, TaskRun
from prefect_trio_client.schemas.responses import OrchestrationResult, SetStateStatus
from tests.server.helpers import FakeClock

pytestmark = pytest.mark.anyio

proposals = st.lists(
    st.tuples(
        st.sampled_from([t for t in StateType if t is not StateType.PAUSED]),
        st.booleans(),  # force
        st.floats(min_value=0, max_value=30, allow_nan=False),  # seconds to move the clock
        st.booleans(),  # repeat the current transition id
    ),
    max_size=12,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=proposals, kind=st.sampled_from(["flow_runs", "task_runs"]))
async def test_bookkeeping_follows_the_history(
    client: httpx.AsyncClient, clock: FakeClock, steps: list[Any], kind: str
) -> None:
    flow = (await client.post("/flows/", json={"name": "props"})).json()
    flow_run = (await client.post("/flow_runs/", json={"flow_id": flow["id"]})).json()
    run_id = flow_run["id"]
    if kind == "task_runs":
        await client.post(
            f"/flow_runs/{run_id}/set_state", json={"state": {"type": "RUNNING"}, "force": True}
        )
        body = {"flow_run_id": run_id, "task_key": "t", "dynamic_key": str(uuid.uuid4())}
        run_id = (await client.post("/task_runs/", json=body)).json()["id"]
    last_transition: str | None = None
    for state_type, force, seconds, repeat in steps:
        clock.advance(seconds)
        before = (await client.get(f"/{kind}/{run_id}")).json()
        transition = last_transition if repeat and last_transition else str(uuid.uuid4())
        proposal = {"type": state_type.value, "state_details": {"transition_id": transition}}
        response = await client.post(
            f"/{kind}/{run_id}/set_state", json={"state": proposal, "force": force}
        )
        assert response.status_code in (200, 201), response.text
        result = OrchestrationResult.model_validate(response.json())
        written = response.status_code == 201
        if written:
            assert result.state is not None
            assert result.state.id != uuid.UUID(before["state_id"])
            last_transition = transition if result.status is SetStateStatus.ACCEPT else None
        else:
            assert result.state is not None
            assert str(result.state.id) == before["state_id"]
        if StateType(before["state_type"]) in TERMINAL_STATES and not force:
            assert result.status is not SetStateStatus.ACCEPT
    model = FlowRun if kind == "flow_runs" else TaskRun
    run = model.model_validate((await client.get(f"/{kind}/{run_id}")).json())
    parameter = "flow_run_id" if kind == "flow_runs" else "task_run_id"
    history_path = "/flow_run_states/" if kind == "flow_runs" else "/task_run_states/"
    raw = (await client.get(history_path, params={parameter: run_id})).json()
    history = [State.model_validate(s) for s in raw]
    assert run.state is not None
    assert run.state == history[-1]
    assert (run.state_type, run.state_name, run.state_id) == (
        history[-1].type,
        history[-1].name,
        history[-1].id,
    )
    assert [s.timestamp for s in history] == sorted({s.timestamp for s in history})
    entered_running = [
        current
        for previous, current in zip([None, *history], history, strict=False)
        if current.is_running() and (previous is None or not previous.is_paused())
    ]
    assert run.run_count == len(entered_running)
    running_time = sum(
        (
            (after.timestamp - current.timestamp)
            for current, after in itertools.pairwise(history)
            if current.is_running()
        ),
        timedelta(0),
    )
    assert run.total_run_time == running_time
    assert (run.end_time is not None) == run.state.is_final()
    if entered_running:
        assert run.start_time is not None
        assert run.start_time <= entered_running[0].timestamp
    assert run.expected_start_time == history[0].timestamp
