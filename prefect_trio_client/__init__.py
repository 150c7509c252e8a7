"""prefect-trio-client: a trio-first, structured-concurrency client for the Prefect API.

The names most programs need are re-exported here; each module documents its own.
"""

import importlib
from typing import TYPE_CHECKING, Any

from prefect_trio_client._version import __version__ as __version__
from prefect_trio_client.base import PrefectHttpxAsyncClient as PrefectHttpxAsyncClient
from prefect_trio_client.base import PrefectHttpxSyncClient as PrefectHttpxSyncClient
from prefect_trio_client.base import PrefectResponse as PrefectResponse
from prefect_trio_client.base import RetryEvent as RetryEvent
from prefect_trio_client.base import RetryPolicy as RetryPolicy
from prefect_trio_client.base import ServerType as ServerType
from prefect_trio_client.base import determine_server_type as determine_server_type
from prefect_trio_client.exceptions import ClientClosedError as ClientClosedError
from prefect_trio_client.exceptions import LifespanStartupError as LifespanStartupError
from prefect_trio_client.exceptions import ObjectAlreadyExists as ObjectAlreadyExists
from prefect_trio_client.exceptions import ObjectNotFound as ObjectNotFound
from prefect_trio_client.exceptions import PrefectException as PrefectException
from prefect_trio_client.exceptions import PrefectHTTPStatusError as PrefectHTTPStatusError
from prefect_trio_client.exceptions import SettingsError as SettingsError

if TYPE_CHECKING:
    from prefect_trio_client.runs import flow as flow
    from prefect_trio_client.runs import get_run_logger as get_run_logger
    from prefect_trio_client.runs import task as task
    from prefect_trio_client.settings import ClientSettings as ClientSettings

#: Names imported on first use: run tracking pulls in the orchestration client and its
#: schemas, which a program that only uses `base` does not pay for; the settings model
#: pulls in pydantic-settings, paid for when settings are first read.
_LAZY = {
    "ClientSettings": "prefect_trio_client.settings",
    "flow": "prefect_trio_client.runs",
    "get_run_logger": "prefect_trio_client.runs",
    "task": "prefect_trio_client.runs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'prefect_trio_client' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The names that exist, imported yet or not (for ``dir()`` and completion)."""
    return sorted({*globals(), *__all__})


__all__ = [
    "ClientClosedError",
    "ClientSettings",
    "LifespanStartupError",
    "ObjectAlreadyExists",
    "ObjectNotFound",
    "PrefectException",
    "PrefectHTTPStatusError",
    "PrefectHttpxAsyncClient",
    "PrefectHttpxSyncClient",
    "PrefectResponse",
    "RetryEvent",
    "RetryPolicy",
    "ServerType",
    "__version__",
    "determine_server_type",
    "flow",
    "get_run_logger",
    "task",
]
