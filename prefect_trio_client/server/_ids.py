"""New identifiers: time-ordered UUIDs and friendly run names.

Ids are UUID version 7 (a millisecond timestamp, then a counter, then random bits), so
the default ``ID_DESC`` sort of runs lists the newest first, and ids stay unique when many
are made in the same millisecond. Run names are "adjective-animal", as Prefect's are.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

__all__ = ["new_id", "run_name"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> uuid.UUID:
    """A fresh UUIDv7; later calls in this process never sort before earlier ones."""
    global _last_ms, _counter  # noqa: PLW0603 - one generator per process, by design
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter >= 1 << 12:  # counter exhausted: borrow the next millisecond
                ms += 1
                _counter = 0
        else:
            _counter = 0
        _last_ms = ms
        counter = _counter
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= secrets.randbits(62)
    return uuid.UUID(int=value)


_ADJECTIVES = (
    "amber", "bold", "brisk", "calm", "clever", "cosmic", "crimson", "daring", "eager",
    "electric", "fancy", "gentle", "golden", "hasty", "humble", "icy", "jolly", "keen",
    "lively", "lucky", "mellow", "merry", "nimble", "noble", "olive", "proud", "quick",
    "quiet", "rapid", "rustic", "shiny", "silver", "smart", "sturdy", "sunny", "swift",
    "tidy", "vivid", "witty", "zesty",
)  # fmt: skip
_ANIMALS = (
    "albatross", "badger", "beaver", "bison", "camel", "cheetah", "coyote", "crane",
    "dingo", "dolphin", "eagle", "falcon", "ferret", "gazelle", "gecko", "heron", "ibis",
    "jackal", "koala", "lemur", "lynx", "marmot", "narwhal", "newt", "ocelot", "otter",
    "panda", "pelican", "puffin", "quokka", "raven", "salmon", "seal", "tapir", "toucan",
    "urchin", "walrus", "wombat", "yak", "zebra",
)  # fmt: skip


def run_name() -> str:
    """A readable name such as ``"swift-otter"`` for a run created without one."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_ANIMALS)}"
