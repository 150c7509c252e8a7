"""Health and version endpoints."""

from __future__ import annotations

from uuid import UUID

from pydantic import StrictStr

from prefect_trio_client.base import PrefectResponse
from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import body, parse, parse_as
from prefect_trio_client.schemas.actions import ServerDefaultResultStorageUpdate
from prefect_trio_client.schemas.objects import ServerDefaultResultStorage

__all__ = [
    "api_healthcheck",
    "api_version",
    "clear_server_default_result_storage",
    "hello",
    "read_server_default_result_storage",
    "update_server_default_result_storage",
]


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


# --------------------------------------------------------------------------- issue 11: queues-misc


def read_server_default_result_storage() -> Plan[ServerDefaultResultStorage]:
    """The block the server names as default result storage (its id is None if unset)."""
    response = yield Request("GET", "/admin/storage")
    return parse(ServerDefaultResultStorage, response)


def update_server_default_result_storage(
    default_result_storage_block_id: UUID,
) -> Plan[ServerDefaultResultStorage]:
    """Name a block document as the server's default result storage.

    Raises:
        ObjectNotFound: No block document has that id.
        PrefectHTTPStatusError: 422 when the block cannot store results (it has no
            ``write-path`` capability).
    """
    update = ServerDefaultResultStorageUpdate(
        default_result_storage_block_id=default_result_storage_block_id
    )
    response = yield Request("PUT", "/admin/storage", json=body(update))
    return parse(ServerDefaultResultStorage, response)


def clear_server_default_result_storage() -> Plan[None]:
    """Unset the server's default result storage (done even when none was set)."""
    yield Request("DELETE", "/admin/storage")
