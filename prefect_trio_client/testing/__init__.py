"""Helpers for tests of code that uses prefect-trio-client (and for our own tests).

- `FaultInjectingTransport` / `SyncFaultInjectingTransport`: wrap any httpx transport
  and inject, by rate or by script, the faults a real network and a busy server produce
  (429 with ``Retry-After``, 502, 503, maintenance, connection resets before and after
  the server got the request, read timeouts, stalls, unreadable 200 bodies); seeded, so
  a failure is reproducible.
- `embedded_api()`: the embedded API in a temporary home, as an async or sync context
  manager.

See ``docs/testing-and-faults.md``.
"""

# The `X as X` form marks public re-exports (DESIGN.md, section 7).

from prefect_trio_client.testing._embedded import EmbeddedAPI as EmbeddedAPI
from prefect_trio_client.testing._embedded import embedded_api as embedded_api
from prefect_trio_client.testing._faults import ALL_FAULTS as ALL_FAULTS
from prefect_trio_client.testing._faults import Fault as Fault
from prefect_trio_client.testing._faults import FaultInjectingTransport as FaultInjectingTransport
from prefect_trio_client.testing._faults import FaultKind as FaultKind
from prefect_trio_client.testing._faults import FaultPlan as FaultPlan
from prefect_trio_client.testing._faults import (
    SyncFaultInjectingTransport as SyncFaultInjectingTransport,
)

__all__ = [
    "ALL_FAULTS",
    "EmbeddedAPI",
    "Fault",
    "FaultInjectingTransport",
    "FaultKind",
    "FaultPlan",
    "SyncFaultInjectingTransport",
    "embedded_api",
]
