"""The orchestration client: `PrefectClient`, `SyncPrefectClient` and `get_client()`.

Each endpoint is a sans-I/O plan in a resource module (`flows`, `flow_runs`,
`task_runs`, `run_states`, `deployments`, `logs`, `variables`, `work_pools`,
`concurrency`, `artifacts`, `admin`); both clients run the same plans.
"""

from prefect_trio_client.orchestration._factory import get_client as get_client
from prefect_trio_client.orchestration.client import PrefectClient as PrefectClient
from prefect_trio_client.orchestration.sync import SyncPrefectClient as SyncPrefectClient

__all__ = ["PrefectClient", "SyncPrefectClient", "get_client"]
