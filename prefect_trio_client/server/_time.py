"""Wall-clock time as the API writes it: one injectable clock, one text format.

Timestamps are stored and sent as Prefect writes them (``2026-11-22T01:41:03.831014Z``):
fixed width, always UTC, so comparing the text compares the instants. That is what lets
filters and sorts work on stored JSON without parsing every date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "iso", "parse_iso", "seconds_between", "system_clock"]

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware. Tests pass a fake one to move time at will."""


def system_clock() -> datetime:
    """The real wall clock, in UTC."""
    return datetime.now(timezone.utc)


def iso(value: datetime) -> str:
    """Prefect's text form of an instant: UTC, microseconds, a ``Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    naive = value.astimezone(timezone.utc).replace(tzinfo=None)
    return naive.isoformat(timespec="microseconds") + "Z"


def parse_iso(text: str) -> datetime:
    """The instant `iso` wrote (any ISO 8601 text with an offset or a ``Z`` is accepted)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))  # 3.10 reads no "Z"
    zone = value.tzinfo
    if zone is timezone.utc:  # what `iso` writes: nothing to convert (listings parse many)
        return value
    if zone is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def seconds_between(start: str, end: str) -> float:
    """Seconds from one stored instant to another."""
    return (parse_iso(end) - parse_iso(start)) / timedelta(seconds=1)
