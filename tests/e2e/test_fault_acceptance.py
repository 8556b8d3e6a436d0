"""Acceptance: real Mosquitto, simulated devices speaking MQTT, the server with an injectable clock.

- 40 devices shut down cleanly at 17:30 → no ticket; not on at 08:10 the next school day → one room ticket
- 10 devices behind one switch vanish within 5 s → exactly one ticket naming the switch and the 10
- a disk over 90 % for the `for` duration → one ticket; oscillating → still one; below recovery → resolved
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from campusmon.contract import Metrics, encode
from campusmon.demo.simulator import SimDevice
from campusmon.server.config import (
    BrokerSettings,
    CampusTopologySettings,
    ChannelSettings,
    NotifySettings,
    RouteSettings,
    ScheduleSettings,
    ServerConfig,
    StorageSettings,
    ThresholdRuleSettings,
    UpstreamSettings,
)
from campusmon.server.models import Device, DeviceHistory
from campusmon.server.service import Server
from campusmon.server.tickets import TicketService
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt import publisher, wait_until
from tests.support.receivers import RobotReceiver

SH = ZoneInfo("Asia/Shanghai")


class Clock:
    """The server's notion of now; the test moves it."""

    def __init__(self, when: str) -> None:
        self.now = 0.0
        self.set(when)

    def set(self, when: str) -> None:
        self.now = datetime.fromisoformat(when).replace(tzinfo=SH).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_server(tmp_path: Path, mosquitto: MosquittoProcess) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(cfg_edit: Callable[[ServerConfig], None], clock: Callable[[], float] = time.time) -> Server:
        cfg = ServerConfig(
            broker=BrokerSettings(
                managed=False, host=mosquitto.host, port=mosquitto.port, client_id="srv-accept"
            ),
            storage=StorageSettings(data_dir=tmp_path / "server"),
        )
        cfg.rules.sweep_seconds = 0.2
        cfg_edit(cfg)
        srv = Server(cfg, clock=clock)
        servers.append(srv)
        srv.start()
        assert srv.connected
        return srv

    yield make
    for srv in servers:
        srv.stop()


def fleet(mosquitto: MosquittoProcess, names: list[str]) -> dict[str, SimDevice]:
    devs = {n: SimDevice("main", n, mosquitto.host, mosquitto.port, interval=30) for n in names}
    for d in devs.values():
        d.connect()
    return devs


def states(server: Server) -> dict[str, str]:
    assert server.db is not None
    with server.db.session() as s:
        return {d.device: d.state for d in s.scalars(select(Device))}


def sweeps_after(server: Server, n: int = 3) -> bool:
    """Wait until the server has run `n` more sweeps (at the clock's current time)."""
    assert server.ingestor is not None
    ing = server.ingestor
    start = ing.snapshot().get("sweeps", 0)
    return wait_until(lambda: ing.snapshot().get("sweeps", 0) >= start + n, timeout=30)


@pytest.mark.slow
def test_clean_shutdown_evening_no_ticket_not_on_next_morning_one_room_ticket(make_server, mosquitto) -> None:
    lab = [f"lab301-pc{i:02d}" for i in range(1, 41)]
    clock = Clock("2026-12-02 16:00")  # a Wednesday, in lessons

    def edit(cfg: ServerConfig) -> None:
        cfg.schedule = ScheduleSettings()  # Asia/Shanghai, Mon-Fri 07:30-12:00 and 13:30-17:30, 10 min grace
        cfg.topology = {
            "main": CampusTopologySettings(rooms={**dict.fromkeys(lab, "lab301"), "c302-panel": "c302"})
        }

    server = make_server(edit, clock)
    devs = fleet(mosquitto, [*lab, "c302-panel"])
    assert wait_until(lambda: list(states(server).values()).count("online") == 41, timeout=20)
    clock.set("2026-12-02 17:30")  # the bell: everybody shuts down cleanly
    for n in lab:
        devs[n].shutdown("end of school day")
    assert wait_until(lambda: list(states(server).values()).count("shutdown") == 40, timeout=20)
    clock.set("2026-12-02 18:05")  # the panel loses power after school: recorded, not paged
    devs["c302-panel"].vanish()
    assert wait_until(lambda: states(server)["c302-panel"] == "lost", timeout=10)
    svc = TicketService(server.db)
    for when in ("2026-12-02 18:10", "2026-12-02 23:00", "2026-12-03 06:00", "2026-12-03 07:35"):
        clock.set(when)
        assert sweeps_after(server)
        assert svc.list() == [], f"no ticket expected at {when}"
    assert server.db is not None
    with server.db.session() as s:
        kinds = [h.kind for h in s.scalars(select(DeviceHistory).order_by(DeviceHistory.id))]
    assert "lost_outside_hours" in kinds

    clock.set("2026-12-03 08:10")  # Thursday: the lab is still dark, the panel still dead
    assert wait_until(lambda: len(svc.list()) == 2, timeout=30)
    assert sweeps_after(server)
    tickets = {t.problem: t for t in svc.list()}
    assert set(tickets) == {"room_down", "device_down"} and len(svc.list()) == 2
    room = tickets["room_down"]
    assert room.room == "lab301" and sorted(a.device for a in room.affected) == lab
    assert "40 devices in room lab301" in room.summary
    assert tickets["device_down"].device == "c302-panel"

    for n in lab:  # the lab is switched on
        devs[n].connect()
    assert wait_until(lambda: svc.get(room.id).status == "resolved", timeout=20)
    assert "every affected device is back" in svc.get(room.id).history[-1].note
    for d in devs.values():
        d.shutdown("test over")


@pytest.mark.slow
def test_ten_devices_behind_one_switch_one_ticket_then_resolved(make_server, mosquitto) -> None:
    behind = [f"lab302-pc{i:02d}" for i in range(1, 11)]
    others = [f"c30{i}-pc" for i in range(3, 8)]

    def edit(cfg: ServerConfig) -> None:
        cfg.schedule = ScheduleSettings(default="always")
        cfg.topology = {
            "main": CampusTopologySettings(
                rooms={**dict.fromkeys(behind, "lab302"), **{o: o.split("-")[0] for o in others}},
                upstreams={
                    d: UpstreamSettings(switch="sw-302", port=f"ge-0/0/{i}") for i, d in enumerate(behind, 1)
                },
            )
        }

    server = make_server(edit)
    devs = fleet(mosquitto, behind + others)
    assert wait_until(lambda: list(states(server).values()).count("online") == 15, timeout=20)
    rng = random.Random(7)
    gone_at: list[float] = []

    def drop(dev: SimDevice) -> None:
        dev.vanish()
        gone_at.append(time.monotonic())

    # the switch dies: its devices drop off within 5 s (each one's socket closes at a random moment)
    drops = [threading.Timer(rng.uniform(0, 2.5), drop, args=(devs[n],)) for n in behind]
    for t in drops:
        t.start()
    for t in drops:
        t.join()
    assert max(gone_at) - min(gone_at) < 5
    svc = TicketService(server.db)

    def grouped() -> bool:
        ts = svc.list()
        return len(ts) == 1 and len(ts[0].affected) == 10

    assert wait_until(grouped, timeout=30)
    # past the hold time and a few sweeps later: still exactly one ticket
    time.sleep(server.config.rules.group_hold_seconds)
    assert sweeps_after(server)
    (ticket,) = svc.list()
    assert ticket.problem == "upstream_down" and ticket.device == "sw-302" and ticket.room == "lab302"
    assert sorted(a.device for a in ticket.affected) == behind
    assert "sw-302" in ticket.summary and "lab302" in ticket.summary

    for n in behind:  # the switch is replaced: everything comes back
        devs[n].connect()
    assert wait_until(lambda: svc.get(ticket.id).status == "resolved", timeout=20)
    assert len(svc.list()) == 1
    for d in devs.values():
        d.shutdown("test over")


@pytest.mark.slow
def test_disk_for_duration_hysteresis_and_recovery(make_server, mosquitto) -> None:
    def edit(cfg: ServerConfig) -> None:
        cfg.schedule = ScheduleSettings(default="always")
        cfg.rules.thresholds["disk_full"] = ThresholdRuleSettings(
            metric="disk_used_percent", above=90, recover_below=85, for_seconds=60, subject_label="mount"
        )

    server = make_server(edit)
    assert server.ingestor is not None
    ing = server.ingestor
    pub = publisher(mosquitto.host, mosquitto.port)
    # reports spread over the last 70 s: within 3 intervals (90 s), so not a stale replay, with a margin
    base = time.time() - 70
    seq = 0
    svc = TicketService(server.db)

    def report(offset: float, pct: float) -> None:
        nonlocal seq
        seq += 1
        m = Metrics(
            campus="main",
            device="pc-disk",
            ts=base + offset,
            seq=seq,
            interval=30,
            metrics={"disk": [{"mount": "D:", "disk_used_percent": pct}]},
        )
        pub.publish("campusmon/main/pc-disk/metrics", encode(m), qos=1).wait_for_publish(5)
        # counted once the report is fully handled (rules run, tickets written)
        assert wait_until(lambda: ing.snapshot().get("accepted_metrics", 0) == seq, timeout=10)

    report(0, 91)
    report(30, 93)
    assert svc.list() == []  # over 90 % for 30 s only
    report(60, 92)
    (ticket,) = svc.list()
    assert (ticket.problem, ticket.subject, ticket.status) == ("disk_full", "D:", "open")
    for i, pct in enumerate((88, 92, 87, 95, 86, 91)):  # oscillating between 85 and 90+
        report(61 + i, pct)
    assert [(t.id, t.status) for t in svc.list()] == [(ticket.id, "open")]
    report(68, 80)
    assert wait_until(lambda: svc.get(ticket.id).status == "resolved", timeout=5)
    assert len(svc.list()) == 1
    assert "back to 80" in svc.get(ticket.id).history[-1].note
    pub.disconnect()
    pub.loop_stop()


@pytest.mark.slow
def test_power_cut_reaches_wecom_and_dingtalk_robots(make_server, mosquitto) -> None:
    wecom = RobotReceiver(kind="wecom")
    ding = RobotReceiver(kind="dingtalk", secret="SECtest-secret")
    try:

        def edit(cfg: ServerConfig) -> None:
            cfg.schedule = ScheduleSettings(default="always")
            cfg.notify = NotifySettings(
                language="zh-CN",
                ticket_url="https://mon.school.cn/tickets/{id}",
                channels={
                    "wecom": ChannelSettings(kind="wecom", url=wecom.url),
                    "ding": ChannelSettings(
                        kind="dingtalk", url=ding.url, secret="SECtest-secret", language="en"
                    ),
                },
                routes=[RouteSettings(channels=["wecom", "ding"], severities=["critical"])],
            )

        server = make_server(edit)
        (dev,) = fleet(mosquitto, ["c305-panel"]).values()
        assert wait_until(lambda: states(server).get("c305-panel") == "online", timeout=10)
        dev.vanish()
        assert wecom.wait_for(lambda got: len(got) == 1, timeout=10)
        assert ding.wait_for(lambda got: len(got) == 1, timeout=10)
        zh = wecom.received[0].body["markdown"]["content"]
        assert "新工单 #1" in zh and "c305-panel" in zh and "https://mon.school.cn/tickets/1" in zh
        en = ding.received[0].body["markdown"]
        assert en["title"].startswith("[critical] New ticket #1") and "device down" in en["text"]
        dev.connect()
        assert wecom.wait_for(lambda got: len(got) == 2, timeout=10)
        assert "工单已解决 #1" in wecom.received[1].body["markdown"]["content"]
        assert wecom.rejected == [] and ding.rejected == []
        dev.shutdown("test over")
    finally:
        wecom.close()
        ding.close()
