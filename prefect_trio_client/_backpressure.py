"""Backpressure: an adaptive limit on requests in flight to one server (no I/O here).

A SQLite-backed Prefect server answers 503 when its database is locked, and it is locked
more often the more clients write at once: a burst of writers makes the server slower,
not faster. So every client context that talks to one server shares an `AdaptiveLimit`:
a request takes a slot before it is sent and gives it back with what it learned.

- **AIMD.** A success grows the limit by ``1/limit`` (about one slot per round of
  successes); an overload answer (503, 429, maintenance) halves it; an endpoint whose
  latency (the median of a window of 16 requests) exceeds ``latency_tolerance`` times
  its typical latency shrinks it by a tenth (a SQLite-backed server makes writers wait for
  its lock before it answers 503, so queueing shows as latency first; endpoints differ
  tenfold in cost, so each is compared with itself). Typical is the least median of the
  8 windows before, not the least sample: on a server far away or behind a
  proxy, latency varies widely without any queueing, and one request slower than the
  fastest ever is no sign of overload (measured: compared with the least sample, the
  limit fell to 1 on Prefect's scaled topology, which never answered 503). One round of
  requests that all met the same overload shrinks the limit once, not once per request:
  only a request that started after the last decrease can decrease it again.
- **Memory of the ceiling.** A SQLite-backed Prefect server answers 503 as soon as two
  write transactions overlap, and each 503 costs it as much as real work: measured, one
  request in flight finished a workload twice as fast as two. So the limit remembers where
  the last overload answer came (the *ceiling*: a 503 or 429) and approaches it
  patiently: below it, one slot per round of successes; within one slot of it, one per
  ``patience`` rounds, and every overload met again at the same ceiling doubles the
  patience (up to 1024 rounds). Latency alone sets no ceiling: it shrinks the limit,
  which grows back at the normal pace. A server that never answers 503 has no ceiling;
  one that gets better is found again once the limit grows a slot past the old ceiling.
- **Not every 503 is ours.** Prefect's server creates a flow run in a transaction that
  reads before it writes, so on SQLite `POST /flow_runs/` answers 503 whenever any other
  write overlaps it, its own background services' included (measured at one request of
  ours in flight: 1.85 attempts per flow run with the services on, 1.05 with them off).
  No limit on our side prevents those; the retry loop waits them out.
- **Fair.** Waiters are served first come, first served; a new request never overtakes a
  waiting one.
- **Pure.** Waiting is the caller's business (the async and sync clients wait in their
  own ways, under the call's deadline); a waiter here is anything with a ``wake()``. A
  lock makes the state safe for the sync client's threads; it is never held across I/O.
"""

from __future__ import annotations

import enum
import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["AdaptiveLimit", "LimitSnapshot", "Signal", "Slot", "Waiter"]


class Signal(enum.Enum):
    """What a request's outcome says about the server's load."""

    OK = "ok"  # an answer that was not an overload answer (errors included)
    OVERLOAD = "overload"  # 503, 429, maintenance: the server asks us to back off
    DROPPED = "dropped"  # no answer (transport error, cancelled): says nothing of load


class Waiter(Protocol):
    def wake(self) -> None:
        """Called (under the limit's lock) when the waiter was granted a slot."""


@dataclass(eq=False)
class Slot:
    """One request's permission to be in flight. Give it back with `AdaptiveLimit.release`."""

    started: float
    epoch: int
    released: bool = False


@dataclass(eq=False)
class _Queued:
    waiter: Waiter
    slot: Slot | None = None
    abandoned: bool = False


# Rounds of successes per slot near the ceiling after the first overload there, and at most.
_FIRST_PATIENCE = 8.0
_MAX_PATIENCE = 1024.0
# Endpoints whose latency is tracked; past this many (odd paths), tracking starts over.
_MAX_ROUTES = 256


@dataclass(frozen=True)
class LimitSnapshot:
    """The limiter's counters, for tests, diagnostics and benchmarks."""

    limit: float
    in_flight: int
    waiting: int
    decreases: int
    peak_in_flight: int


# Samples per window of an endpoint's latencies, and windows remembered.
_WINDOW = 16
_WINDOWS = 8


@dataclass
class _Latency:
    """One endpoint's latencies, by windows of `_WINDOW` samples: a window is slow when
    its median exceeds the least median of the windows before it by the tolerance.
    Queueing raises a whole window; noise moves a median little."""

    samples: list[float] = field(default_factory=list)
    medians: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOWS))

    def add(self, latency: float) -> float | None:
        """The window's median when this sample completes one, else None."""
        self.samples.append(latency)
        if len(self.samples) < _WINDOW:
            return None
        self.samples.sort()
        median = self.samples[_WINDOW // 2]
        self.samples.clear()
        return median

    def slow(self, median: float, tolerance: float) -> bool:
        """Whether a completed window's median is past the tolerance; then remember it."""
        typical = min(self.medians, default=math.inf)
        self.medians.append(median)
        return math.isfinite(typical) and median > max(typical, 1e-4) * tolerance


@dataclass
class AdaptiveLimit:
    """The shared limit on requests in flight to one server.

    Args:
        initial: The limit to start with.
        minimum: Never fewer slots than this (at least 1).
        maximum: Never more slots than this (the connection pool's size).
        latency_tolerance: Shrink when an endpoint's latency (a window's median) exceeds
            its typical latency by this factor (``0`` turns the latency signal off).
    """

    initial: float = 4.0
    minimum: int = 1
    maximum: int = 16
    latency_tolerance: float = 2.5
    limit: float = field(init=False)
    in_flight: int = field(init=False, default=0)
    decreases: int = field(init=False, default=0)
    peak_in_flight: int = field(init=False, default=0)
    _epoch: int = field(init=False, default=0)
    _ceiling: float | None = field(init=False, default=None)
    #: Until when (the caller's clock) new requests wait: a 429's Retry-After.
    gate_until: float = field(init=False, default=float("-inf"))
    _patience: float = field(init=False, default=_FIRST_PATIENCE)
    _queue: deque[_Queued] = field(init=False, default_factory=deque)
    _latencies: dict[str, _Latency] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.minimum < 1 or self.maximum < self.minimum:
            raise ValueError(
                f"need 1 <= minimum <= maximum, got minimum={self.minimum}, maximum={self.maximum}"
            )
        self.limit = float(min(max(self.initial, self.minimum), self.maximum))

    @property
    def capacity(self) -> int:
        """Slots available in all at the current limit."""
        return max(self.minimum, math.floor(self.limit))

    def snapshot(self) -> LimitSnapshot:
        with self._lock:
            waiting = sum(1 for queued in self._queue if not queued.abandoned)
            return LimitSnapshot(
                limit=self.limit,
                in_flight=self.in_flight,
                waiting=waiting,
                decreases=self.decreases,
                peak_in_flight=self.peak_in_flight,
            )

    def try_acquire(self, now: float) -> Slot | None:
        """A slot at once, or None when the limit is reached or others wait first."""
        with self._lock:
            if self._queue or self.in_flight >= self.capacity:
                return None
            return self._take(now)

    def enqueue(self, waiter: Waiter, now: float) -> _Queued:
        """Wait in line; `waiter.wake()` is called once a slot is granted to it.

        The slot may be granted at once (inside this call) if one is free.
        """
        with self._lock:
            queued = _Queued(waiter)
            self._queue.append(queued)
            self._grant(now)
            return queued

    def granted(self, queued: _Queued) -> Slot | None:
        with self._lock:
            return queued.slot

    def abandon(self, queued: _Queued, now: float) -> Slot | None:
        """Leave the line (a timeout or a cancellation). Returns a slot granted meanwhile,
        which the caller now owns (use it, or release it with `Signal.DROPPED`)."""
        with self._lock:
            queued.abandoned = True
            if queued.slot is None:
                self._prune()
                self._grant(now)
            return queued.slot

    def release(self, slot: Slot, signal: Signal, now: float, route: str = "") -> None:
        """Give a slot back, with what its request learned about the server.

        `route` names the endpoint (method and path template) whose latency this was.
        """
        with self._lock:
            if slot.released:
                return
            slot.released = True
            self.in_flight -= 1
            if signal is Signal.OVERLOAD:
                if slot.epoch == self._epoch:
                    self._remember_ceiling()
                self._decrease(slot, 0.5)
            elif signal is Signal.OK:
                latency = self._latencies.get(route)
                if latency is None:
                    if len(self._latencies) >= _MAX_ROUTES:
                        self._latencies.clear()
                    latency = self._latencies[route] = _Latency()
                median = latency.add(max(now - slot.started, 0.0))
                if (
                    median is not None
                    and self.latency_tolerance > 0
                    and latency.slow(median, self.latency_tolerance)
                ):
                    self._decrease(slot, 0.9)
                elif self.in_flight + 1 >= self.capacity:  # grow only a limit in use
                    self._grow()
            self._grant(now)

    # The helpers below run with the lock held.

    def _take(self, now: float) -> Slot:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return Slot(started=now, epoch=self._epoch)

    def _remember_ceiling(self) -> None:
        """An overload at the current limit: it is the new ceiling; met again, be slower."""
        ceiling = float(self.capacity)  # the slots in use when the server said "busy"
        again = self._ceiling is not None and ceiling <= self._ceiling + 1.0
        self._patience = min(self._patience * 2, _MAX_PATIENCE) if again else _FIRST_PATIENCE
        self._ceiling = ceiling

    def _grow(self) -> None:
        step = 1.0 / self.limit
        if self._ceiling is not None and math.floor(self.limit) + 1.0 >= self._ceiling:
            step /= self._patience  # within a slot of the last overload: probe slowly
        self.limit = min(self.limit + step, float(self.maximum))
        if self._ceiling is not None and self.limit > self._ceiling + 1.0:
            self._ceiling = None  # past the old ceiling without overload: forget it

    def _decrease(self, slot: Slot, factor: float) -> None:
        if slot.epoch != self._epoch:
            return  # this round already shrank the limit
        self.limit = max(self.limit * factor, float(self.minimum))
        self._epoch += 1
        self.decreases += 1

    def _prune(self) -> None:
        while self._queue and self._queue[0].abandoned:
            self._queue.popleft()

    def _grant(self, now: float) -> None:
        self._prune()
        while self._queue and self.in_flight < self.capacity:
            queued = self._queue.popleft()
            queued.slot = self._take(now)
            queued.waiter.wake()
            self._prune()
