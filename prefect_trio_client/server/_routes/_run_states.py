"""The state routes flow runs and task runs share: propose a state, read the history.

Both kinds run the same orchestration (`prefect_trio_client.server._runs.set_state`);
only the run kind, the states table and the 404 text differ.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import StateCreate
from prefect_trio_client.server._db import Tx
from prefect_trio_client.server._errors import not_found
from prefect_trio_client.server._http import (
    Handler,
    Reply,
    api_of,
    json_body,
    ok,
    path_id,
    query_uuid,
    validate,
)
from prefect_trio_client.server._orchestration import RunKind
from prefect_trio_client.server._runs import read_states, set_state
from prefect_trio_client.server._tables import Table

__all__ = ["SetStateBody", "state_handlers"]


class SetStateBody(BaseModel):
    """Body of ``/{flow,task}_runs/{id}/set_state``."""

    model_config = ConfigDict(extra="ignore")

    state: StateCreate
    force: bool = False


def state_handlers(
    kind: RunKind, states: Table, state_not_found: str
) -> tuple[Handler, Handler, Handler]:
    """``set_state``, the ``*_run_states/?*_run_id=`` history and one state by id.

    Args:
        kind: ``"flow_run"`` or ``"task_run"``.
        states: The table holding that kind's states.
        state_not_found: The 404 detail for an unknown state id.
    """

    async def set_run_state(request: Request) -> Response:
        run_id = path_id(request)
        body = validate(SetStateBody, await json_body(request))
        return await api_of(request).write(
            lambda tx: set_state(tx, kind, run_id, body.state, force=body.force)
        )

    async def read_run_states(request: Request) -> Response:
        run_id = query_uuid(request, f"{kind}_id")
        return await api_of(request).read(lambda tx: ok(read_states(tx, kind, run_id)))

    async def read_run_state(request: Request) -> Response:
        state_id = path_id(request)

        def work(tx: Tx) -> Reply:
            state = tx.get(states, state_id)
            if state is None:
                raise not_found(state_not_found)
            return ok(state)

        return await api_of(request).read(work)

    return set_run_state, read_run_states, read_run_state
