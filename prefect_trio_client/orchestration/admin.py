"""Health and version endpoints."""

from __future__ import annotations

from prefect_trio_client.base import PrefectResponse
from prefect_trio_client.orchestration._plan import Plan, Request

__all__ = ["api_healthcheck", "api_version", "hello"]


def api_healthcheck() -> Plan[Exception | None]:
    """Check that the API answers: None when healthy, else the error (not raised)."""
    try:
        yield Request("GET", "/health")
    except Exception as exc:  # the answer, as in Prefect, is the error itself
        return exc
    return None


def hello() -> Plan[PrefectResponse]:
    """``GET /hello``: the raw response."""
    response: PrefectResponse = yield Request("GET", "/hello")
    return response


def api_version() -> Plan[str]:
    """The server's API version, such as ``"0.8.4"``."""
    response = yield Request("GET", "/admin/version")
    version = response.json()
    if not isinstance(version, str):
        raise ValueError(f"GET /admin/version returned {version!r}, not a version string")
    return version
