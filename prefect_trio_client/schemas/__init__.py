"""Wire-compatible models of Prefect 3's API: objects, actions, filters, sorting, responses,
automations, events.

Import the submodule you need (``from prefect_trio_client.schemas.objects import FlowRun``);
they mirror ``prefect.client.schemas.*``, so code ports by changing the import. Each is
imported when first named (``prefect_trio_client.schemas.filters`` works without an import
of its own): a program pays only for the models it uses.
"""

from typing import TYPE_CHECKING

from prefect_trio_client._lazy import lazy_submodules

if TYPE_CHECKING:
    from prefect_trio_client.schemas import actions as actions
    from prefect_trio_client.schemas import automations as automations
    from prefect_trio_client.schemas import events as events
    from prefect_trio_client.schemas import filters as filters
    from prefect_trio_client.schemas import objects as objects
    from prefect_trio_client.schemas import responses as responses
    from prefect_trio_client.schemas import sorting as sorting

__all__ = ["actions", "automations", "events", "filters", "objects", "responses", "sorting"]


__getattr__, __dir__ = lazy_submodules(__name__, __all__, globals())
