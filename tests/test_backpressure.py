"""The adaptive in-flight limit on its own: AIMD, fairness, abandoning, invariants."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_trio_client._backpressure import AdaptiveLimit, Signal, Slot


@dataclass(eq=False)
class Waiter:
    woken: int = 0

    def wake(self) -> None:
        self.woken += 1


def test_slots_up_to_the_limit_then_none() -> None:
    limit = AdaptiveLimit(initial=3, maximum=8)
    slots = [limit.try_acquire(0.0) for _ in range(4)]
    assert all(isinstance(slot, Slot) for slot in slots[:3])
    assert slots[3] is None
    assert limit.snapshot().in_flight == 3


def test_waiters_are_served_first_come_first_served_and_never_overtaken() -> None:
    limit = AdaptiveLimit(initial=1, latency_tolerance=0)
    held = limit.try_acquire(0.0)
    assert held is not None
    first, second = Waiter(), Waiter()
    q1 = limit.enqueue(first, 0.0)
    q2 = limit.enqueue(second, 0.0)
    limit.release(held, Signal.DROPPED, 1.0)
    assert (first.woken, second.woken) == (1, 0)
    # A newcomer does not take a slot while someone waits, even when one is free later.
    assert limit.try_acquire(1.0) is None
    granted = limit.abandon(q1, 1.0)
    assert granted is not None  # the first waiter owns the slot it was granted
    limit.release(granted, Signal.DROPPED, 2.0)
    assert second.woken == 1
    assert limit.granted(q2) is not None


def test_an_abandoned_waiter_gives_its_turn_to_the_next() -> None:
    limit = AdaptiveLimit(initial=1)
    held = limit.try_acquire(0.0)
    assert held is not None
    gone, next_one = Waiter(), Waiter()
    q_gone = limit.enqueue(gone, 0.0)
    limit.enqueue(next_one, 0.0)
    assert limit.abandon(q_gone, 0.5) is None
    assert limit.snapshot().waiting == 1
    limit.release(held, Signal.DROPPED, 1.0)
    assert (gone.woken, next_one.woken) == (0, 1)


def test_overload_halves_the_limit_once_per_round() -> None:
    limit = AdaptiveLimit(initial=8, maximum=16)
    slots = [limit.try_acquire(0.0) for _ in range(8)]
    for slot in slots:
        assert slot is not None
        limit.release(slot, Signal.OVERLOAD, 1.0)
    # Eight requests of one round met the same overload: one decrease, not eight.
    assert limit.limit == 4.0
    assert limit.decreases == 1
    again = limit.try_acquire(2.0)
    assert again is not None
    limit.release(again, Signal.OVERLOAD, 3.0)
    assert limit.limit == 2.0


def test_success_grows_a_limit_in_use_up_to_the_maximum() -> None:
    limit = AdaptiveLimit(initial=2, maximum=4, latency_tolerance=0)
    for step in range(200):
        slots = [limit.try_acquire(float(step)) for _ in range(limit.capacity)]
        for slot in slots:
            assert slot is not None
            limit.release(slot, Signal.OK, step + 0.5)
    assert limit.limit == 4.0


def test_a_limit_not_in_use_does_not_grow() -> None:
    limit = AdaptiveLimit(initial=4, maximum=16, latency_tolerance=0)
    for step in range(100):
        slot = limit.try_acquire(float(step))
        assert slot is not None
        limit.release(slot, Signal.OK, step + 0.1)
    assert limit.limit == 4.0


def test_rising_latency_shrinks_the_limit() -> None:
    limit = AdaptiveLimit(initial=8, maximum=16, latency_tolerance=3.0)
    for step in range(16):  # a window of samples: a typical latency of 10 ms
        slot = limit.try_acquire(float(step))
        assert slot is not None
        limit.release(slot, Signal.OK, step + 0.01)
    before = limit.limit
    for step in range(100, 116):  # a window at 50 times that: shrinks once, at its end
        assert limit.limit == before
        slot = limit.try_acquire(float(step))
        assert slot is not None
        limit.release(slot, Signal.OK, step + 0.5)
    assert limit.limit == pytest.approx(before * 0.9)


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="minimum"):
        AdaptiveLimit(minimum=0)
    with pytest.raises(ValueError, match="maximum"):
        AdaptiveLimit(minimum=4, maximum=2)


def test_releasing_twice_counts_once() -> None:
    limit = AdaptiveLimit(initial=2)
    slot = limit.try_acquire(0.0)
    assert slot is not None
    limit.release(slot, Signal.DROPPED, 1.0)
    limit.release(slot, Signal.DROPPED, 1.0)
    assert limit.snapshot().in_flight == 0


operations = st.lists(
    st.tuples(
        st.sampled_from(["acquire", "enqueue", "release", "abandon"]),
        st.sampled_from(list(Signal)),
        st.integers(0, 50),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(ops=operations, initial=st.integers(1, 6), maximum=st.integers(6, 12))
def test_invariants_under_any_schedule(
    ops: list[tuple[str, Signal, int]], initial: int, maximum: int
) -> None:
    """Never more in flight than the capacity allows (or than was granted before a
    decrease), the limit stays within bounds, and every slot is accounted for."""
    limit = AdaptiveLimit(initial=initial, maximum=maximum)
    held: list[Slot] = []
    queued = []
    now = 0.0
    for op, signal, pick in ops:
        now += 0.01
        if op == "acquire":
            slot = limit.try_acquire(now)
            if slot is not None:
                held.append(slot)
        elif op == "enqueue":
            queued.append(limit.enqueue(Waiter(), now))
        elif op == "release" and held:
            limit.release(held.pop(pick % len(held)), signal, now)
        elif op == "abandon" and queued:
            slot = limit.abandon(queued.pop(pick % len(queued)), now)
            if slot is not None:
                held.append(slot)
        # Slots granted to waiters that are still queued are held by them.
        granted = [q.slot for q in queued if q.slot is not None and not q.slot.released]
        assert limit.in_flight == len(held) + len(granted)
        assert limit.minimum <= limit.limit <= limit.maximum
        waiting = limit.snapshot().waiting
        assert waiting == sum(1 for q in queued if q.slot is None)
        if waiting:  # nobody waits while a slot is free
            assert limit.in_flight >= limit.capacity


def _succeed(limit: AdaptiveLimit, times: int, now: float) -> None:
    """`times` successes, each with every slot of the current capacity in use."""
    for _ in range(times):
        slots = [limit.try_acquire(now) for _ in range(limit.capacity)]
        for slot in slots:
            assert slot is not None
            limit.release(slot, Signal.OK, now)


def _overload(limit: AdaptiveLimit, now: float) -> None:
    slot = limit.try_acquire(now)
    assert slot is not None
    limit.release(slot, Signal.OVERLOAD, now)


def test_the_ceiling_of_the_last_overload_is_approached_ever_more_patiently() -> None:
    """A server that answers 503 whenever two requests overlap (SQLite) keeps the limit
    at one slot nearly all the time: each probe to two costs one 503, and probes get
    rarer each time."""
    limit = AdaptiveLimit(initial=2, maximum=16, latency_tolerance=0)
    _overload(limit, 0.0)  # at 2: the ceiling is 2, the limit 1
    assert limit.limit == 1.0
    successes_to_probe = []
    for _ in range(5):
        count = 0
        while limit.capacity < 2:
            _succeed(limit, 1, 0.0)
            count += 1
        successes_to_probe.append(count)
        _overload(limit, 0.0)
    # Each probe waits about twice as long as the one before.
    assert successes_to_probe[0] >= 8
    for before, after in itertools.pairwise(successes_to_probe):
        assert after >= 2 * before - 1


def test_without_overload_the_limit_grows_to_the_maximum() -> None:
    limit = AdaptiveLimit(initial=4, maximum=16, latency_tolerance=0)
    _succeed(limit, 200, 0.0)
    assert limit.limit == 16.0


def test_a_server_that_got_better_is_found_again_past_the_old_ceiling() -> None:
    limit = AdaptiveLimit(initial=4, maximum=16, latency_tolerance=0)
    _overload(limit, 0.0)  # ceiling 4, limit 2
    _succeed(limit, 2000, 0.0)  # no more overloads: past the ceiling, then normal growth
    assert limit.limit == 16.0


def _run_at_full_limit(limit: AdaptiveLimit, latency: Callable[[], float], count: int) -> None:
    """`count` requests that keep the limit full, each taking its own `latency()`; the
    next starts as soon as a slot frees (an event-driven simulation, no real time)."""
    now, started = 0.0, 0
    in_flight: list[tuple[float, int, Slot]] = []
    while started < count or in_flight:
        while started < count and (slot := limit.try_acquire(now)) is not None:
            heapq.heappush(in_flight, (now + latency(), started, slot))
            started += 1
        now, _, slot = heapq.heappop(in_flight)
        limit.release(slot, Signal.OK, now, "POST /flow_runs/")


def test_latency_that_varies_without_queueing_keeps_the_limit() -> None:
    """A server behind a proxy, far away or busy with others: latencies spread over a
    tenfold range whatever our load. That is no overload (measured on Prefect's scaled
    topology: compared with the fastest latency seen, the limit fell to 1)."""
    rng = random.Random(3)
    limit = AdaptiveLimit(initial=4, maximum=16)
    _run_at_full_limit(limit, lambda: 0.01 * rng.lognormvariate(0.0, 0.8), 2000)
    assert limit.limit >= 12.0


def test_a_lasting_rise_of_latency_shrinks_the_limit_and_sets_no_ceiling() -> None:
    limit = AdaptiveLimit(initial=16, maximum=16)
    _run_at_full_limit(limit, lambda: 0.01, 64)  # typical: 10 ms
    _run_at_full_limit(limit, lambda: 0.2, 128)  # twentyfold, lasting: the server queues
    assert limit.decreases >= 3
    assert limit.limit < 12.0
    assert limit._ceiling is None  # the limit grows back at the normal pace
