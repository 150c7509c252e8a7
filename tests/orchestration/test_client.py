"""The clients themselves: propose_state's loop, the version check, lifecycle errors."""

from __future__ import annotations

import json
from uuid import UUID, uuid4

import anyio
import httpx
import pytest

from prefect_trio_client import states
from prefect_trio_client.exceptions import (
    Abort,
    ClientClosedError,
    ServerVersionError,
    StateWaitTimeout,
)
from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient
from prefect_trio_client.schemas.objects import StateType
from tests.http_helpers import Script
from tests.orchestration.harness import API_URL, ClientKind, call, make_client

pytestmark = pytest.mark.anyio
RUN_ID = UUID("67e15329-317a-45fa-b905-7f9ecce3d45a")


def orchestration(
    status: str, state_type: str | None = "RUNNING", **details: object
) -> httpx.Response:
    detail_type = {
        "ACCEPT": "accept_details",
        "REJECT": "reject_details",
        "ABORT": "abort_details",
        "WAIT": "wait_details",
    }[status]
    state = None
    if state_type is not None:
        state = {
            "id": str(uuid4()),
            "type": state_type,
            "name": state_type.title(),
            "timestamp": "2026-11-22T01:41:03.896506Z",
            "state_details": {"flow_run_id": str(RUN_ID)},
        }
    return httpx.Response(
        201 if status == "ACCEPT" else 200,
        json={"state": state, "status": status, "details": {"type": detail_type, **details}},
    )


async def test_propose_state_waits_then_accepts(kind: ClientKind) -> None:
    script = Script(
        [
            orchestration("WAIT", None, delay_seconds=5, reason="slot taken"),
            orchestration("WAIT", None, delay_seconds=3),
            orchestration("ACCEPT"),
        ]
    )
    start = anyio.current_time()
    async with make_client(kind, script) as client:
        state = await call(client, "propose_state", states.Running(), flow_run_id=RUN_ID)
    assert state.type is StateType.RUNNING
    assert script.calls == 3
    if kind != "sync":
        assert anyio.current_time() - start == pytest.approx(8.0)
    else:
        assert client.httpx_client._timer.slept == [5.0, 3.0]  # type: ignore[union-attr]
    transition_ids = {
        json.loads(r.content)["state"]["state_details"]["transition_id"] for r in script.requests
    }
    assert len(transition_ids) == 3


async def test_a_proposal_is_sent_as_the_json_its_model_dumps(kind: ClientKind) -> None:
    """The body comes from the models' serializers straight to bytes: the same JSON a
    dump and ``json.dumps`` give, with httpx's JSON headers."""
    script = Script([orchestration("ACCEPT")])
    proposed = states.Failed(message="boom \u00e9", data={"rows": [1, 2.5, None]})
    async with make_client(kind, script) as client:
        await call(client, "set_flow_run_state", RUN_ID, proposed, force=True)
    request = script.requests[0]
    sent = json.loads(request.content)
    expected = proposed.to_state_create()
    expected.state_details.flow_run_id = RUN_ID
    expected.state_details.transition_id = UUID(sent["state"]["state_details"]["transition_id"])
    assert sent == {"state": expected.model_dump(mode="json"), "force": True}
    assert (
        request.content
        == json.dumps(sent, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    )
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-length"] == str(len(request.content))


async def test_a_content_type_the_client_sets_is_kept_for_a_proposal(kind: ClientKind) -> None:
    script = Script([orchestration("ACCEPT")])
    async with make_client(kind, script) as client:
        client.httpx_client.headers["Content-Type"] = "application/vnd.test+json"
        await call(client, "set_flow_run_state", RUN_ID, states.Running())
    assert script.requests[0].headers.get_list("content-type") == ["application/vnd.test+json"]


async def test_propose_state_abort_raises_with_the_reason(kind: ClientKind) -> None:
    script = Script([orchestration("ABORT", None, reason="This run is in a RUNNING state.")])
    async with make_client(kind, script) as client:
        with pytest.raises(Abort, match="This run is in a RUNNING state"):
            await call(client, "propose_state", states.Pending(), flow_run_id=RUN_ID)


async def test_propose_state_reject_returns_the_servers_state(kind: ClientKind) -> None:
    script = Script([orchestration("REJECT", "COMPLETED", reason="already done")])
    async with make_client(kind, script) as client:
        state = await call(client, "propose_state", states.Running(), task_run_id=RUN_ID)
    assert state.type is StateType.COMPLETED
    assert json.loads(script.requests[0].content)["state"]["state_details"]["task_run_id"] == str(
        RUN_ID
    )
    assert script.requests[0].url.path == f"/api/task_runs/{RUN_ID}/set_state"


async def test_propose_state_gives_up_past_max_wait(kind: ClientKind) -> None:
    script = Script([orchestration("WAIT", None, delay_seconds=30)])
    async with make_client(kind, script) as client:
        with pytest.raises(StateWaitTimeout, match="max_wait is 60s"):
            await call(client, "propose_state", states.Running(), flow_run_id=RUN_ID, max_wait=60)
    assert script.calls == 3  # waited 30 + 30, the third WAIT would pass 60


@pytest.mark.parametrize("delay", [0, -5])
async def test_a_wait_of_no_time_is_floored_and_bounded(kind: ClientKind, delay: float) -> None:
    """WAIT with ``delay_seconds=0`` must not loop thousands of times a second forever."""
    script = Script([orchestration("WAIT", None, delay_seconds=delay)])
    async with make_client(kind, script) as client:
        with pytest.raises(StateWaitTimeout, match=r"max_wait is 2\.05s"):
            await call(client, "propose_state", states.Running(), flow_run_id=RUN_ID, max_wait=2.05)
    assert script.calls == 21  # 20 waits of WAIT_FLOOR (0.1 s), then one more would pass


async def test_propose_state_needs_exactly_one_run_id(kind: ClientKind) -> None:
    script = Script([orchestration("ACCEPT")])
    async with make_client(kind, script) as client:
        with pytest.raises(ValueError, match="exactly one"):
            await call(client, "propose_state", states.Running())
        with pytest.raises(ValueError, match="exactly one"):
            await call(
                client, "propose_state", states.Running(), flow_run_id=RUN_ID, task_run_id=RUN_ID
            )
    assert script.calls == 0


@pytest.mark.parametrize("kind", ["asyncio", "trio"])
async def test_closing_the_client_ends_a_wait(kind: ClientKind) -> None:
    script = Script([orchestration("WAIT", None, delay_seconds=100)])
    errors: list[BaseException] = []
    async with make_client(kind, script) as client:
        assert isinstance(client, PrefectClient)

        async def propose() -> None:
            try:
                await client.propose_state(states.Running(), flow_run_id=RUN_ID)
            except ClientClosedError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(propose)
            await anyio.wait_all_tasks_blocked()
            await client.aclose()
    assert len(errors) == 1


@pytest.mark.parametrize("kind", ["asyncio", "trio"])
async def test_cancelling_a_call_closes_its_plan(kind: ClientKind) -> None:
    script = Script([orchestration("WAIT", None, delay_seconds=100)])
    async with make_client(kind, script) as client:
        assert isinstance(client, PrefectClient)
        with anyio.move_on_after(1):
            await client.propose_state(states.Running(), flow_run_id=RUN_ID)
        # The client still works after a cancelled call.
        script.steps = [orchestration("ACCEPT")]
        state = await client.propose_state(states.Running(), flow_run_id=RUN_ID)
    assert state.is_running()


@pytest.mark.parametrize(
    ("version", "ok"), [("3.9.1", True), ("3.0.0rc1", True), ("2.20.3", False), ("4.0.0", False)]
)
async def test_server_version_is_checked_on_entry(kind: ClientKind, version: str, ok: bool) -> None:
    script = Script([httpx.Response(200, json=version)])
    if ok:
        async with make_client(kind, script, check_server_version=True) as client:
            assert client is not None
    else:
        with pytest.raises(ServerVersionError, match=f"runs Prefect {version}"):
            async with make_client(kind, script, check_server_version=True):
                pass
    assert script.requests[0].url.path == "/api/admin/version"


async def test_unreadable_server_version(kind: ClientKind) -> None:
    script = Script([httpx.Response(200, json="banana")])
    with pytest.raises(ServerVersionError, match="not a version"):
        async with make_client(kind, script, check_server_version=True):
            pass


async def test_version_check_can_be_disabled(kind: ClientKind) -> None:
    script = Script([httpx.Response(200, json="2.0.0")])
    async with make_client(kind, script, check_server_version=False):
        pass
    assert script.calls == 0


async def test_version_check_is_skipped_for_cloud(kind: ClientKind) -> None:
    from prefect_trio_client.base import ServerType

    script = Script([httpx.Response(200, json="2.0.0")])
    async with make_client(kind, script, check_server_version=True, server_type=ServerType.CLOUD):
        pass
    assert script.calls == 0


async def test_methods_need_an_open_client() -> None:
    client = PrefectClient(
        API_URL, httpx_settings={"transport": Script([httpx.Response(200)]).transport()}
    )
    with pytest.raises(RuntimeError, match="open the client first"):
        await client.read_flow(RUN_ID)
    sync = SyncPrefectClient(
        API_URL, httpx_settings={"transport": Script([httpx.Response(200)]).transport()}
    )
    with pytest.raises(RuntimeError, match="open the client first"):
        sync.read_flow(RUN_ID)


async def test_a_closed_client_cannot_be_reopened(kind: ClientKind) -> None:
    script = Script([httpx.Response(200, json="3.9.1")])
    async with make_client(kind, script) as client:
        pass
    if isinstance(client, PrefectClient):
        with pytest.raises(RuntimeError, match="cannot be used again"):
            await client.__aenter__()
    else:
        with pytest.raises(RuntimeError, match="cannot be used again"):
            client.__enter__()
