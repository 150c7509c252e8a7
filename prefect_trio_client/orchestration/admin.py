"""Health and version endpoints."""

from __future__ import annotations

from pydantic import StrictStr

from prefect_trio_client.base import PrefectResponse
from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import parse_as

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
    """The server's Prefect version, such as ``"3.9.1"``.

    Raises:
        ResponseDecodeError: The answer is not a version string (the URL is not a
            Prefect API: a web page, a proxy's error page, another JSON service).
    """
    response = yield Request("GET", "/admin/version")
    return parse_as(StrictStr, response, "a version string")
