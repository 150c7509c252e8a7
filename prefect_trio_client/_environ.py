"""Environment variables read on the path of every client context, cheaply.

A client context looks at a handful of variables each time (proxies, ``SSL_CERT_FILE``,
``SSL_CERT_DIR``, ``SSLKEYLOGFILE``), so that a change is seen by the next context.
``os.environ.get`` encodes the name and decodes the value on every call, about a
microsecond each; on POSIX, CPython keeps the environment as a dict of bytes, and one
lookup there costs a twentieth of that. The answers are the same: ``os.environ`` and
that dict change together.
"""

from __future__ import annotations

import os

__all__ = ["environment_value"]

# POSIX: the bytes CPython keeps (``os.environ._data``); elsewhere None (use os.environ).
_RAW: dict[bytes, bytes] | None = getattr(os.environ, "_data", None) if os.name == "posix" else None


def environment_value(name: str) -> str | None:
    """``os.environ.get(name)``, for an ASCII `name`."""
    raw = _RAW
    if not isinstance(raw, dict):
        return os.environ.get(name)
    value = raw.get(name.encode("ascii"))
    return None if value is None else os.fsdecode(value)
