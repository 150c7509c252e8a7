"""The schedule of a stress run, drawn up front from one seeded generator.

Everything random about a run is decided here, before it starts: when each task
arrives, whether and when its cancel scope's deadline falls, whether its innermost
context is a sync client in a worker thread, and the seed of each context's fault
plan. So a seed gives the same schedule (its fingerprint is printed), whatever order the
event loop then runs things in; the faults each context meets depend only on its seed
and on its own requests.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

__all__ = ["TaskPlan", "fingerprint", "make_schedule"]


@dataclass(frozen=True)
class TaskPlan:
    """What one task of the run does."""

    index: int
    arrive_after: float  # seconds after the run starts
    cancel_after: float | None  # the cancel scope's deadline, after arrival; None: none
    sync_innermost: bool  # the deepest context is a sync client in a worker thread
    fault_seeds: tuple[int, ...]  # one per nesting level


def make_schedule(
    *,
    seed: int,
    tasks: int,
    depth: int,
    cancel_rate: float,
    cancel_within: float,
    sync_rate: float,
    ramp: float,
) -> list[TaskPlan]:
    """The plans of `tasks` tasks; the same arguments give the same plans."""
    rng = random.Random(seed)
    plans = []
    for index in range(tasks):
        arrive_after = rng.uniform(0, ramp) if ramp > 0 else 0.0
        cancelled = rng.random() < cancel_rate
        cancel_after = rng.uniform(0, cancel_within)
        sync = rng.random() < sync_rate
        fault_seeds = tuple(rng.getrandbits(32) for _ in range(depth))
        plans.append(
            TaskPlan(
                index=index,
                arrive_after=arrive_after,
                cancel_after=cancel_after if cancelled else None,
                sync_innermost=sync,
                fault_seeds=fault_seeds,
            )
        )
    return plans


def fingerprint(plans: list[TaskPlan]) -> str:
    """A short digest of a schedule: two runs with the same one had the same schedule."""
    digest = hashlib.sha256()
    for plan in plans:
        digest.update(repr(plan).encode())
    return digest.hexdigest()[:16]
