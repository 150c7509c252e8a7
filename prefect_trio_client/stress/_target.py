"""Where a stress run sends its requests: the embedded server in-process (a temporary
``PREFECT_HOME``, made and removed here) or a server at ``--api-url``.

Either way the run's own code calls plain `get_client()`: the environment is set for the
run and restored afterwards, as a user's program would configure it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from prefect_trio_client.orchestration import _ephemeral
from prefect_trio_client.stress._observe import ObservedApp
from prefect_trio_client.testing import embedded_api

__all__ = ["Target", "open_target"]


@dataclass
class Target:
    """The API of one run; `app` is the observed embedded server (None for a URL)."""

    api_url: str | None
    app: ObservedApp | None

    @property
    def description(self) -> str:
        return self.api_url if self.api_url is not None else "embedded server, in-process"

    def transport(self) -> httpx.AsyncBaseTransport:
        """A transport of a client's own, to wrap in a fault-injecting one."""
        if self.app is not None:
            return _ephemeral.LeasedASGITransport(self.app)
        return httpx.AsyncHTTPTransport()

    def sync_transport(self) -> httpx.BaseTransport:
        if self.app is not None:
            return _ephemeral.PortalASGITransport(self.app)
        return httpx.HTTPTransport()


@contextmanager
def open_target(api_url: str | None) -> Iterator[Target]:
    """Set the environment for `get_client()` for the block, and restore it after."""
    if api_url is not None:
        with _environment({"PREFECT_API_URL": api_url}):
            yield Target(api_url, None)
        return
    with embedded_api() as api:
        # `get_client()` finds the process's app for this database: make it the
        # observed one (the block removes it, with the temporary home, at the end).
        observed = ObservedApp(api.app)
        key = str(api.database)
        with _ephemeral._apps_lock:
            _ephemeral._apps[key] = observed
        yield Target(None, observed)


@contextmanager
def _environment(values: dict[str, Any]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
