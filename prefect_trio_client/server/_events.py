"""Events in the store: the state-change events of runs, posted events, and queries.

What Prefect's server writes, we write, in the same shapes:

- **Flow-run state changes.** Every state a flow run takes (its first one included) is an
  event ``prefect.flow-run.<state name>``, written in the transaction that writes the
  state, so the state and its event land together. Its id is the state's id, ``occurred``
  the state's timestamp, ``follows`` the previous state's id when that came less than
  five minutes before; the resource carries the run's name, run count and state labels;
  related are the flow, deployment, work queue, work pool, parent task run, the tags of
  all of them, and the creator (Prefect's ``flow_run_state_change_event``).
- **Task-run state changes.** Prefect's server writes none (Prefect's engine sends them
  from the client); this server orchestrates task runs itself, so it writes
  ``prefect.task-run.<state name>`` in the same shape, related to the task run's flow
  run (role ``flow-run``), that run's flow, deployment, queue and pool, and the tags.
- **Posted events** (``POST /events``) are stored as received; an id already stored is
  skipped, as Prefect's SQLite writer does. Task-run events sent by a client's engine are
  also written as task runs, as Prefect's task-run recorder service writes them.

Queries follow Prefect's ``EventFilter`` semantics (see `matching`); pages are Prefect's:
the first query counts the matches and a page token carries the filter (with its time
window fixed), the count, the page size and the next offset.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from functools import cache
from typing import Any, Literal

from pydantic import ValidationError

from prefect_trio_client.schemas.events import (
    EventAnyResourceFilter,
    EventFilter,
    EventOccurredFilter,
    EventOrder,
    EventRelatedFilter,
    EventResourceFilter,
    ResourceSpecification,
)
from prefect_trio_client.schemas.objects import State
from prefect_trio_client.server._db import Doc, Tx, Where
from prefect_trio_client.server._filters import Predicate, text_search
from prefect_trio_client.server._tables import (
    DEPLOYMENTS,
    EVENTS,
    FLOW_RUNS,
    FLOWS,
    TASK_RUNS,
    WORK_POOLS,
    WORK_QUEUES,
)
from prefect_trio_client.server._task_run_recorder import (
    is_client_task_run_event,
    record_task_run_event,
)
from prefect_trio_client.server._time import iso

__all__ = [
    "InvalidPageToken",
    "Page",
    "first_page",
    "live_predicate",
    "matching",
    "next_page",
    "record_state_change",
    "store_events",
]

RunKind = Literal["flow_run", "task_run"]
_TIGHT_TIMING = timedelta(minutes=5)
_TRUNCATE_MESSAGES_AT = 100_000
Page = tuple[list[Doc], int, str | None]
"""A page of events, how many match in all, and the token of the next page (or None)."""


class InvalidPageToken(ValueError):
    """A page token that is not one this server wrote (Prefect answers 403)."""


# --------------------------------------------------------------------------- writing


def store_events(tx: Tx, events: Iterable[Doc]) -> None:
    """Store events (``Event`` JSON) as received now; ids already stored are skipped.
    Task-run events a client's engine sent are recorded as task runs (`_task_run_recorder`)."""
    for event in events:
        if tx.get(EVENTS, event["id"]) is not None:
            continue
        doc = {**event, "received": tx.now_iso}
        tx.insert(EVENTS, doc, resource_id=event["resource"]["prefect.resource.id"])
        tx.stored_events.append(doc)
        if is_client_task_run_event(doc):  # issue 15: Prefect's task-run recorder
            record_task_run_event(tx, doc)


def record_state_change(
    tx: Tx, kind: RunKind, run: Doc, initial: State | None, state: State
) -> None:
    """Store the event of `run` (already updated) taking `state` (module docstring)."""
    dashed = kind.replace("_", "-")
    assert state.timestamp is not None
    occurred = state.timestamp
    tight = (
        initial is not None
        and initial.timestamp is not None
        and abs(occurred - initial.timestamp) < _TIGHT_TIMING
    )
    resource = {
        "prefect.resource.id": f"prefect.{dashed}.{run['id']}",
        "prefect.resource.name": run.get("name") or "",
        "prefect.run-count": str(run.get("run_count", 0)),
        "prefect.state-message": _truncated(state.message) or "",
        "prefect.state-name": state.name or "",
        "prefect.state-timestamp": occurred.isoformat(),
        "prefect.state-type": state.type.value,
    }
    related = _related_to_flow_run(tx, run) if kind == "flow_run" else _related_to_task_run(tx, run)
    payload = {
        "intended": {
            "from": None if initial is None else initial.type.value,
            "to": state.type.value,
        },
        "initial_state": _state_payload(initial),
        "validated_state": _state_payload(state),
    }
    event = {
        "occurred": iso(occurred),
        "event": f"prefect.{dashed}.{state.name}",
        "resource": resource,
        "related": related,
        "payload": payload,
        "id": str(state.id),
        "follows": str(initial.id) if tight and initial is not None else None,
    }
    store_events(tx, [event])


def _truncated(message: str | None) -> str | None:
    return None if message is None else message[:_TRUNCATE_MESSAGES_AT]


def _state_payload(state: State | None) -> dict[str, str] | None:
    """The essential text of a state, as Prefect puts it in an event's payload."""
    if state is None:
        return None
    payload = {"type": state.type.value}
    if state.name:
        payload["name"] = state.name
    if state.message:
        payload["message"] = state.message[:_TRUNCATE_MESSAGES_AT]
    if state.is_paused():
        payload["pause_reschedule"] = str(state.state_details.pause_reschedule).lower()
    return payload


_Related = list[dict[str, str]]


def _related(kind: str, doc: Doc | None, **labels: str) -> _Related:
    if doc is None:
        return []
    resource = {
        "prefect.resource.id": f"prefect.{kind}.{doc['id']}",
        "prefect.resource.role": kind,
        "prefect.resource.name": str(doc.get("name") or ""),
    }
    return [{**resource, **labels}]


def _objects_of_flow_run(tx: Tx, run: Doc) -> tuple[_Related, set[str]]:
    """The flow run's flow, deployment, queue, pool and parent task run, and their tags."""
    flow = tx.get(FLOWS, run["flow_id"])
    deployment = tx.get(DEPLOYMENTS, run["deployment_id"]) if run.get("deployment_id") else None
    queue = tx.get(WORK_QUEUES, run["work_queue_id"]) if run.get("work_queue_id") else None
    pool = tx.get(WORK_POOLS, queue["work_pool_id"]) if queue is not None else None
    parent = tx.get(TASK_RUNS, run["parent_task_run_id"]) if run.get("parent_task_run_id") else None
    related = [
        *_related("flow", flow),
        *_related("deployment", deployment),
        *_related("work-queue", queue),
        *_related("work-pool", pool, **{"prefect.work-pool.type": str((pool or {}).get("type"))}),
        *_related("task-run", parent),
    ]
    tags = {tag for doc in (run, flow, deployment, parent) if doc for tag in doc.get("tags") or []}
    return related, tags


def _tags(tags: set[str]) -> _Related:
    return [
        {"prefect.resource.id": f"prefect.tag.{t}", "prefect.resource.role": "tag"}
        for t in sorted(tags)
    ]


def _creator(run: Doc) -> _Related:
    created_by = run.get("created_by") or {}
    kind = {"DEPLOYMENT": "deployment", "AUTOMATION": "automation"}.get(str(created_by.get("type")))
    if kind is None:
        return []
    creator = {
        "prefect.resource.id": f"prefect.{kind}.{created_by.get('id')}",
        "prefect.resource.role": "creator",
    }
    if created_by.get("display_value"):
        creator["prefect.resource.name"] = created_by["display_value"]
    return [creator]


def _related_to_flow_run(tx: Tx, run: Doc) -> _Related:
    related, tags = _objects_of_flow_run(tx, run)
    return [*related, *_tags(tags), *_creator(run)]


def _related_to_task_run(tx: Tx, task_run: Doc) -> _Related:
    tags = set(task_run.get("tags") or [])
    flow_run = tx.get(FLOW_RUNS, task_run["flow_run_id"]) if task_run.get("flow_run_id") else None
    if flow_run is None:
        return _tags(tags)
    related, more_tags = _objects_of_flow_run(tx, flow_run)
    return [*_related("flow-run", flow_run), *related, *_tags(tags | more_tags)]


# --------------------------------------------------------------------------- reading


def _window(tx: Tx, occurred: EventOccurredFilter) -> EventOccurredFilter:
    """The time window with unset bounds filled from the server's clock (Prefect's
    defaults: 180 days back from the start of today; now)."""
    given = occurred.model_fields_set
    today = tx.now.replace(hour=0, minute=0, second=0, microsecond=0)
    since = occurred.since if "since" in given else today - timedelta(days=180)
    until = occurred.until if "until" in given else tx.now
    return EventOccurredFilter(since=since, until=until)


def _resources(event: Doc) -> list[Mapping[str, str]]:
    """The event's resources: its own (role ``""``) and its related ones."""
    own = {**event["resource"], "prefect.resource.role": ""}
    return [own, *event.get("related", [])]


@cache
def _pattern(expected: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in expected)
    return re.compile("".join(parts), re.DOTALL)


def _like(expected: str, value: str | None) -> bool:
    """Prefect's label match: ``*`` any run, ``?`` one character, a leading ``!``
    negates; a missing label never matches (SQL's NULL)."""
    if value is None:
        return False
    negated = expected.startswith("!")
    found = _pattern(expected.removeprefix("!")).fullmatch(value) is not None
    return found != negated


def _labels_match(spec: ResourceSpecification, resource: Mapping[str, str]) -> bool:
    for label, expected in spec.items():
        values = [expected] if isinstance(expected, str) else expected
        if label == "prefect.resource.role":
            if resource.get(label) not in values:
                return False
        elif not any(_like(value, resource.get(label)) for value in values):
            return False  # an empty list matches nothing, as in Prefect
    return True


def _resource_test(
    model: EventResourceFilter | EventRelatedFilter | EventAnyResourceFilter,
) -> Callable[[Mapping[str, str]], bool]:
    """Whether one resource meets every criterion of `model`."""
    ids = model.id
    prefixes = getattr(model, "id_prefix", None)
    roles = getattr(model, "role", None)
    pairs = getattr(model, "resources_in_roles", None)
    labels = model.labels

    def test(resource: Mapping[str, str]) -> bool:
        resource_id = resource["prefect.resource.id"]
        if ids and resource_id not in ids:
            return False
        if prefixes and not any(resource_id.startswith(p) for p in prefixes):
            return False
        if roles and resource.get("prefect.resource.role") not in roles:
            return False
        if pairs and (resource_id, resource.get("prefect.resource.role")) not in set(pairs):
            return False
        return not labels or _labels_match(labels, resource)

    return test


def _related_predicate(model: EventRelatedFilter) -> Predicate:
    """Some related resource meets the criteria (its own resource only when a role
    asks for it; a filter with no criteria matches every event)."""
    if not (model.id or model.role or model.resources_in_roles or model.labels):
        return lambda event: True
    test = _resource_test(model)
    own_too = bool(model.role)
    return lambda event: any(
        test(r) for r in _resources(event) if own_too or r["prefect.resource.role"]
    )


def _any_resource_predicate(model: EventAnyResourceFilter) -> Predicate:
    if not (model.id or model.id_prefix or model.labels):
        return lambda event: True
    test = _resource_test(model)
    return lambda event: any(test(r) for r in _resources(event))


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _searchable(event: Doc) -> str:
    """What Prefect's text search reads: the name, the resources, the payload."""
    parts = [event["event"], json.dumps(event["resource"]), json.dumps(event.get("related", []))]
    return " ".join([*parts, json.dumps(event.get("payload", {}))])


def _predicate(model: EventFilter) -> Predicate:
    checks: list[Predicate] = []
    names = model.event
    if names is not None:
        if names.prefix:
            prefixes = tuple(names.prefix)
            checks.append(lambda e: e["event"].startswith(prefixes))
        if names.exclude_prefix:
            excluded = tuple(names.exclude_prefix)
            checks.append(lambda e: not e["event"].startswith(excluded))
        if names.exclude_name:
            excluded_names = set(names.exclude_name)
            checks.append(lambda e: e["event"] not in excluded_names)
    if model.resource is not None:
        own = _resource_test(model.resource)
        checks.append(lambda e: own({**e["resource"], "prefect.resource.role": ""}))
    checks.extend(_related_predicate(f) for f in _listed(model.related))
    checks.extend(_any_resource_predicate(f) for f in _listed(model.any_resource))
    if model.text is not None and model.text.query.strip():
        checks.append(text_search(model.text.query, _searchable))
    return lambda event: all(check(event) for check in checks)


def live_predicate(model: EventFilter) -> Predicate:
    """Whether a just-stored event matches `model` (for live subscribers): every
    criterion `matching` applies, with the time bounds the filter gives (an unset
    ``until`` is no bound, so a subscription keeps matching new events)."""
    given = model.occurred.model_fields_set
    since = iso(model.occurred.since) if "since" in given else None
    until = iso(model.occurred.until) if "until" in given else None
    names = set(model.event.name) if model.event is not None and model.event.name else None
    ids = set(model.resource.id) if model.resource is not None and model.resource.id else None
    event_ids = {str(i) for i in model.id.id} if model.id.id else None
    rest = _predicate(model)

    def test(event: Doc) -> bool:
        occurred = event["occurred"]
        if (since is not None and occurred < since) or (until is not None and occurred > until):
            return False
        if names is not None and event["event"] not in names:
            return False
        if ids is not None and event["resource"]["prefect.resource.id"] not in ids:
            return False
        if event_ids is not None and event["id"] not in event_ids:
            return False
        return rest(event)

    return test


def matching(tx: Tx, model: EventFilter) -> list[Doc]:
    """Every event `model` selects, in its order (ties broken by id); with
    ``resource.distinct``, only the first event of each resource in that order."""
    window = _window(tx, model.occurred)
    narrow: dict[str, Where] = {}
    if model.event is not None and model.event.name:
        narrow["event"] = list(model.event.name)
    if model.resource is not None and model.resource.id:
        narrow["resource_id"] = list(model.resource.id)
    if model.id.id:
        narrow["id"] = [str(i) for i in model.id.id]
    found = tx.find_between(
        EVENTS,
        "occurred",
        iso(window.since),
        iso(window.until),
        descending=model.order is EventOrder.DESC,
        **narrow,
    )
    matches = _predicate(model)
    events = [event for event in found if matches(event)]
    if model.resource is not None and model.resource.distinct:
        seen: set[str] = set()
        distinct = []
        for event in events:
            resource_id = event["resource"]["prefect.resource.id"]
            if resource_id not in seen:
                seen.add(resource_id)
                distinct.append(event)
        events = distinct
    return events


def _token(model: EventFilter, count: int, page_size: int, offset: int) -> str | None:
    """Prefect's page token (base64 of the query's JSON), or None after the last page."""
    if offset + page_size >= count:
        return None
    query = {
        "filter": model.model_dump(mode="json"),
        "count": count,
        "page_size": page_size,
        "offset": offset + page_size,
    }
    return base64.b64encode(json.dumps(query).encode()).decode()


def first_page(tx: Tx, model: EventFilter, page_size: int) -> Page:
    """The first page of a query, with the count of all matches."""
    fixed = model.model_copy(update={"occurred": _window(tx, model.occurred)})
    events = matching(tx, fixed)
    return events[:page_size], len(events), _token(fixed, len(events), page_size, 0)


def next_page(tx: Tx, token: str) -> Page:
    """The page a token names (its count is the first page's, as in Prefect).

    Raises:
        InvalidPageToken: The token is not one this server wrote.
    """
    try:
        query = json.loads(base64.b64decode(token, validate=True))
        model = EventFilter.model_validate(query["filter"])
        count, page_size, offset = (int(query[key]) for key in ("count", "page_size", "offset"))
    except (ValueError, TypeError, KeyError, binascii.Error, ValidationError) as exc:
        raise InvalidPageToken("not a page token of this server") from exc
    if page_size < 0 or offset < 0:
        raise InvalidPageToken("not a page token of this server")
    events = matching(tx, model)
    return events[offset : offset + page_size], count, _token(model, count, page_size, offset)
