"""The API's routes, one module per resource; `api_routes` lists them all."""

from __future__ import annotations

from starlette.routing import BaseRoute

from prefect_trio_client.server._routes import (
    admin,
    artifacts,
    automations,
    blocks,
    collections,
    concurrency,
    deployments,
    events,
    events_ws,
    flow_run_inputs,
    flow_runs,
    flows,
    logs,
    tag_concurrency,
    task_runs,
    variables,
    work_pools,
)

__all__ = ["api_routes"]


def api_routes() -> list[BaseRoute]:
    """Every route, relative to the API prefix."""
    modules = (
        admin,
        flows,
        flow_runs,
        task_runs,
        deployments,
        logs,
        variables,
        work_pools,
        concurrency,
        artifacts,
        blocks,
        automations,
        tag_concurrency,  # issue 11: limits and deployments
        # issue 11: queues-misc
        flow_run_inputs,
        collections,
        events,  # issue 11: events
        events_ws,  # issue 15: event websockets
    )
    return [route for module in modules for route in module.ROUTES]
