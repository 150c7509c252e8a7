"""The state constructors, the ``is_*`` predicates and proposing a state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest
from pydantic import ValidationError

from prefect_trio_client import states
from prefect_trio_client.schemas.actions import StateCreate
from prefect_trio_client.schemas.objects import TERMINAL_STATES, State, StateDetails, StateType

PREDICATES: dict[StateType, Callable[[State], bool]] = {
    StateType.SCHEDULED: State.is_scheduled,
    StateType.PENDING: State.is_pending,
    StateType.RUNNING: State.is_running,
    StateType.COMPLETED: State.is_completed,
    StateType.FAILED: State.is_failed,
    StateType.CRASHED: State.is_crashed,
    StateType.CANCELLED: State.is_cancelled,
    StateType.CANCELLING: State.is_cancelling,
    StateType.PAUSED: State.is_paused,
}

SIMPLE: list[tuple[Callable[..., State], StateType, str]] = [
    (states.Pending, StateType.PENDING, "Pending"),
    (states.Running, StateType.RUNNING, "Running"),
    (states.Completed, StateType.COMPLETED, "Completed"),
    (states.Failed, StateType.FAILED, "Failed"),
    (states.Crashed, StateType.CRASHED, "Crashed"),
    (states.Cancelled, StateType.CANCELLED, "Cancelled"),
    (states.Cancelling, StateType.CANCELLING, "Cancelling"),
    (states.Retrying, StateType.RUNNING, "Retrying"),
    (states.Scheduled, StateType.SCHEDULED, "Scheduled"),
    (states.AwaitingRetry, StateType.SCHEDULED, "AwaitingRetry"),
    (states.AwaitingConcurrencySlot, StateType.SCHEDULED, "AwaitingConcurrencySlot"),
    (states.Late, StateType.SCHEDULED, "Late"),
    (states.Paused, StateType.PAUSED, "Paused"),
    (states.Suspended, StateType.PAUSED, "Suspended"),
]


def test_every_state_type_has_exactly_its_predicate() -> None:
    assert set(PREDICATES) == set(StateType)
    for state_type, predicate in PREDICATES.items():
        state = State(type=state_type)
        assert predicate(state)
        assert [t for t, p in PREDICATES.items() if p(state)] == [state_type]


def test_final_states_are_prefects_terminal_set() -> None:
    assert {t for t in StateType if State(type=t).is_final()} == {
        StateType.COMPLETED,
        StateType.FAILED,
        StateType.CRASHED,
        StateType.CANCELLED,
    }
    assert frozenset(TERMINAL_STATES) == {t for t in StateType if State(type=t).is_final()}


@pytest.mark.parametrize(
    ("factory", "state_type", "name"), SIMPLE, ids=lambda v: getattr(v, "__name__", str(v))
)
def test_constructors_set_type_name_and_message(
    factory: Callable[..., State], state_type: StateType, name: str
) -> None:
    before = datetime.now(timezone.utc)
    state = factory(message="hello")
    assert (state.type, state.name, state.message) == (state_type, name, "hello")
    assert state.timestamp.tzinfo == timezone.utc
    assert before <= state.timestamp <= datetime.now(timezone.utc)
    renamed = factory(name="Custom")
    assert renamed.name == "Custom"
    assert renamed.type is state_type


def test_each_call_is_a_new_state() -> None:
    first, second = states.Running(), states.Running()
    assert first.id != second.id


def test_data_and_details_are_passed_on() -> None:
    flow_run_id = uuid4()
    state = states.Completed(data={"result": 3}, state_details={"flow_run_id": flow_run_id})
    assert state.data == {"result": 3}
    assert state.state_details.flow_run_id == flow_run_id


def test_constructors_copy_the_details_they_are_given() -> None:
    details = StateDetails(flow_run_id=uuid4())
    state = states.Scheduled(state_details=details)
    assert state.state_details.flow_run_id == details.flow_run_id
    assert state.state_details is not details
    assert details.scheduled_time is None


def test_scheduled_defaults_to_now() -> None:
    before = datetime.now(timezone.utc)
    state = states.Scheduled()
    assert state.state_details.scheduled_time is not None
    assert before <= state.state_details.scheduled_time <= datetime.now(timezone.utc)


@pytest.mark.parametrize(
    "factory", [states.Scheduled, states.AwaitingRetry, states.Late, states.AwaitingConcurrencySlot]
)
def test_scheduled_time_is_kept_and_made_utc(factory: Callable[..., State]) -> None:
    when = datetime(2030, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    state = factory(scheduled_time=when)
    assert state.state_details.scheduled_time == when
    assert state.state_details.scheduled_time is not None
    assert state.state_details.scheduled_time.tzinfo == timezone.utc
    assert state.state_details.scheduled_time.hour == 12
    with pytest.raises(ValidationError, match=r"scheduled_time\n.*naive datetime"):
        factory(scheduled_time=datetime(2030, 5, 1, 14, 0))


def test_scheduled_time_in_details_is_used_but_not_twice() -> None:
    when = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert states.Scheduled(state_details={"scheduled_time": when}).state_details == StateDetails(
        scheduled_time=when
    )
    with pytest.raises(ValueError, match="extra scheduled_time"):
        states.Scheduled(scheduled_time=when, state_details={"scheduled_time": when})


def test_paused_with_a_timeout() -> None:
    before = datetime.now(timezone.utc)
    state = states.Paused(timeout_seconds=60, pause_key="approval")
    details = state.state_details
    assert details.pause_timeout is not None
    assert before + timedelta(seconds=60) <= details.pause_timeout
    assert details.pause_timeout <= datetime.now(timezone.utc) + timedelta(seconds=60)
    assert (details.pause_key, details.pause_reschedule) == ("approval", False)


def test_paused_with_an_expiration_time_and_reschedule() -> None:
    until = datetime(2030, 1, 1, tzinfo=timezone.utc)
    state = states.Paused(pause_expiration_time=until, reschedule=True)
    assert state.state_details.pause_timeout == until
    assert state.state_details.pause_reschedule is True
    assert states.Paused().state_details.pause_timeout is None


def test_suspended_always_reschedules() -> None:
    state = states.Suspended(timeout_seconds=5)
    assert state.is_paused()
    assert state.name == "Suspended"
    assert state.state_details.pause_reschedule is True


def test_paused_refuses_two_expirations() -> None:
    until = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="both"):
        states.Paused(timeout_seconds=1, pause_expiration_time=until)
    with pytest.raises(ValueError, match="extra pause timeout"):
        states.Paused(state_details={"pause_timeout": until})


def test_proposing_a_state_copies_what_the_server_needs() -> None:
    flow_run_id = uuid4()
    state = states.Failed(message="boom", data={"x": 1}, state_details={"flow_run_id": flow_run_id})
    create = state.to_state_create()
    assert isinstance(create, StateCreate)
    assert create == StateCreate.from_state(state)
    assert (create.type, create.name, create.message, create.data) == (
        StateType.FAILED,
        "Failed",
        "boom",
        {"x": 1},
    )
    assert create.model_dump(mode="json") == {
        "type": "FAILED",
        "name": "Failed",
        "message": "boom",
        "state_details": {"flow_run_id": str(flow_run_id)},
        "data": {"x": 1},
    }


def test_stamping_the_proposal_leaves_the_state_alone() -> None:
    state = states.Running()
    create = state.to_state_create()
    transition = uuid4()
    create.state_details.transition_id = transition
    assert state.state_details.transition_id is None
    assert create.model_dump(mode="json")["state_details"] == {"transition_id": str(transition)}


def test_a_proposal_shares_no_container_with_the_state() -> None:
    state = states.Paused(state_details={"run_input_keyset": {"k": "v"}})
    create = state.to_state_create()
    assert create.state_details.run_input_keyset == {"k": "v"}
    assert create.state_details.model_fields_set == state.state_details.model_fields_set
    assert create.state_details.run_input_keyset is not state.state_details.run_input_keyset
    create.state_details.run_input_keyset["k"] = "changed"
    assert state.state_details.run_input_keyset == {"k": "v"}


def test_a_scheduled_proposal_carries_its_time() -> None:
    when = datetime(2030, 1, 1, 8, 30, tzinfo=timezone.utc)
    dumped = states.Scheduled(scheduled_time=when).to_state_create().model_dump(mode="json")
    assert dumped == {
        "type": "SCHEDULED",
        "name": "Scheduled",
        "message": None,
        "state_details": {"scheduled_time": "2030-01-01T08:30:00.000000Z"},
        "data": None,
    }
