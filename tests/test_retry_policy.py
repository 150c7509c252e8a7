"""The sans-I/O retry policy: Retry-After parsing and jitter bounds, with hypothesis."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_trio_client._retry import Deliver, Retry, RetryPolicy, parse_retry_after

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)
delays = st.floats(min_value=0, max_value=1e6, allow_nan=False)
factors = st.floats(min_value=0, max_value=3, allow_nan=False)
caps = st.floats(min_value=0, max_value=1e4, allow_nan=False)


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_delta_seconds_parse_to_themselves(seconds: float) -> None:
    assert parse_retry_after(repr(seconds), now=NOW) == seconds


@given(st.integers(min_value=0, max_value=10**9))
def test_integer_delta_seconds(seconds: int) -> None:
    assert parse_retry_after(f" {seconds} ", now=NOW) == float(seconds)


@given(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False))
def test_negative_delta_means_now(seconds: float) -> None:
    assert parse_retry_after(str(seconds), now=NOW) == 0.0


@given(st.integers(min_value=-(10**6), max_value=10**8))
def test_http_dates_resolve_against_now(offset: int) -> None:
    when = NOW + timedelta(seconds=offset)
    assert parse_retry_after(format_datetime(when, usegmt=True), now=NOW) == max(offset, 0)


@given(st.text().filter(lambda t: not any(c.isdigit() for c in t)))
def test_text_without_digits_is_unusable(text: str) -> None:
    # Without digits, only the spellings of infinity and NaN parse as numbers: unusable too.
    assert parse_retry_after(text, now=NOW) is None


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "Infinity", "1e999"])
def test_non_finite_numbers_are_unusable(value: str) -> None:
    assert parse_retry_after(value, now=NOW) is None


@given(retry_after=delays, factor=factors, cap=caps, seed=st.integers())
def test_retry_after_jitter_never_below_the_ask_nor_above_the_cap(
    retry_after: float, factor: float, cap: float, seed: int
) -> None:
    policy = RetryPolicy(jitter_factor=factor, retry_after_max=cap, rng=random.Random(seed))
    delay = policy.jittered_retry_after(retry_after)
    assert min(retry_after, cap) <= delay <= cap
    if factor == 0:
        assert delay == min(retry_after, cap)


@given(
    failures=st.integers(min_value=1, max_value=200),
    factor=factors,
    cap=caps,
    seed=st.integers(),
)
def test_backoff_jitter_is_symmetric_around_the_capped_backoff(
    failures: int, factor: float, cap: float, seed: int
) -> None:
    policy = RetryPolicy(jitter_factor=factor, backoff_max=cap, rng=random.Random(seed))
    base = min(0.5 * 2.0 ** (failures - 1), cap)
    assert policy.backoff(failures) == base
    delay = policy.jittered_backoff(failures)
    assert max(base * (1 - factor), 0.0) <= delay <= min(base * (1 + factor), cap)


def test_backoff_jitter_spreads_both_ways() -> None:
    policy = RetryPolicy(jitter_factor=0.2, rng=random.Random(1))
    samples = [policy.jittered_backoff(3) for _ in range(200)]
    assert min(samples) < 2.0 < max(samples)
    assert min(samples) >= 1.6
    assert max(samples) <= 2.4


def test_decide_counts_attempts_and_stops_at_max() -> None:
    policy = RetryPolicy(max_retries=2, jitter_factor=0)
    state = policy.start(0.0)
    decisions = [policy.decide(state, now=0.0, wall_now=NOW, status_code=502) for _ in range(3)]
    assert [type(d) for d in decisions] == [Retry, Retry, Deliver]
    assert isinstance(decisions[2], Deliver)
    assert decisions[2].reason == "retries exhausted"
    assert state.attempts == 3


@pytest.mark.parametrize("code", [500, 504])
def test_a_server_error_is_retried_only_for_a_request_safe_to_send_twice(code: int) -> None:
    policy = RetryPolicy(jitter_factor=0)
    safe = policy.decide(policy.start(0.0), now=0.0, status_code=code, safe_to_resend=True)
    unsafe = policy.decide(policy.start(0.0), now=0.0, status_code=code, safe_to_resend=False)
    assert isinstance(safe, Retry)
    assert safe.counted
    assert unsafe == Deliver("outcome unknown", f"status {code} after sending")


def test_other_server_errors_are_final() -> None:
    policy = RetryPolicy(jitter_factor=0)
    for code in (501, 505, 507):
        decision = policy.decide(policy.start(0.0), now=0.0, status_code=code)
        assert decision == Deliver("final")


def test_decide_stops_before_the_deadline() -> None:
    policy = RetryPolicy(jitter_factor=0, timeout=10)
    state = policy.start(100.0)
    decision = policy.decide(
        state, now=109.8, wall_now=NOW, status_code=503, headers={"Retry-After": "1"}
    )
    assert isinstance(decision, Deliver)
    assert decision.reason == "deadline"
    assert "10s retry deadline (PREFECT_CLIENT_RETRY_TIMEOUT" in decision.detail
    state.deadline_from = "the 'retry_timeout' request extension"
    again = policy.decide(state, now=109.9, wall_now=NOW, status_code=503)
    assert isinstance(again, Deliver)
    assert "(the 'retry_timeout' request extension; " in again.detail


def test_decide_final_for_success_and_unknown_errors() -> None:
    policy = RetryPolicy()
    state = policy.start(0.0)
    assert policy.decide(state, now=0, wall_now=NOW, status_code=200) == Deliver("final")
    assert policy.decide(state, now=0, wall_now=NOW, exception=ValueError()) == Deliver("final")
    connect = httpx.ConnectError("x")
    assert policy.decide(state, now=0, wall_now=NOW, exception=connect) == Deliver("final")
    assert isinstance(
        policy.decide(state, now=0, wall_now=NOW, exception=connect, has_connected=True), Retry
    )


def test_a_paced_client_backs_off_busy_answers_at_most_the_paced_cap() -> None:
    """Under the shared adaptive limit, 503s and 429s without a Retry-After back off at
    most `paced_busy_backoff_max`; unpaced, and for errors and maintenance, the backoff
    doubles as before."""
    policy = RetryPolicy(jitter_factor=0, backoff_max=30, paced_busy_backoff_max=1.0)

    def delays(paced: bool, count: int = 6, **answer: object) -> list[float]:
        state = policy.start(0.0)
        found = []
        for _ in range(count):
            decision = policy.decide(state, now=0.0, wall_now=NOW, paced=paced, **answer)  # type: ignore[arg-type]
            assert isinstance(decision, Retry)
            found.append(decision.delay)
        return found

    doubling = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert delays(True, status_code=503) == [0.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert delays(True, status_code=429) == [0.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert delays(False, status_code=503) == doubling
    maintenance = {"Prefect-Maintenance": "true"}
    assert delays(True, status_code=503, headers=maintenance) == doubling
    assert delays(True, 5, status_code=502) == doubling[:5]
    assert delays(True, 5, exception=httpx.ConnectTimeout("slow")) == doubling[:5]
    # a Retry-After is the server's own word: it is kept
    state = policy.start(0.0)
    asked = policy.decide(
        state, now=0.0, wall_now=NOW, paced=True, status_code=503, headers={"Retry-After": "5"}
    )
    assert isinstance(asked, Retry)
    assert asked.delay == 5.0
