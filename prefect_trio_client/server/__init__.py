"""The embedded, anyio-native, Prefect-compatible API server (ephemeral mode).

`create_app` returns a Starlette application that speaks the part of Prefect 3's REST
API a client uses (flows, runs, states, deployments, logs, variables, work pools,
concurrency limits, artifacts), with Prefect's orchestration rules that matter to a
client (see ``_orchestration``) and a SQLite store (see ``_db``). It runs under trio or
asyncio, in-process through ``httpx.ASGITransport`` or over HTTP with
``python -m prefect_trio_client.server``. It is a default for development and tests,
not a replacement for a real Prefect server: there is no UI, scheduler, automation or
event system.

It imports the schemas and nothing from the client side.
"""

# The `X as X` form marks public re-exports (DESIGN.md, section 7); PLC0414 disagrees.

from prefect_trio_client.server._app import DEFAULT_DATABASE_NAME as DEFAULT_DATABASE_NAME
from prefect_trio_client.server._app import create_app as create_app
from prefect_trio_client.server._app import default_database_path as default_database_path
from prefect_trio_client.server._routes.admin import API_VERSION as API_VERSION
from prefect_trio_client.server._routes.admin import PREFECT_VERSION as PREFECT_VERSION

__all__ = [
    "API_VERSION",
    "DEFAULT_DATABASE_NAME",
    "PREFECT_VERSION",
    "create_app",
    "default_database_path",
]
