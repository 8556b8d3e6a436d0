"""The agent's queueing decisions, without a broker: inventory resend rules, a full disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from campusmon.agent import inventory
from campusmon.agent.buffer import ReportBuffer
from campusmon.agent.config import AgentConfig
from campusmon.agent.identity import HardwareFacts, Nic
from campusmon.agent.runner import Agent
from campusmon.mqtt.client import jitter
from tests.unit.agent.fakes import FakePsutil


def make_agent(tmp_path: Path, memory_reports: int = 500) -> Agent:
    cfg = AgentConfig()
    cfg.buffer.memory_reports = memory_reports
    cfg.agent.device = "pc-unit"
    cfg.agent.state_dir = tmp_path
    cfg.agent.collectors = ["cpu", "memory", "users"]
    return Agent(cfg, ps=FakePsutil("psutil-windows-panel.json"))


def queued_inventories(agent: Agent) -> list[dict[str, Any]]:
    return [json.loads(q.payload) for q in agent.buffer.after(0, 100) if q.topic.endswith("/inventory")]


def test_inventory_sent_at_start_then_only_on_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data: dict[str, Any] = {"hostname": "C302-PANEL", "usb": [{"id": "0c45:6366"}]}
    facts = HardwareFacts(board_serial="Default string", nics=(Nic("eth0", "00:e0:4c:68:01:02", True),))
    monkeypatch.setattr(inventory, "collect", lambda ps: (json.loads(json.dumps(data)), facts))
    agent = make_agent(tmp_path)
    assert agent.check_inventory(force=True)
    assert not agent.check_inventory()  # same content hash: not resent
    data["usb"] = []  # the document camera was unplugged
    assert agent.check_inventory()
    sent = queued_inventories(agent)
    assert [len(i["inventory"]["usb"]) for i in sent] == [1, 0]
    assert sent[0]["hash"] != sent[1]["hash"]
    assert sent[0]["identity"] == {
        "macs": "00:e0:4c:68:01:02",
        "device_id": "pc-unit",
        "source": "config",
        "value": "pc-unit",
    }
    assert all(q.retain for q in agent.buffer.after(0, 100) if q.topic.endswith("/inventory"))
    # a restart does not resend unchanged content either (the hash is kept with the queue)
    agent.buffer.close()
    again = make_agent(tmp_path)
    assert not again.check_inventory()
    again.buffer.set_meta("inventory_sent_at", "0")  # a day later
    assert again.check_inventory()


def test_inventory_failure_is_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ps: Any) -> Any:
        raise inventory.InventoryUnavailable("PowerShell did not answer within 60 s")

    monkeypatch.setattr(inventory, "collect", broken)
    agent = make_agent(tmp_path)
    assert not agent.check_inventory(force=True)
    assert queued_inventories(agent) == []


def test_a_full_disk_keeps_numbering_holds_in_memory_and_accounts_for_what_it_lost(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, memory_reports=5)
    agent.enqueue_report()  # seq 0, on disk
    pages = agent.buffer._db.execute("PRAGMA page_count").fetchone()[0]
    agent.buffer._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite now answers "disk is full"
    stored: list[int] = []
    while not agent.buffer.held:  # what still fits on the last page
        stored.append(agent.enqueue_report())
    first = stored.pop()  # the first report the disk refused
    for _ in range(11):  # 12 refused in all: memory keeps the newest 5
        agent._guard("queue a report", agent.enqueue_report)
    assert agent.buffer.next_seq("pc-unit") == first + 12  # numbers were used all the same
    assert agent.buffer.held == 5
    # connected while the disk is still full: the first word goes out from memory at once
    assert agent.buffer.failures_due()
    agent._report_dropped()
    held = [json.loads(q.payload) for q in agent.buffer.after(0, 100)]
    # the event took a place in memory too: one more report (first + 7) made room for it
    kept = list(range(first + 8, first + 12))
    assert [m["seq"] for m in held if "seq" in m] == [0, *stored, *kept]
    event = held[-1]
    assert event["kind"] == "buffer_error" and event["severity"] == "critical"
    assert event["data"]["lost_reports"] == 7 and event["data"]["lost_seq"] == [[first, first + 6]]
    assert event["data"]["failed_writes"] == 12 and event["data"]["disk_ok"] is False
    assert "is full" in event["data"]["error"]
    assert not agent.buffer.failures_due()  # not again until it changes (or 5 minutes pass)

    agent.buffer._db.execute("PRAGMA max_page_count = 1073741823")  # space again
    agent._guard("queue a report", agent.enqueue_report)  # seq 13; the held messages go to disk first
    assert agent.buffer.held == 0
    assert agent.buffer.failures_due()
    agent._report_dropped()
    agent.buffer.close()
    again = ReportBuffer(tmp_path / "buffer.sqlite3")  # what survives a restart
    msgs = [json.loads(q.payload) for q in again.after(0, 100)]
    assert [m["seq"] for m in msgs if "seq" in m] == [0, *stored, *kept, first + 12]
    assert again.next_seq("pc-unit") == first + 13
    final = msgs[-1]
    assert final["kind"] == "buffer_error" and final["data"]["disk_ok"] is True
    assert final["data"]["lost_reports"] == 1 and final["data"]["lost_seq"] == [[first + 7, first + 7]]
    # every number is on disk or named lost by one of the two events
    named = {n for e in (event, final) for a, b in e["data"]["lost_seq"] for n in range(a, b + 1)}
    on_disk = {m["seq"] for m in msgs if "seq" in m}
    assert named | on_disk == set(range(first + 13)) and not named & on_disk


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        (None, {"usb_camera_count": 1}, []),
        ({"usb_camera_count": 1}, {"usb_camera_count": 1}, []),
        ({"usb_camera_count": 1, "touchscreen_count": 1}, {"usb_camera_count": 0, "touchscreen_count": 1},
         [("peripheral_removed", "warning", "usb_camera", 1, 0)]),
        ({"display_connected_count": 1}, {"display_connected_count": 2},
         [("peripheral_added", "info", "display_connected", 1, 2)]),
        ({"usb_camera_count": 1}, {}, []),
    ],
)  # fmt: skip
def test_peripheral_changes(before: Any, now: Any, expected: list[tuple[Any, ...]]) -> None:
    from campusmon.agent.events import peripheral_changes

    got = [
        (h.kind, h.severity, h.data["peripheral"], h.data["before"], h.data["now"])
        for h in peripheral_changes(before, now)
    ]
    assert got == expected


def test_unplugged_camera_becomes_an_event_once(tmp_path: Path) -> None:
    import shutil

    from campusmon.agent.collectors.peripherals import PeripheralsCollector
    from tests.support.fixture_trees import materialize

    root = materialize("linux-panel", tmp_path / "sys-root")
    agent = make_agent(tmp_path)
    agent.collectors["peripherals"] = PeripheralsCollector(None, platform="linux", root=root)
    agent.enqueue_report()
    shutil.rmtree(root / "sys/bus/usb/devices/1-2:1.0")
    shutil.rmtree(root / "sys/bus/usb/devices/1-2:1.1")
    agent.enqueue_report()
    agent.enqueue_report()
    events = [json.loads(q.payload) for q in agent.buffer.after(0, 100) if q.topic.endswith("/events")]
    assert [(e["kind"], e["data"]) for e in events] == [
        ("peripheral_removed", {"peripheral": "usb_camera", "before": 1, "now": 0})
    ]


def test_jitter_is_uniform_in_the_unit_interval() -> None:
    xs = [jitter() for _ in range(4000)]
    assert all(0.0 <= x < 1.0 for x in xs)
    assert 0.45 < sum(xs) / len(xs) < 0.55
    assert sum(x < 0.25 for x in xs) > 800 and sum(x >= 0.75 for x in xs) > 800
    assert len(set(xs)) > 3990
