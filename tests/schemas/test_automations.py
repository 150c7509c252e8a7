"""The automation schemas: Prefect's captured bodies round-trip, and the rules hold."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from prefect_trio_client.schemas.automations import (
    Automation,
    AutomationCore,
    CompoundTrigger,
    DoNothing,
    EventTrigger,
    MetricTrigger,
    MetricTriggerQuery,
    PauseWorkQueue,
    Posture,
    PrefectMetric,
    RunDeployment,
    SequenceTrigger,
    UnknownAction,
    UnknownTrigger,
)
from tests.captures.loaded import load_captures

CAPTURES = load_captures("automations")


def _automations(body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    return [body] if isinstance(body, dict) and "trigger" in body else []


@pytest.mark.parametrize("key", sorted(k for k in CAPTURES if k.startswith("POST /automations/ ")))
def test_a_create_body_of_prefect_round_trips(key: str) -> None:
    sent = CAPTURES[key]["request_body"]
    assert AutomationCore.model_validate(sent).model_dump(mode="json") == sent


@pytest.mark.parametrize("key", sorted(CAPTURES))
def test_every_captured_automation_reads(key: str) -> None:
    for data in _automations(CAPTURES[key]["response_body"]):
        automation = Automation.model_validate(data)
        assert str(automation.id) == data["id"]
        # what a read gives back is what a replace sends (the server's trigger ids aside)
        dumped = automation.model_dump(mode="json", exclude={"id", "created", "updated"})
        assert dumped["actions"] == data["actions"]


def test_trigger_kinds_without_a_type_are_inferred_as_prefect_does() -> None:
    def kind(trigger: dict[str, Any]) -> type:
        core = AutomationCore(name="x", trigger=trigger, actions=[])  # type: ignore[arg-type]
        return type(core.trigger)

    assert kind({}) is EventTrigger
    assert kind(
        {"posture": "Metric", "metric": {"name": "lateness", "threshold": 1, "operator": ">"}}
    ) is (MetricTrigger)
    assert kind({"triggers": [], "require": "any"}) is CompoundTrigger
    assert kind({"triggers": []}) is SequenceTrigger


def test_unknown_trigger_and_action_types_are_kept_whole() -> None:
    data = {
        "id": str(uuid4()),
        "name": "from a newer server",
        "trigger": {"type": "anomaly", "sensitivity": 3},
        "actions": [{"type": "page-oncall", "team": "data"}, {"type": "do-nothing"}],
        "actions_on_trigger": [],
        "actions_on_resolve": [],
        "description": "",
        "enabled": True,
        "tags": [],
    }
    automation = Automation.model_validate(data)
    assert isinstance(automation.trigger, UnknownTrigger)
    assert isinstance(automation.actions[0], UnknownAction)
    assert isinstance(automation.actions[1], DoNothing)
    assert (
        automation.model_dump(mode="json", exclude={"created", "updated", "owner_resource"}) == data
    )
    with pytest.raises(ValidationError, match="known action type"):
        UnknownAction(type="do-nothing")


def test_an_action_without_a_type_is_an_error() -> None:
    with pytest.raises(ValidationError, match="Unable to extract tag"):
        AutomationCore(name="x", trigger=EventTrigger(), actions=[{"source": "inferred"}])  # type: ignore[list-item]


def test_prefects_validation_rules() -> None:
    assert EventTrigger(posture=Posture.Proactive).within == timedelta(seconds=10)
    with pytest.raises(ValidationError, match="10 seconds"):
        EventTrigger(posture=Posture.Proactive, within=timedelta(seconds=5))
    with pytest.raises(ValidationError):
        EventTrigger(within=timedelta(seconds=-1))
    with pytest.raises(ValidationError, match="number of triggers"):
        CompoundTrigger(require=2, triggers=[EventTrigger()])
    with pytest.raises(ValidationError, match="deployment_id is required"):
        RunDeployment()
    with pytest.raises(ValidationError, match="work_queue_id is not allowed"):
        PauseWorkQueue(source="inferred", work_queue_id=uuid4())
    with pytest.raises(ValidationError, match="300 seconds"):
        MetricTriggerQuery(name=PrefectMetric.lateness, threshold=1, operator=">", range=60)  # type: ignore[arg-type]
    cloud_metric = MetricTriggerQuery.model_validate(
        {"name": "cost", "threshold": 1, "operator": "<"}
    )
    assert cloud_metric.name == "cost"


def test_typos_and_unsendable_values_fail_before_a_request() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        AutomationCore(name="x", trigger=EventTrigger(), actions=[], enable=False)  # type: ignore[call-arg]
    action = RunDeployment(deployment_id=uuid4(), parameters={"x": math.nan})
    with pytest.raises(ValidationError, match="NaN"):
        AutomationCore(name="x", trigger=EventTrigger(), actions=[action])


def test_event_names_are_sent_sorted() -> None:
    trigger = EventTrigger(expect={"b", "a", "c"}, after={"z", "y"})
    dumped = trigger.model_dump(mode="json")
    assert (dumped["expect"], dumped["after"], dumped["within"]) == (
        ["a", "b", "c"],
        ["y", "z"],
        0.0,
    )
