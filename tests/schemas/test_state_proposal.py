"""`state_proposal` sends what `StateCreate.from_state` sends, or fails as it fails (hypothesis).

The proposal of every ``set_state`` skips building the model when the state holds only what
the model accepts as it is; these tests compare its bytes and errors with the model's over
states of any content, including values the model refuses and fields changed after the
state was built (a `State` does not validate assignments).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticSerializationError, to_json

from prefect_trio_client import states
from prefect_trio_client.schemas.actions import StateCreate, state_proposal
from prefect_trio_client.schemas.objects import State, StateDetails, StateType, _unknown_member
from tests.schemas.test_sendable import VALUES

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)

DETAILS = st.builds(
    StateDetails,
    flow_run_id=st.one_of(st.none(), st.just(UUID(int=3))),
    scheduled_time=st.one_of(st.none(), st.just(WHEN)),
    cache_key=st.one_of(st.none(), st.text(max_size=3)),
    untrackable_result=st.booleans(),
    run_input_keyset=st.one_of(st.none(), st.dictionaries(st.text(max_size=2), st.text())),
    retriable=st.one_of(st.none(), st.booleans()),
)
# Values a `State` holds only when a field was assigned after it was built.
ODD = st.one_of(st.none(), st.integers(), st.just(math.nan), st.just(["x"]), st.text(max_size=3))
IDS = st.fixed_dictionaries(
    {"transition_id": st.one_of(st.just(UUID(int=9)), st.just(str(UUID(int=9))))},
    optional={
        "flow_run_id": st.one_of(st.just(UUID(int=5)), st.just("not-a-uuid")),
        "task_run_id": st.just(UUID(int=6)),
    },
)


@st.composite
def proposed(draw: st.DrawFn) -> State:
    state = State(
        type=draw(st.sampled_from([*StateType, "NEWER"])),
        name=draw(st.one_of(st.none(), st.text(max_size=4))),
        message=draw(st.one_of(st.none(), st.text(max_size=4))),
        data=draw(VALUES),
        state_details=draw(DETAILS),
    )
    for field in draw(st.sets(st.sampled_from(["name", "message", "type", "data"]))):
        state.__dict__[field] = draw(ODD)
    if draw(st.booleans()):  # a details object of another class, or a detail changed in place
        state.__dict__["state_details"] = draw(
            st.one_of(st.builds(dict), st.just(_Details()), st.just(StateDetails()))
        )
        if isinstance(state.state_details, StateDetails):
            state.state_details.__dict__["cache_key"] = draw(ODD)
    return state


class _Details(StateDetails):
    pass


def _reference(state: State, ids: dict[str, Any]) -> bytes:
    return to_json({"state": _model(state, ids), "force": False})


def _outcome(make: Any) -> tuple[str, Any]:
    try:
        return "sent", make()
    except PydanticSerializationError as exc:
        # Bytes that are not UTF-8 fail in the encoder either way; pydantic words the
        # error by where it met them (inside the model's serializer or not).
        return type(exc).__name__, "invalid utf-8" in str(exc) or str(exc)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@given(proposed(), IDS)
@settings(max_examples=400, deadline=None)
def test_the_proposal_is_the_models_bytes_or_its_error(state: State, ids: dict[str, Any]) -> None:
    details = state.state_details
    before = None
    if isinstance(details, StateDetails):
        before = (dict(details.__dict__), set(details.model_fields_set))
    expected = _outcome(lambda: _reference(state, ids))
    got = _outcome(lambda: to_json({"state": state_proposal(state, ids), "force": False}))
    assert got == expected
    if before is not None:
        assert (details.__dict__, details.model_fields_set) == before  # left as it was


def test_a_constructed_state_takes_the_short_way_and_keeps_its_details() -> None:
    state = states.Scheduled(scheduled_time=WHEN)
    ids = {"transition_id": uuid4(), "flow_run_id": uuid4()}
    proposal = state_proposal(state, ids)
    assert isinstance(proposal, dict)  # not a model: nothing was validated again
    assert to_json({"state": proposal}) == to_json({"state": _model(state, ids)})
    assert state.state_details.transition_id is None
    assert state.state_details.flow_run_id is None


@pytest.mark.parametrize(
    "odd",
    [
        {"type": _unknown_member(StateType, "NEWER")},
        {"data": {"x": math.inf}},
        {"name": None},
        {"message": 3},
    ],
)
def test_what_the_model_would_check_takes_the_models_way(odd: dict[str, Any]) -> None:
    state = states.Running()
    state.__dict__.update(odd)
    outcome = _outcome(lambda: state_proposal(state, {"transition_id": uuid4()}))
    assert outcome[0] == "ValidationError" or isinstance(outcome[1], StateCreate)


def _model(state: State, ids: dict[str, Any]) -> StateCreate:
    proposal = StateCreate.from_state(state)
    for field, value in ids.items():
        setattr(proposal.state_details, field, value)
    return proposal
