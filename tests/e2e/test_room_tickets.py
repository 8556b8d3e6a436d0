"""A whole room lost, through real Mosquitto and simulated devices: one room ticket that lists them all.

Losses within milliseconds, and losses spread over the group window, both give exactly one `room_down`
ticket naming every device, its summary counting them; no `device_down` ticket for a late one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from campusmon.demo.simulator import SimDevice
from campusmon.server.config import (
    BrokerSettings,
    CampusTopologySettings,
    ScheduleSettings,
    ServerConfig,
    StorageSettings,
)
from campusmon.server.models import Device
from campusmon.server.service import Server
from campusmon.server.tickets import TicketService
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt import wait_until


@pytest.fixture
def room_server(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> Iterator[Callable[[list[str], float], Server]]:
    servers: list[Server] = []

    def make(devices: list[str], window: float) -> Server:
        cfg = ServerConfig(
            broker=BrokerSettings(
                managed=False, host=mosquitto.host, port=mosquitto.port, client_id="srv-room"
            ),
            storage=StorageSettings(data_dir=tmp_path / "server"),
            schedule=ScheduleSettings(default="always"),
            topology={"main": CampusTopologySettings(rooms=dict.fromkeys(devices, "lab301"))},
        )
        cfg.rules.sweep_seconds = 0.2
        cfg.rules.group_window_seconds = window
        cfg.rules.group_hold_seconds = 5.0
        srv = Server(cfg)
        servers.append(srv)
        srv.start()
        assert srv.connected
        return srv

    yield make
    for srv in servers:
        srv.stop()


def _online(server: Server, n: int) -> bool:
    assert server.db is not None
    with server.db.session() as s:
        return len(list(s.scalars(select(Device).where(Device.state == "online")))) == n


def _sweeps(server: Server, n: int) -> bool:
    assert server.ingestor is not None
    ing = server.ingestor
    start = ing.snapshot().get("sweeps", 0)
    return wait_until(lambda: ing.snapshot().get("sweeps", 0) >= start + n, timeout=30)


def _lose_room(server: Server, mosquitto: MosquittoProcess, n: int, spread: float) -> None:
    names = [f"lab301-pc{i:02d}" for i in range(1, n + 1)]
    devs = [SimDevice("main", d, mosquitto.host, mosquitto.port, interval=30) for d in names]
    for d in devs:
        d.connect()
    assert wait_until(lambda: _online(server, n), timeout=60)
    start = time.monotonic()
    for i, d in enumerate(devs):  # evenly over `spread` seconds (all at once when 0)
        delay = start + spread * i / max(1, n - 1) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        d.vanish()
    assert server.db is not None
    svc = TicketService(server.db)
    assert wait_until(lambda: sum(len(t.affected) for t in svc.list()) >= n, timeout=30), [
        (t.problem, t.summary) for t in svc.list()
    ]
    # past the hold time: nothing held any more, and the sweeps have had their say
    time.sleep(server.config.rules.group_hold_seconds + 0.5)
    assert _sweeps(server, 3)
    tickets = svc.list()
    assert [(t.problem, t.room, t.status) for t in tickets] == [("room_down", "lab301", "open")], [
        (t.problem, t.device, t.summary) for t in tickets
    ]
    (room,) = tickets
    assert sorted(a.device for a in room.affected) == names
    assert room.summary == f"{n} devices in room lab301 went offline together"
    for d in devs:  # the room's power is back: the one ticket resolves
        d.connect()
    assert wait_until(lambda: svc.get(room.id).status == "resolved", timeout=30)
    assert len(svc.list()) == 1
    for d in devs:
        d.shutdown("test over")


@pytest.mark.slow
@pytest.mark.parametrize("n", [10, 40])
def test_a_room_lost_at_once_is_one_ticket_listing_every_device(room_server, mosquitto, n: int) -> None:
    names = [f"lab301-pc{i:02d}" for i in range(1, n + 1)]
    _lose_room(room_server(names, 60.0), mosquitto, n, spread=0.0)


@pytest.mark.slow
@pytest.mark.parametrize("n", [10, 40])
def test_a_room_lost_over_the_group_window_is_one_ticket(room_server, mosquitto, n: int) -> None:
    # 13 s of losses inside a 15 s window, longer than the 5 s hold: early devices get their own
    # ticket first, which the room ticket absorbs; the late ones join it
    names = [f"lab301-pc{i:02d}" for i in range(1, n + 1)]
    _lose_room(room_server(names, 15.0), mosquitto, n, spread=13.0)
