"""Events as Prefect 3.9 sends and reads them: resources, events, pages, filters.

The names and JSON shapes are those of ``prefect.events.schemas.events``,
``prefect.events.filters`` and ``prefect.client.schemas.events``, so code ports by
changing the import. The wire rules:

- A `Resource` is a flat mapping of string labels with a non-empty
  ``prefect.resource.id``; a `RelatedResource` also has a ``prefect.resource.role``.
- An `Event` made without ``id`` or ``occurred`` gets them as Prefect's client gives them:
  a time-ordered UUID (version 7) and the current time (UTC). The server answers with
  `ReceivedEvent` (the same plus ``received``), unknown fields ignored.
- Filters are request bodies: unknown fields are an error, and only what a caller gave is
  sent. Above all, ``occurred.since`` / ``occurred.until`` left unset are not sent, so the
  server fills them with its own clock (180 days back from the start of today, and now).
  Prefect's client sends its own "now" as ``until``: a filter built once and read again
  later never sees the newer events, and a client clock behind the server's hides the
  latest ones.
"""

import enum
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Protocol
from uuid import UUID

from pydantic import (
    AfterValidator,
    Field,
    RootModel,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from prefect_trio_client.schemas.automations import ResourceSpecification
from prefect_trio_client.schemas.objects import ActionBaseModel, DateTime, PrefectBaseModel

__all__ = [
    "MAXIMUM_LABELS_PER_RESOURCE",
    "MAXIMUM_RELATED_RESOURCES",
    "Event",
    "EventAnyResourceFilter",
    "EventFilter",
    "EventIDFilter",
    "EventNameFilter",
    "EventOccurredFilter",
    "EventOrder",
    "EventPage",
    "EventRelatedFilter",
    "EventResourceFilter",
    "EventTextFilter",
    "ReceivedEvent",
    "RelatedResource",
    "Resource",
    "ResourceSpecification",
    "uuid7",
]

MAXIMUM_LABELS_PER_RESOURCE = 500
"""Prefect's default ``PREFECT_EVENTS_MAXIMUM_LABELS_PER_RESOURCE``."""
MAXIMUM_RELATED_RESOURCES = 100
"""Prefect's default ``PREFECT_EVENTS_MAXIMUM_RELATED_RESOURCES``."""


def uuid7() -> UUID:
    """A UUID version 7 (milliseconds, then random bits): Prefect's event ids sort by time."""
    value = (time.time_ns() // 1_000_000 & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | secrets.randbits(12) << 64 | 0b10 << 62 | secrets.randbits(62)
    return UUID(int=value)


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- resources


class Resource(RootModel[dict[str, str]]):
    """An object an event concerns, as labels: ``{"prefect.resource.id": ..., ...}``."""

    @model_validator(mode="after")
    def _has_an_id(self) -> "Resource":
        if len(self.root) > MAXIMUM_LABELS_PER_RESOURCE:
            raise ValueError(
                f"The maximum number of labels per resource is {MAXIMUM_LABELS_PER_RESOURCE}"
            )
        if not self.root.get("prefect.resource.id"):
            raise ValueError("a resource needs a non-empty prefect.resource.id label")
        return self

    @property
    def id(self) -> str:
        return self.root["prefect.resource.id"]

    @property
    def name(self) -> str | None:
        return self.root.get("prefect.resource.name")

    def __getitem__(self, label: str) -> str:
        return self.root[label]

    def __contains__(self, label: object) -> bool:
        return label in self.root

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.root)

    def __len__(self) -> int:
        return len(self.root)

    def get(self, label: str, default: str | None = None) -> str | None:
        return self.root.get(label, default)

    def keys(self) -> Any:
        return self.root.keys()

    def items(self) -> Any:
        return self.root.items()

    def prefect_object_id(self, kind: str) -> UUID:
        """The UUID of a Prefect object's resource id (``prefect.flow-run.<id>``).

        Raises:
            ValueError: The id is not of that kind.
        """
        prefix = kind if kind.endswith(".") else f"{kind}."
        if not self.id.startswith(prefix):
            raise ValueError(f"Resource ID {self.id} does not start with {prefix}")
        return UUID(self.id[len(prefix) :])


class RelatedResource(Resource):
    """A resource with a role in an event (``prefect.resource.role``: flow, tag, ...)."""

    @model_validator(mode="after")
    def _has_a_role(self) -> "RelatedResource":
        if not self.root.get("prefect.resource.role"):
            raise ValueError("a related resource needs a non-empty prefect.resource.role label")
        return self

    @property
    def role(self) -> str:
        return self.root["prefect.resource.role"]


def _not_too_many(related: list[RelatedResource]) -> list[RelatedResource]:
    if len(related) > MAXIMUM_RELATED_RESOURCES:
        raise ValueError(f"The maximum number of related resources is {MAXIMUM_RELATED_RESOURCES}")
    return related


# --------------------------------------------------------------------------- events


class Event(PrefectBaseModel):
    """Something that happened to a resource, as a client sends it."""

    occurred: DateTime = Field(default_factory=_now)
    event: str
    resource: Resource
    related: Annotated[list[RelatedResource], AfterValidator(_not_too_many)] = Field(
        default_factory=list
    )
    payload: dict[str, Any] = Field(default_factory=dict)
    id: UUID = Field(default_factory=uuid7)
    follows: UUID | None = None
    """An event known to come before this one (orders events that arrive close together)."""

    @property
    def involved_resources(self) -> list[Resource]:
        return [self.resource, *self.related]

    @property
    def resource_in_role(self) -> dict[str, RelatedResource]:
        """The first related resource of each role."""
        return {related.role: related for related in reversed(self.related)}


class ReceivedEvent(Event):
    """An event as the server stored it: also when it was received."""

    received: DateTime


class _Pages(Protocol):
    async def read_events_page(self, next_page_url: str) -> "EventPage": ...


class _SyncPages(Protocol):
    def read_events_page(self, next_page_url: str) -> "EventPage": ...


class EventPage(PrefectBaseModel):
    """One page of events, the number of all that match, and where the next page is."""

    events: list[ReceivedEvent]
    total: int
    next_page: str | None
    """The URL of the next page (give it to ``read_events_page``); None on the last page."""

    async def get_next_page(self, client: _Pages) -> "EventPage | None":
        """The next page, or None on the last one."""
        if not self.next_page:
            return None
        return await client.read_events_page(self.next_page)

    def get_next_page_sync(self, client: _SyncPages) -> "EventPage | None":
        """The next page with a `SyncPrefectClient`, or None on the last one."""
        if not self.next_page:
            return None
        return client.read_events_page(self.next_page)


# --------------------------------------------------------------------------- filters


def _since_default() -> datetime:
    today = _now().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=180)


class EventOccurredFilter(ActionBaseModel):
    """Events that occurred in ``[since, until]`` (both inclusive).

    Unset bounds default as in Prefect (180 days back from the start of today; now), but
    are not sent: the server applies the same defaults with its own clock.
    """

    since: DateTime = Field(default_factory=_since_default)
    until: DateTime = Field(default_factory=_now)

    @model_serializer(mode="wrap")
    def _only_given_bounds(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if key in self.model_fields_set}


class EventNameFilter(ActionBaseModel):
    """By event name: prefixes, exact names, and those to leave out."""

    prefix: list[str] | None = None
    exclude_prefix: list[str] | None = None
    name: list[str] | None = None
    exclude_name: list[str] | None = None


class EventResourceFilter(ActionBaseModel):
    """By the event's own resource: ids, id prefixes, labels (values may end in ``*``,
    start with ``!``); ``distinct``: only the latest event of each resource."""

    id: list[str] | None = None
    id_prefix: list[str] | None = None
    labels: ResourceSpecification | None = None
    distinct: bool = False


class EventRelatedFilter(ActionBaseModel):
    """By one related resource: its id, its role, (id, role) pairs, its labels."""

    id: list[str] | None = None
    role: list[str] | None = None
    resources_in_roles: list[tuple[str, str]] | None = None
    labels: ResourceSpecification | None = None


class EventAnyResourceFilter(ActionBaseModel):
    """By any resource of the event, its own or a related one."""

    id: list[str] | None = None
    id_prefix: list[str] | None = None
    labels: ResourceSpecification | None = None


class EventIDFilter(ActionBaseModel):
    """By event id."""

    id: list[UUID] | None = None


class EventTextFilter(ActionBaseModel):
    """Text search over the name, resources and payload: words or "phrases" (any may
    match), ``-word`` / ``!word`` excluded, ``+word`` required; case-insensitive."""

    query: str = Field(max_length=200)


class EventOrder(str, enum.Enum):
    """The order of a page: by ``occurred``."""

    ASC = "ASC"
    DESC = "DESC"


class EventFilter(ActionBaseModel):
    """Events matching every criterion given; a list of related or any-resource filters
    must all match. Newest first unless ``order`` says ASC."""

    occurred: EventOccurredFilter = Field(default_factory=EventOccurredFilter)
    event: EventNameFilter | None = None
    resource: EventResourceFilter | None = None
    related: EventRelatedFilter | list[EventRelatedFilter] | None = None
    any_resource: EventAnyResourceFilter | list[EventAnyResourceFilter] | None = None
    id: EventIDFilter = Field(default_factory=EventIDFilter)
    text: EventTextFilter | None = None
    order: EventOrder = EventOrder.DESC
