"""Names in URL paths: each is one percent-encoded segment, and reaches the server as is.

The class of bug (issue 9): a plan that builds a path with an f-string sends
``/flows/name/db#replica`` as a read of ``db``, ``a?b=c`` as ``a`` with a query, and ``..``
as the parent path. Every plan now builds its paths with ``_wire.url_path``; these tests
prove the encoding (hypothesis), that httpx sends it unchanged, that every by-name method
of both clients uses it, and that no plan builds a path by hand any more.
"""

from __future__ import annotations

import ast
import contextlib
import pathlib
import string
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import prefect_trio_client.orchestration as orchestration_package
from prefect_trio_client.exceptions import ObjectNotFound
from prefect_trio_client.orchestration._wire import segment, url_path
from prefect_trio_client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
from tests.interop.test_lifecycle import HOSTILE_NAMES
from tests.orchestration.harness import API_URL, ClientKind, call, make_client

UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")


def _decoded_segments(raw_path: bytes) -> list[str]:
    """How a server splits and decodes a path: on ``/`` first, then each segment."""
    return [unquote(part) for part in raw_path.decode("ascii").split("/")]


@given(st.text(min_size=1))
def test_a_segment_decodes_to_the_name_and_is_one_plain_segment(name: str) -> None:
    encoded = segment(name)
    assert unquote(encoded) == name
    assert encoded not in (".", "..")
    assert "/" not in encoded
    rest = encoded
    while rest:  # only unreserved characters and %XX escapes
        if rest[0] == "%":
            assert all(c in string.hexdigits for c in rest[1:3])
            rest = rest[3:]
        else:
            assert rest[0] in UNRESERVED
            rest = rest[1:]


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=API_URL) as client:
        yield client


@given(st.text(min_size=1), st.text(min_size=1))
def test_httpx_sends_the_encoded_path_unchanged(
    http: httpx.Client, first: str, second: str
) -> None:
    path = url_path("deployments", "name", first, second)
    request = http.build_request("GET", path)
    assert request.url.raw_path == b"/api" + path.encode("ascii")
    assert _decoded_segments(request.url.raw_path)[-4:] == ["deployments", "name", first, second]


def test_an_empty_name_is_refused_not_sent_to_another_endpoint() -> None:
    with pytest.raises(ValueError, match="cannot be empty"):
        url_path("flows", "name", "")


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("db#replica", "db%23replica"),
        ("a?b=c", "a%3Fb%3Dc"),
        ("x/y", "x%2Fy"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("...", "..."),
        ("%2F", "%252F"),
        ("50%", "50%25"),
        (" spaced ", "%20spaced%20"),
        ("naïve", "na%C3%AFve"),
        ("日本", "%E6%97%A5%E6%9C%AC"),
    ],
)
def test_hostile_names_are_encoded(name: str, encoded: str) -> None:
    assert segment(name) == encoded


# Every method that puts a caller's name into a path: how to call it with `name`, and
# the decoded path segments the server must see (after ``/api``).
BY_NAME: dict[str, tuple[Any, list[str]]] = {
    "read_flow_by_name": (lambda n: ((n,), {}), ["flows", "name", "{}"]),
    "read_deployment_by_name": (
        lambda n: ((f"{n}/{n}",), {}),
        ["deployments", "name", "{}", "{}"],
    ),
    "read_variable_by_name": (lambda n: ((n,), {}), ["variables", "name", "{}"]),
    "delete_variable_by_name": (lambda n: ((n,), {}), ["variables", "name", "{}"]),
    "read_work_pool": (lambda n: ((n,), {}), ["work_pools", "{}"]),
    "update_work_pool": (
        lambda n: ((n, WorkPoolUpdate(description="d")), {}),
        ["work_pools", "{}"],
    ),
    "delete_work_pool": (lambda n: ((n,), {}), ["work_pools", "{}"]),
    "send_worker_heartbeat": (
        lambda n: ((n, "worker"), {}),
        ["work_pools", "{}", "workers", "heartbeat"],
    ),
    "get_scheduled_flow_runs_for_work_pool": (
        lambda n: ((n,), {}),
        ["work_pools", "{}", "get_scheduled_flow_runs"],
    ),
    "create_work_queue": (
        lambda n: (("queue",), {"work_pool_name": n}),
        ["work_pools", "{}", "queues"],
    ),
    "read_work_queue_by_name": (
        lambda n: ((n,), {"work_pool_name": n}),
        ["work_pools", "{}", "queues", "{}"],
    ),
    "read_work_queues": (
        lambda n: ((), {"work_pool_name": n}),
        ["work_pools", "{}", "queues", "filter"],
    ),
    "read_global_concurrency_limit_by_name": (
        lambda n: ((n,), {}),
        ["v2", "concurrency_limits", "{}"],
    ),
    "delete_global_concurrency_limit_by_name": (
        lambda n: ((n,), {}),
        ["v2", "concurrency_limits", "{}"],
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("method", sorted(BY_NAME))
async def test_every_by_name_method_sends_the_name_as_its_own_segments(
    kind: ClientKind, method: str
) -> None:
    build, template = BY_NAME[method]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"detail": "not found"})

    async with make_client(kind, handler) as client:
        for name in HOSTILE_NAMES:
            seen.clear()
            args, kwargs = build(name)
            if method == "read_deployment_by_name" and "/" in name:
                # '<flow>/<deployment>' cannot be split: refused before any request.
                with pytest.raises(ValueError, match="deployment names are written"):
                    await call(client, method, *args, **kwargs)
                assert seen == []
                continue
            with contextlib.suppress(ObjectNotFound):
                await call(client, method, *args, **kwargs)
            assert len(seen) == 1, name
            expected = ["", "api", *(name if part == "{}" else part for part in template)]
            assert _decoded_segments(seen[0].url.raw_path) == expected, name
            assert not seen[0].url.query, name


@pytest.mark.anyio
async def test_overwriting_a_work_pool_addresses_it_by_its_encoded_name(kind: ClientKind) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(409, json={"detail": "exists"})
        if request.method == "PATCH":
            return httpx.Response(204)
        return httpx.Response(200, json={"name": "read back", "type": "process"})

    async with make_client(kind, handler) as client:
        for name in HOSTILE_NAMES:
            seen.clear()
            # model_construct: even a name the model refuses must be encoded, not sent raw.
            pool = WorkPoolCreate.model_construct(name=name, type="process")
            await call(client, "create_work_pool", pool, overwrite=True)
            assert [r.method for r in seen] == ["POST", "PATCH", "GET"]
            for request in seen[1:]:
                segments = _decoded_segments(request.url.raw_path)
                assert segments == ["", "api", "work_pools", name]


def _plan_modules() -> list[pathlib.Path]:
    folder = pathlib.Path(orchestration_package.__file__).parent
    return sorted(p for p in folder.glob("*.py") if p.name not in ("_wire.py", "_plan.py"))


def test_no_plan_builds_a_path_by_hand() -> None:
    """A path is ``url_path(...)`` or a constant: never an f-string or a concatenation."""
    by_hand = []
    for module in _plan_modules():
        for node in ast.walk(ast.parse(module.read_text())):
            first: ast.expr | None = None
            if isinstance(node, ast.JoinedStr) and node.values:
                first = node.values[0]
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
                first = node.left
            if (
                isinstance(first, ast.Constant)
                and isinstance(node, ast.expr)
                and str(first.value).startswith("/")
            ):
                by_hand.append(f"{module.name}:{node.lineno}")
    assert len(_plan_modules()) > 10
    assert not by_hand, f"URL paths built by hand at {by_hand}"
