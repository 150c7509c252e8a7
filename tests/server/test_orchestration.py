"""The orchestration rules and the run bookkeeping, through the API (see
``prefect_trio_client.server._orchestration`` for the rules in order)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from prefect_trio_client.schemas.objects import FlowRun, State, TaskRun
from prefect_trio_client.schemas.responses import OrchestrationResult
from tests.server.helpers import FakeClock, assert_keys_like, samples

pytestmark = pytest.mark.anyio
SAMPLES = samples()
Json = dict[str, Any]


class Runs:
    """Small verbs over the API for these tests."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def flow_run(self, **fields: Any) -> str:
        flow = await self.client.post("/flows/", json={"name": "rules"})
        body = {"flow_id": flow.json()["id"], **fields}
        response = await self.client.post("/flow_runs/", json=body)
        assert response.status_code == 201, response.text
        run_id: str = response.json()["id"]
        return run_id

    async def task_run(self, flow_run_id: str | None, key: str = "task", **fields: Any) -> str:
        body = {"flow_run_id": flow_run_id, "task_key": key, "dynamic_key": "0", **fields}
        response = await self.client.post("/task_runs/", json=body)
        assert response.status_code == 201, response.text
        run_id: str = response.json()["id"]
        return run_id

    async def propose(
        self,
        run_id: str,
        type: str,
        *,
        kind: str = "flow_runs",
        force: bool = False,
        expect: int | None = None,
        **details: Any,
    ) -> OrchestrationResult:
        state: Json = {"type": type}
        name = details.pop("name", None)
        if name is not None:
            state["name"] = name
        if details:
            state["state_details"] = details
        response = await self.client.post(
            f"/{kind}/{run_id}/set_state", json={"state": state, "force": force}
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return OrchestrationResult.model_validate(response.json())

    async def read(self, run_id: str) -> FlowRun:
        return FlowRun.model_validate((await self.client.get(f"/flow_runs/{run_id}")).json())

    async def read_task(self, run_id: str) -> TaskRun:
        return TaskRun.model_validate((await self.client.get(f"/task_runs/{run_id}")).json())


@pytest.fixture
def runs(client: httpx.AsyncClient) -> Runs:
    return Runs(client)


async def test_accepted_transition_matches_prefect(runs: Runs) -> None:
    run_id = await runs.flow_run()
    transition = str(uuid.uuid4())
    result = await runs.propose(run_id, "RUNNING", expect=201, transition_id=transition)
    assert (result.status.value, result.details.type) == ("ACCEPT", "accept_details")
    assert result.state is not None
    assert result.state.is_running()
    assert str(result.state.state_details.transition_id) == transition
    sample = SAMPLES["POST /flow_runs/{id}/set_state"]["response_body"]
    response = await runs.client.post(
        f"/flow_runs/{run_id}/set_state", json={"state": {"type": "COMPLETED"}}
    )
    assert_keys_like(response.json(), sample)


async def test_a_repeated_transition_id_is_rejected_with_the_current_state(runs: Runs) -> None:
    run_id = await runs.flow_run()
    transition = str(uuid.uuid4())
    first = await runs.propose(run_id, "RUNNING", transition_id=transition)
    again = await runs.propose(run_id, "RUNNING", expect=200, transition_id=transition)
    assert again.status.value == "REJECT"
    assert again.details.reason == "This run has already made this state transition."  # type: ignore[union-attr]
    assert again.state == first.state
    assert (await runs.read(run_id)).run_count == 1


async def test_a_repeated_transition_id_is_rejected_for_task_runs_too(runs: Runs) -> None:
    flow_run = await runs.flow_run()
    await runs.propose(flow_run, "RUNNING")
    task = await runs.task_run(flow_run)
    transition = str(uuid.uuid4())
    await runs.propose(task, "RUNNING", kind="task_runs", transition_id=transition)
    again = await runs.propose(task, "RUNNING", kind="task_runs", transition_id=transition)
    assert again.status.value == "REJECT"
    assert (await runs.read_task(task)).run_count == 1


@pytest.mark.parametrize("terminal", ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"])
@pytest.mark.parametrize("kind", ["flow_runs", "task_runs"])
async def test_terminal_states_are_left_only_with_force(
    runs: Runs, terminal: str, kind: str
) -> None:
    flow_run = await runs.flow_run()
    await runs.propose(flow_run, "RUNNING")
    run_id = flow_run if kind == "flow_runs" else await runs.task_run(flow_run)
    if kind == "task_runs":
        await runs.propose(run_id, "RUNNING", kind=kind)
    await runs.propose(run_id, terminal, kind=kind, force=True)
    refused = await runs.propose(run_id, "RUNNING", kind=kind, expect=200)
    assert refused.status.value == "REJECT"
    assert refused.state is not None
    assert refused.state.type.value == terminal
    assert "force=True" in (refused.details.reason or "")  # type: ignore[union-attr]
    aborted = await runs.propose(run_id, "CRASHED", kind=kind, expect=200)
    assert aborted.status.value == "ABORT"
    assert "already" in (aborted.details.reason or "")  # type: ignore[union-attr]
    forced = await runs.propose(run_id, "RUNNING", kind=kind, force=True, expect=201)
    assert forced.status.value == "ACCEPT"


async def test_running_to_pending_is_aborted_with_prefects_reason(runs: Runs) -> None:
    run_id = await runs.flow_run()
    await runs.propose(run_id, "RUNNING")
    result = await runs.propose(run_id, "PENDING", expect=200)
    sample = SAMPLES["POST /flow_runs/{id}/set_state -> ABORT (RUNNING -> PENDING)"]
    assert result.status.value == "ABORT"
    assert result.details.reason == sample["response_body"]["details"]["reason"]  # type: ignore[union-attr]
    assert result.state is not None
    assert result.state.is_running()


async def test_pending_sub_states_may_follow_each_other(runs: Runs) -> None:
    run_id = await runs.flow_run()
    assert (await runs.propose(run_id, "PENDING")).status.value == "ABORT"
    renamed = await runs.propose(run_id, "PENDING", name="Submitting")
    assert renamed.status.value == "ACCEPT"


async def test_bookkeeping_counts_and_times(runs: Runs, clock: FakeClock) -> None:
    run_id = await runs.flow_run(state={"type": "SCHEDULED"})
    created = await runs.read(run_id)
    assert created.expected_start_time == clock.now
    assert created.next_scheduled_start_time == clock.now
    clock.advance(1)
    await runs.propose(run_id, "PENDING")
    pending = await runs.read(run_id)
    assert pending.next_scheduled_start_time is None
    assert pending.state is not None
    assert pending.state.state_details.scheduled_time is not None
    clock.advance(1)
    start = clock.now
    await runs.propose(run_id, "RUNNING")
    clock.advance(2)
    running = await runs.read(run_id)
    assert (running.run_count, running.start_time, running.end_time) == (1, start, None)
    assert running.estimated_run_time == timedelta(seconds=2)
    assert running.estimated_start_time_delta == timedelta(seconds=2)
    await runs.propose(run_id, "FAILED", force=True)
    clock.advance(5)
    await runs.propose(run_id, "RUNNING", force=True)
    clock.advance(3)
    end = clock.now
    await runs.propose(run_id, "COMPLETED")
    done = await runs.read(run_id)
    assert done.run_count == 2
    assert done.start_time == start
    assert done.end_time == end
    assert done.total_run_time == timedelta(seconds=5)  # 2 s, then 3 s; not the 5 s failed
    assert (done.state_type, done.state_name) == (done.state.type, "Completed")  # type: ignore[union-attr]
    assert done.state_id == done.state.id  # type: ignore[union-attr]


async def test_running_before_the_scheduled_time_waits(runs: Runs, clock: FakeClock) -> None:
    later = clock.now + timedelta(seconds=90)
    run_id = await runs.flow_run(
        state={"type": "SCHEDULED", "state_details": {"scheduled_time": later.isoformat()}}
    )
    result = await runs.propose(run_id, "RUNNING", expect=200)
    assert result.status.value == "WAIT"
    assert result.details.delay_seconds == 90  # type: ignore[union-attr]
    assert result.state is not None
    assert result.state.is_scheduled()
    clock.advance(90)
    assert (await runs.propose(run_id, "RUNNING")).status.value == "ACCEPT"


async def test_failed_flow_runs_with_retries_are_rescheduled(runs: Runs, clock: FakeClock) -> None:
    policy = {"retries": 1, "retry_delay": 10}
    run_id = await runs.flow_run(empirical_policy=policy)
    await runs.propose(run_id, "RUNNING")
    retry = await runs.propose(run_id, "FAILED", expect=201)
    assert retry.status.value == "REJECT"
    assert retry.state is not None
    assert (retry.state.type.value, retry.state.name) == ("SCHEDULED", "AwaitingRetry")
    assert retry.state.state_details.scheduled_time == clock.now + timedelta(seconds=10)
    assert (await runs.propose(run_id, "RUNNING")).status.value == "WAIT"
    clock.advance(10)
    assert (await runs.propose(run_id, "RUNNING")).status.value == "ACCEPT"
    final = await runs.propose(run_id, "FAILED")
    assert final.status.value == "ACCEPT"  # no retries left
    assert (await runs.read(run_id)).run_count == 2


async def test_failed_task_runs_with_retries_are_retried(runs: Runs) -> None:
    flow_run = await runs.flow_run()
    await runs.propose(flow_run, "RUNNING")
    task = await runs.task_run(flow_run, empirical_policy={"retries": 2, "retry_delay": [0, 0]})
    await runs.propose(task, "RUNNING", kind="task_runs")
    retry = await runs.propose(task, "FAILED", kind="task_runs")
    assert retry.state is not None
    assert retry.state.name == "AwaitingRetry"
    again = await runs.propose(task, "RUNNING", kind="task_runs")
    assert again.state is not None
    assert again.state.name == "Retrying"
    not_retriable = await runs.propose(task, "FAILED", kind="task_runs", retriable=False)
    assert not_retriable.status.value == "ACCEPT"
    read = await runs.read_task(task)
    assert (read.run_count, read.flow_run_run_count) == (2, 1)


async def test_tasks_need_a_running_flow_run(runs: Runs) -> None:
    flow_run = await runs.flow_run()
    task = await runs.task_run(flow_run)
    refused = await runs.propose(task, "RUNNING", kind="task_runs", expect=200)
    assert refused.status.value == "ABORT"
    assert refused.details.reason == "The enclosing flow must be running to begin task execution."  # type: ignore[union-attr]
    await runs.propose(flow_run, "RUNNING")
    assert (await runs.propose(task, "RUNNING", kind="task_runs")).status.value == "ACCEPT"
    alone = await runs.task_run(None, key="alone")
    assert (await runs.propose(alone, "RUNNING", kind="task_runs")).status.value == "ACCEPT"


async def test_pause_and_resume(runs: Runs, clock: FakeClock) -> None:
    run_id = await runs.flow_run()
    not_running = await runs.propose(run_id, "PAUSED", pause_key="p1")
    assert not_running.status.value == "REJECT"
    await runs.propose(run_id, "RUNNING")
    task = await runs.task_run(run_id)
    timeout = (clock.now + timedelta(minutes=10)).isoformat()
    paused = await runs.propose(run_id, "PAUSED", pause_key="p1", pause_timeout=timeout)
    assert paused.status.value == "ACCEPT"
    blocked = await runs.propose(task, "RUNNING", kind="task_runs")
    assert blocked.status.value == "REJECT"
    assert blocked.state is not None
    assert blocked.state.name == "NotReady"
    response = await runs.client.post(f"/flow_runs/{run_id}/resume", json={"run_input": None})
    assert response.status_code == 201
    resumed = OrchestrationResult.model_validate(response.json())
    assert resumed.status.value == "ACCEPT"
    assert_keys_like(response.json(), SAMPLES["POST /flow_runs/{id}/resume"]["response_body"])
    assert (await runs.read(run_id)).run_count == 1  # resuming is not a new attempt
    again = await runs.propose(run_id, "PAUSED", pause_key="p1")
    assert again.status.value == "REJECT"
    assert again.details.reason == "This pause has already fired."  # type: ignore[union-attr]


async def test_a_pause_that_timed_out_fails_the_run(runs: Runs, clock: FakeClock) -> None:
    run_id = await runs.flow_run()
    await runs.propose(run_id, "RUNNING")
    timeout = (clock.now + timedelta(seconds=30)).isoformat()
    await runs.propose(run_id, "PAUSED", pause_timeout=timeout)
    clock.advance(31)
    result = await runs.propose(run_id, "RUNNING")
    assert result.status.value == "REJECT"
    assert result.state is not None
    assert result.state.is_failed()


async def test_resume_of_a_run_that_is_not_paused_aborts(runs: Runs) -> None:
    run_id = await runs.flow_run()
    response = await runs.client.post(f"/flow_runs/{run_id}/resume", json={"run_input": None})
    sample = SAMPLES["POST /flow_runs/{id}/resume -> ABORT (run is COMPLETED, not paused)"]
    assert (response.status_code, response.json()) == (200, sample["response_body"])
    missing = await runs.client.post(f"/flow_runs/{uuid.uuid4()}/resume")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Flow run not found"})


async def test_cancelling_a_scheduled_run_cancels_it(runs: Runs) -> None:
    run_id = await runs.flow_run(state={"type": "SCHEDULED"})
    result = await runs.propose(run_id, "CANCELLING", expect=201)
    assert result.status.value == "REJECT"
    assert result.state is not None
    assert result.state.is_cancelled()
    assert (await runs.read(run_id)).end_time is not None


async def test_subflow_states_are_mirrored_on_the_parent_task(runs: Runs) -> None:
    parent = await runs.flow_run()
    await runs.propose(parent, "RUNNING")
    task = await runs.task_run(parent)
    child = await runs.flow_run(parent_task_run_id=task)
    await runs.propose(child, "RUNNING")
    mirrored = await runs.read_task(task)
    assert mirrored.state is not None
    assert mirrored.state.is_running()
    assert str(mirrored.state.state_details.child_flow_run_id) == child
    subflows = {"task_runs": {"subflow_runs": {"exists_": True}}}
    listed = await runs.client.post("/task_runs/filter", json=subflows)
    assert [t["id"] for t in listed.json()] == [task]


async def test_unknown_runs_are_404(runs: Runs) -> None:
    for kind, detail in (("flow_runs", "Flow run not found"), ("task_runs", "Task run not found")):
        response = await runs.client.post(
            f"/{kind}/{uuid.uuid4()}/set_state", json={"state": {"type": "RUNNING"}}
        )
        assert (response.status_code, response.json()) == (404, {"detail": detail})


async def test_states_have_server_ids_and_details(runs: Runs) -> None:
    run_id = await runs.flow_run()
    result = await runs.propose(run_id, "RUNNING", cache_key="ignored-but-kept")
    assert isinstance(result.state, State)
    assert str(result.state.state_details.flow_run_id) == run_id
    assert result.state.state_details.cache_key == "ignored-but-kept"
