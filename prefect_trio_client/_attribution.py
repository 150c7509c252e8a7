"""Prefect's attribution headers: which worker, flow and deployment a request comes from.

Prefect Cloud uses them for usage attribution and rate-limit debugging. As Prefect's
client does, each request carries ``X-Prefect-Worker-Id`` / ``-Worker-Name`` from the
``PREFECT__WORKER_*`` variables a worker sets, and the flow and deployment of the run it
is made for: from the current run of our `@flow` (`run_attribution`), else from the
``PREFECT__FLOW_*`` / ``PREFECT__DEPLOYMENT_*`` variables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["attribution_headers", "run_attribution"]

_ENVIRONMENT = {
    "X-Prefect-Worker-Id": "PREFECT__WORKER_ID",
    "X-Prefect-Worker-Name": "PREFECT__WORKER_NAME",
}
_RUN_ENVIRONMENT = {
    "X-Prefect-Flow-Id": "PREFECT__FLOW_ID",
    "X-Prefect-Flow-Name": "PREFECT__FLOW_NAME",
    "X-Prefect-Deployment-Id": "PREFECT__DEPLOYMENT_ID",
    "X-Prefect-Deployment-Name": "PREFECT__DEPLOYMENT_NAME",
}

_current_run: ContextVar[Mapping[str, str] | None] = ContextVar(
    "prefect_trio_client_attribution", default=None
)


@contextmanager
def run_attribution(headers: Mapping[str, str]) -> Iterator[None]:
    """Attribute the requests made in this block (in this context) to a run."""
    token = _current_run.set(headers)
    try:
        yield
    finally:
        _current_run.reset(token)


# The environment as CPython keeps it, and our variables' keys in it: telling that none
# is set (most programs) costs six dict lookups instead of six decoded reads per request.
_RAW_ENVIRONMENT: Any = getattr(os.environ, "_data", None)
_encode_key: Any = getattr(os.environ, "encodekey", None)
_RAW_KEYS: tuple[Any, ...] = (
    tuple(
        _encode_key(variable) for variable in (*_ENVIRONMENT.values(), *_RUN_ENVIRONMENT.values())
    )
    if isinstance(_RAW_ENVIRONMENT, dict) and callable(_encode_key)
    else ()
)


def _none_set() -> bool:
    """True when none of the variables is set (known without decoding any)."""
    if not _RAW_KEYS:
        return False  # not known this way: read them
    none_set: bool = _RAW_ENVIRONMENT.keys().isdisjoint(_RAW_KEYS)
    return none_set


def attribution_headers() -> dict[str, str]:
    """The headers for a request made now; values that could not be sent as a header
    (control characters) are left out, and surrounding blanks are stripped."""
    run = _current_run.get()
    if run is None and _none_set():
        return {}
    found = {name: os.environ.get(variable, "") for name, variable in _ENVIRONMENT.items()}
    if run is not None:  # the run's own ids; a deployment's name only a worker knows
        found.update(run)
        found.setdefault(
            "X-Prefect-Deployment-Name", os.environ.get("PREFECT__DEPLOYMENT_NAME", "")
        )
    else:
        found.update({name: os.environ.get(var, "") for name, var in _RUN_ENVIRONMENT.items()})
    return {
        name: value
        for name, raw in found.items()
        if (value := raw.strip(" \t")) and value.isprintable()
    }
