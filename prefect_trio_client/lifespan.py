"""ASGI app lifespans as a structured-concurrency service.

An in-process ASGI app (the ephemeral server) must be started before its first request
and shut down after its last user leaves. Prefect's helper does this from the users' own
tasks, which corrupts trio's cancel-scope stack; here a service's task group runs every
app's lifespan and users hold counted leases (DESIGN.md, section 3).
"""

from prefect_trio_client._lifespan_default import app_lifespan_context as app_lifespan_context
from prefect_trio_client._lifespan_default import (
    current_lifespan_service as current_lifespan_service,
)
from prefect_trio_client._lifespan_driver import ASGIApp as ASGIApp
from prefect_trio_client._lifespan_service import LifespanService as LifespanService
from prefect_trio_client._lifespan_service import LifespanState as LifespanState
from prefect_trio_client._lifespan_service import open_lifespan_service as open_lifespan_service
from prefect_trio_client._lifespan_transport import (
    LifespanASGITransport as LifespanASGITransport,
)
from prefect_trio_client._lifespan_transport import lifespan_client as lifespan_client
from prefect_trio_client._lifespan_transport import lifespan_transport as lifespan_transport
from prefect_trio_client.exceptions import LifespanStartupError as LifespanStartupError

__all__ = [
    "ASGIApp",
    "LifespanASGITransport",
    "LifespanService",
    "LifespanStartupError",
    "LifespanState",
    "app_lifespan_context",
    "current_lifespan_service",
    "lifespan_client",
    "lifespan_transport",
    "open_lifespan_service",
]
