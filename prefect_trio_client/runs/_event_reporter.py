"""Task runs reported as Prefect 3.9's engine reports them: built locally, each state
change sent as a ``prefect.task-run.<state>`` event; the server's task-run recorder
writes them. No request is made for a task run.

The task run and its states are kept here as Prefect's ``AsyncTaskRunEngine.set_state``
keeps them (unique, increasing timestamps; run count, start and end times, total run time
worked out by the client), and each event has the shape of Prefect's
``emit_task_run_state_change_event``: id and time of the state, the task run as resource,
its tags, then the flow run, its flow and their tags as related resources (what Prefect's
events worker adds from the run context), and the payload the recorder reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect_trio_client import states
from prefect_trio_client.runs._engine import describe
from prefect_trio_client.schemas.events import Event, uuid7
from prefect_trio_client.schemas.objects import TaskRun, TaskRunPolicy

if TYPE_CHECKING:
    from prefect_trio_client.events._client import EventsClient
    from prefect_trio_client.runs._context import FlowRunContext
    from prefect_trio_client.schemas.objects import State

__all__ = ["EventReporter", "local_task_run", "task_run_state_event"]

#: ``follows`` is set only when the earlier event is this close (Prefect's rule; the
#: events package is not imported here, so that importing ``@task`` stays cheap).
TIGHT_TIMING = timedelta(minutes=5)
#: Prefect truncates state messages in events to this many characters.
MESSAGE_LIMIT = 100_000
#: Task-run fields Prefect leaves out of an event's ``task_run`` payload.
_NOT_IN_PAYLOAD = {
    "id",
    "created",
    "updated",
    "flow_run_id",
    "state_id",
    "state_type",
    "state_name",
    "state",
    "estimated_start_time_delta",
    "estimated_run_time",
}


def local_task_run(
    *,
    flow: FlowRunContext | None,
    task_key: str,
    dynamic_key: str,
    name: str,
    version: str | None,
    tags: list[str],
    parameters: list[str],
    retries: int,
    retry_delay: float | list[float],
) -> TaskRun:
    """A Pending task run, built as Prefect's ``_create_task_run_locally`` builds it."""
    run_id = uuid7()  # Prefect's ids of task runs and states are time-ordered too
    flow_run_id = flow.flow_run.id if flow is not None else None
    pending = states.Pending(state_details={"task_run_id": run_id, "flow_run_id": flow_run_id})
    pending.id = uuid7()
    return TaskRun(
        id=run_id,
        name=name,
        flow_run_id=flow_run_id,
        task_key=task_key,
        dynamic_key=dynamic_key,
        task_version=version,
        empirical_policy=TaskRunPolicy(retries=retries, retry_delay=retry_delay),
        tags=list(tags),
        task_inputs={parameter: [] for parameter in parameters},
        expected_start_time=pending.timestamp,
        state_id=pending.id,
        state_type=pending.type,
        state_name=pending.name,
        state=pending,
        created=pending.timestamp,
        updated=pending.timestamp,
    )


class EventReporter:
    """Keeps a task run's states locally and sends each as an event (see `Reporter` in
    `_engine`). Nothing here waits on the network: a proposal is always accepted."""

    label = "Task run"
    client_side_retries = True

    def __init__(
        self, events: EventsClient, task_run: TaskRun, flow: FlowRunContext | None
    ) -> None:
        self._events = events
        self._flow = flow
        self.task_run = task_run
        self.run_id = task_run.id
        self.run_name = task_run.name
        self._last: Event | None = None
        self._started = False
        self.result: Any = None
        """The value the body returned last (see `_UNTRACKABLE`)."""

    def report_pending(self) -> None:
        """Send the task run's first state (Pending)."""
        assert self.task_run.state is not None
        self._emit(None, self.task_run.state)

    async def propose(self, state: State, *, force: bool = False, max_wait: float = 300.0) -> State:
        return self.set_state(state)

    def set_state(self, state: State) -> State:
        """Make `state` the task run's state, as Prefect's engine does, and send it."""
        run = self.task_run
        last = run.state
        assert last is not None
        if state.is_running() and not self._started:  # Prefect's begin_run
            self._started = True
            run.start_time = state.timestamp
            if self._flow is not None:
                run.flow_run_run_count = self._flow.flow_run.run_count
        if state.timestamp <= last.timestamp:  # unique and increasing, as Prefect's
            state.timestamp = last.timestamp + timedelta(microseconds=1)
        state.id = uuid7()
        state.state_details.task_run_id = run.id
        state.state_details.flow_run_id = run.flow_run_id
        if state.is_completed() and self._flow is not None and _untrackable(self.result):
            state.state_details.untrackable_result = True  # as Prefect marks such results
        run.state = state
        run.state_id, run.state_type, run.state_name = state.id, state.type, state.name
        if last.is_running():
            run.total_run_time += state.timestamp - last.timestamp
        if state.is_running():
            run.run_count += 1
        if state.is_final() and run.start_time is not None and run.end_time is None:
            run.end_time = state.timestamp
        self._emit(last, state)
        return state

    def failed_message(self, error: BaseException) -> str:
        return f"Task run encountered an exception {describe(error)}"  # sic: no colon

    def _emit(self, initial: State | None, validated: State) -> None:
        event = task_run_state_event(
            self.task_run, initial, validated, flow=self._flow, follows=self._last
        )
        self._events.emit_nowait(event)  # a full buffer drops it, counted and warned
        self._last = event


def task_run_state_event(
    task_run: TaskRun,
    initial: State | None,
    validated: State,
    *,
    flow: FlowRunContext | None,
    follows: Event | None = None,
) -> Event:
    """The event of `task_run` entering `validated`, shaped as Prefect 3.9.1's."""
    related: list[dict[str, str]] = _tags(task_run.tags)
    if flow is not None:
        flow_run = flow.flow_run
        context = [
            _object("flow-run", flow_run.id, flow_run.name),
            _object("flow", flow_run.flow_id, flow.flow_name),
        ]
        involved = {item["prefect.resource.id"] for item in related}
        related += context
        related += [
            tag for tag in _tags(flow_run.tags) if tag["prefect.resource.id"] not in involved
        ]
    occurred = validated.timestamp
    tight = follows is not None and -TIGHT_TIMING < occurred - follows.occurred < TIGHT_TIMING
    return Event.model_validate(
        {
            "id": validated.id,
            "occurred": occurred,
            "event": f"prefect.task-run.{validated.name}",
            "resource": {
                "prefect.resource.id": f"prefect.task-run.{task_run.id}",
                "prefect.resource.name": task_run.name,
                "prefect.run-count": str(task_run.run_count),
                "prefect.state-message": _truncated(validated.message),
                "prefect.state-name": validated.name or "",
                "prefect.state-timestamp": _isoformat(occurred),
                "prefect.state-type": validated.type.value,
                "prefect.orchestration": "client",
            },
            "related": related,
            "payload": {
                "intended": {
                    "from": initial.type.value if initial is not None else None,
                    "to": validated.type.value,
                },
                "initial_state": _state(initial, with_data=False) if initial else None,
                "validated_state": _state(validated, with_data=True),
                "task_run": _task_run_payload(task_run),
            },
            "follows": follows.id if tight and follows is not None else None,
        }
    )


def _untrackable(value: Any) -> bool:
    """Prefect's rule for a result it cannot link to its state: a singleton (None, a
    bool, Ellipsis, NotImplemented, an int from -5 to 256)."""
    if value is None or value is Ellipsis or value is NotImplemented or isinstance(value, bool):
        return True
    return type(value) is int and -5 <= value <= 256


def _tags(tags: list[str]) -> list[dict[str, str]]:
    return [
        {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
        for tag in sorted(set(tags))
    ]


def _object(kind: str, id: UUID, name: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"prefect.{kind}.{id}",
        "prefect.resource.role": kind,
        "prefect.resource.name": name,
    }


def _state(state: State, *, with_data: bool) -> dict[str, Any]:
    details = {
        key: value
        for key, value in state.state_details.model_dump(mode="json", exclude_none=True).items()
        if key not in ("flow_run_id", "task_run_id")
    }
    doc: dict[str, Any] = {
        "type": state.type.value,
        "name": state.name,
        "message": _truncated(state.message),
        "state_details": details,
    }
    if with_data:
        doc["data"] = None  # results are not persisted (Prefect sends their metadata if so)
    return doc


def _task_run_payload(task_run: TaskRun) -> dict[str, Any]:
    payload = task_run.model_dump(mode="json", exclude_none=True, exclude=_NOT_IN_PAYLOAD)
    payload["empirical_policy"] = {
        "max_retries": 0,
        "retry_delay_seconds": 0.0,
        **task_run.empirical_policy.model_dump(mode="json", exclude_none=True),
    }
    return payload


def _truncated(message: str | None) -> str:
    """Prefect's ``truncated_to``: "" for none; the middle left out of a long one."""
    if not message:
        return ""
    if len(message) <= MESSAGE_LIMIT:
        return message
    half = MESSAGE_LIMIT // 2
    omitted = len(message) - 2 * half
    return f"{message[:half]}...{omitted} additional characters...{message[-half:]}"


def _isoformat(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat()
