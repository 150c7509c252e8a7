"""The orchestration client: `PrefectClient`, `SyncPrefectClient` and `get_client()`.

Each endpoint is a sans-I/O plan in a resource module (`flows`, `flow_runs`,
`task_runs`, `run_states`, `deployments`, `logs`, `variables`, `work_pools`,
`concurrency`, `artifacts`, `admin`); both clients run the same plans. A resource
module (and the schemas it uses) is imported on the first call of one of its endpoints,
or when it is named here as an attribute.
"""

from prefect_trio_client._lazy import lazy_submodules
from prefect_trio_client.orchestration._factory import get_client as get_client
from prefect_trio_client.orchestration.client import PrefectClient as PrefectClient
from prefect_trio_client.orchestration.sync import SyncPrefectClient as SyncPrefectClient

_RESOURCE_MODULES = frozenset(
    {
        "admin",
        "artifacts",
        "automations",
        "blocks",
        "concurrency",
        "deployments",
        "events",
        "flow_runs",
        "flows",
        "logs",
        "raw",
        "run_states",
        "tag_concurrency",
        "task_runs",
        "variables",
        "work_pools",
    }
)


__getattr__, __dir__ = lazy_submodules(__name__, _RESOURCE_MODULES, globals())

__all__ = ["PrefectClient", "SyncPrefectClient", "get_client"]
