"""Flow ids, created once per process and API, not once per flow run.

Prefect's client sends ``POST /flows/`` before every flow run; the answer never changes
for a flow name on one API, so the engine keeps it: by API URL for a server, by the app
object for an in-process one (a new embedded app is a new database). A flow deleted on the
server leaves a stale id, which the server answers with 409 when a run is created for it:
`forget` drops it and the caller creates the flow again.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from prefect_trio_client.orchestration.client import PrefectClient

__all__ = ["flow_id", "forget"]

_by_url: dict[tuple[str, str], UUID] = {}
_by_app: weakref.WeakKeyDictionary[Any, dict[str, UUID]] = weakref.WeakKeyDictionary()


def _known(client: PrefectClient) -> dict[str, UUID] | None:
    """The ids known for the in-process app of `client`, or None for a URL."""
    app = client._app
    return None if app is None else _by_app.setdefault(app, {})


async def flow_id(client: PrefectClient, name: str) -> tuple[UUID, bool]:
    """The id of the flow `name` on `client`'s API, and whether it came from the cache."""
    known = _known(client)
    key = (str(client.api_url), name)
    cached = known.get(name) if known is not None else _by_url.get(key)
    if cached is not None:
        return cached, True
    created = await client.create_flow_from_name(name)
    if known is not None:
        known[name] = created
    else:
        _by_url[key] = created
    return created, False


def forget(client: PrefectClient, name: str) -> None:
    """Drop the id of `name` on `client`'s API (the server no longer knows it)."""
    known = _known(client)
    if known is not None:
        known.pop(name, None)
    else:
        _by_url.pop((str(client.api_url), name), None)
