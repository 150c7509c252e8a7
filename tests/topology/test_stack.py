"""The starter's process handling, with `sleep` standing in for a server."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.topology.config import Layout
from tests.topology.stack import Topology, TopologyError


@pytest.fixture
def topology(layout: Layout) -> Topology:
    layout.state_file.write_text(layout.to_json())
    return Topology(layout, log=lambda line: None)


def _sleeper(topology: Topology, name: str) -> int:
    sleep = shutil.which("sleep")
    assert sleep is not None
    return topology._spawn(name, [sleep, "60"], env={})


def test_a_stopped_part_is_gone_with_its_pid(topology: Topology) -> None:
    pid = _sleeper(topology, "replica-0")
    assert topology.pid("replica-0") == pid
    topology.stop("replica-0")
    assert topology.pid("replica-0") is None


def test_another_process_can_kill_what_the_starter_started(topology: Topology) -> None:
    """`attach` reads the pid files: a test's handle kills the starter's replica."""
    pid = _sleeper(topology, "replica-1")
    other = Topology.attach(topology.layout.state_file, log=lambda line: None)
    other.kill_replica(1)
    topology._children["replica-1"].wait(timeout=5)  # the starter reaps its child
    assert topology.pid("replica-1") is None
    assert other.pid("replica-1") is None
    assert pid > 0


def test_teardown_stops_every_part_and_tolerates_missing_ones(topology: Topology) -> None:
    for name in ("proxy", "replica-0", "services", "redis"):
        _sleeper(topology, name)
    topology.teardown()  # replica-1 and PostgreSQL were never started
    for name in ("proxy", "replica-0", "services", "redis"):
        assert topology.pid(name) is None
    topology.teardown()


def test_a_failing_command_is_named_with_its_log(topology: Topology) -> None:
    false = shutil.which("false")
    assert false is not None
    with pytest.raises(TopologyError, match="exited with 1"):
        topology._run("migrate", [false])
    with pytest.raises(TopologyError, match="not-a-program"):
        topology._run("migrate", ["/nonexistent/not-a-program"])


def test_a_handle_that_attached_starts_parts_detached(topology: Topology) -> None:
    """What a test's handle restarts outlives the test: it is not the test's child."""
    other = Topology.attach(topology.layout.state_file, log=lambda line: None)
    pid = _sleeper(other, "replica-0")
    assert other.pid("replica-0") == pid
    assert "replica-0" not in other._children
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        parent = int(stat.read().rsplit(")", 1)[1].split()[1])
    assert parent != os.getpid()
    topology.stop("replica-0")
    assert topology.pid("replica-0") is None
