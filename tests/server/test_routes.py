"""Every endpoint Prefect's capture documents is routed here, with the same method."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Match, Mount

from prefect_trio_client.server import create_app
from tests.server.helpers import samples

SAMPLES = samples()
ENDPOINTS = sorted({key.split(" (")[0].split(" ->")[0] for key in SAMPLES})


@pytest.mark.parametrize("key", ENDPOINTS)
def test_captured_endpoint_is_routed(key: str) -> None:
    method, template = key.split(" ", 1)
    sample = next(s for k, s in SAMPLES.items() if k.startswith(key))
    url = httpx.URL(sample["url"])
    mount = create_app(":memory:").routes[0]
    assert isinstance(mount, Mount)
    assert url.path.startswith(mount.path)
    path = url.path.removeprefix(mount.path)
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    matches = [route.matches(scope)[0] for route in mount.routes]
    assert Match.FULL in matches, f"{method} {url.path} ({template}) is not routed"
