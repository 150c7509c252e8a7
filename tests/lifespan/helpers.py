"""Ways of using an app under test, so each scenario runs through every entry point."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from prefect_trio_client.lifespan import (
    ASGIApp,
    LifespanService,
    app_lifespan_context,
    current_lifespan_service,
    open_lifespan_service,
)

Use = Callable[[ASGIApp], AbstractAsyncContextManager[Any]]

# lease: `service.lease(app)` on an explicit service;
# context-in-service: `app_lifespan_context(app)` inside `open_lifespan_service()`;
# default-service: `app_lifespan_context(app)` alone, on the event loop's default service.
KINDS = ["lease", "context-in-service", "default-service"]


@asynccontextmanager
async def using(kind: str) -> AsyncIterator[tuple[Use, LifespanService]]:
    """Yield how to use an app (``kind``) and the service that use goes through."""
    if kind == "default-service":
        yield app_lifespan_context, current_lifespan_service()
        return
    async with open_lifespan_service() as service:
        if kind == "lease":
            yield service.lease, service
        else:
            assert current_lifespan_service() is service
            yield app_lifespan_context, service
