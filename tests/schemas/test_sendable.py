"""The fast sendability check agrees with the one that words the error (hypothesis).

Write models check every value with `_sendable` and word the error with `_unsendable`
only when it says no; so `_sendable` must say no exactly where `_unsendable` finds a
problem, or a bad value would be sent (or a good one refused without a reason).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_trio_client.schemas.objects import (
    FlowRunPolicy,
    StateDetails,
    StateType,
    WorkPoolStatus,
    _sendable,
    _unknown_member,
    _unsendable,
)

LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.binary(max_size=3),
    st.just(UUID(int=7)),
    st.just(datetime(2026, 1, 1, tzinfo=timezone.utc)),
    st.just(timedelta(seconds=3)),
    st.just(Decimal("NaN")),  # not a float: sent as it is, by both checks
    st.sampled_from([StateType.RUNNING, WorkPoolStatus.READY]),
    st.just(_unknown_member(StateType, "NEWER")),  # only a newer server knows it
)


def models(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    details = st.builds(
        StateDetails,
        cache_key=st.one_of(st.none(), st.text(max_size=3)),
        run_input_keyset=st.one_of(st.none(), st.dictionaries(st.text(max_size=2), st.text())),
    )
    policy = st.builds(
        FlowRunPolicy.model_construct,  # unvalidated: may hold any value
        retry_delay_seconds=st.floats(allow_nan=True, allow_infinity=True),
        pause_keys=st.one_of(st.none(), st.sets(st.text(max_size=2), max_size=2)),
        retry_type=children,
    )
    return st.one_of(details, policy)


VALUES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.frozensets(st.one_of(st.integers(), st.text(max_size=2)), max_size=3),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
        models(children),
    ),
    max_leaves=12,
)


@given(VALUES)
@settings(max_examples=500, deadline=None)
def test_the_fast_check_agrees_with_the_worded_one(value: Any) -> None:
    assert _sendable(value) is (_unsendable(value, "value") is None)


def test_each_kind_of_problem_is_found_by_both() -> None:
    for bad in (
        math.nan,
        [1.0, -math.inf],
        {"a": {"b": (math.nan,)}},
        _unknown_member(StateType, "NEWER"),
        FlowRunPolicy.model_construct(retry_delay_seconds=math.inf),
    ):
        assert not _sendable(bad)
        assert _unsendable(bad, "value") is not None
