"""Wire-compatible models of Prefect 3's API: objects, actions, filters, sorting, responses,
automations, events.

Import the submodule you need (``from prefect_trio_client.schemas.objects import FlowRun``);
they mirror ``prefect.client.schemas.*``, so code ports by changing the import.
"""

from prefect_trio_client.schemas import actions as actions
from prefect_trio_client.schemas import automations as automations
from prefect_trio_client.schemas import events as events
from prefect_trio_client.schemas import filters as filters
from prefect_trio_client.schemas import objects as objects
from prefect_trio_client.schemas import responses as responses
from prefect_trio_client.schemas import sorting as sorting

__all__ = ["actions", "automations", "events", "filters", "objects", "responses", "sorting"]
