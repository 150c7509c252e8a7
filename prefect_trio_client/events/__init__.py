"""Events over Prefect 3's websockets, trio-native (also runs on asyncio).

`get_events_client` opens ``/events/in`` and sends events without making the caller
wait; `emit_event` sends through the client open here; `get_events_subscriber` streams
``/events/out``. Wire-compatible with Prefect 3.9: the same auth message, checkpoints,
filter message and event JSON.
"""

from prefect_trio_client.events._client import EventsClient as EventsClient
from prefect_trio_client.events._client import current_events_client as current_events_client
from prefect_trio_client.events._emit import emit_event as emit_event
from prefect_trio_client.events._emit import get_events_client as get_events_client
from prefect_trio_client.events._emit import get_events_subscriber as get_events_subscriber
from prefect_trio_client.events._subscriber import EventSubscriber as EventSubscriber
from prefect_trio_client.exceptions import EventStreamError as EventStreamError
from prefect_trio_client.exceptions import EventTooLarge as EventTooLarge
from prefect_trio_client.schemas.events import Event as Event
from prefect_trio_client.schemas.events import EventFilter as EventFilter
from prefect_trio_client.schemas.events import ReceivedEvent as ReceivedEvent
from prefect_trio_client.schemas.events import RelatedResource as RelatedResource
from prefect_trio_client.schemas.events import Resource as Resource

__all__ = [
    "Event",
    "EventFilter",
    "EventStreamError",
    "EventSubscriber",
    "EventTooLarge",
    "EventsClient",
    "ReceivedEvent",
    "RelatedResource",
    "Resource",
    "current_events_client",
    "emit_event",
    "get_events_client",
    "get_events_subscriber",
]
