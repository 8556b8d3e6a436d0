"""`[probes]` in the server: a switch registered as an asset → the in-process runner polls it
(snmpsim) → Mosquitto → the same server → one port_down ticket; the server's stop ends the runner."""

from __future__ import annotations

import importlib.util
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import func, select

from campusmon.server.models import Device
from campusmon.server.register.models import Asset
from campusmon.server.register.service import RegisterService
from campusmon.server.tickets import TicketService
from tests.support.mqtt import Recorder, wait_until
from tests.support.snmp_agents import FIXTURES, Snmpsim

SERIAL = "FOC2145X1AB"  # the chassis serial of the simulated switch's ENTITY-MIB


def scenarios() -> ModuleType:
    spec = importlib.util.spec_from_file_location("snmprec_generate", FIXTURES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_register_switch_probed_in_process(tmp_path: Path, server_factory, mosquitto) -> None:
    gen = scenarios()
    gen.write(tmp_path, {"sw-uplink": gen.switch(down=frozenset({41, 42, 43, 44, 48})) + gen.entity()})
    sim = Snmpsim(tmp_path / "sim", [tmp_path / "sw-uplink.snmprec"]).start()
    settings = {
        "runner": {"id": "probe-main", "reload_seconds": 1, "jitter": 0.0},
        "school_hours": {"mode": "always"},
        # snmpsim answers on a free port: the campus's profile says which (and the community)
        "snmp_profiles": {"default": {"community": "sw-uplink", "port": sim.port, "request_timeout": 1.0}},
        "register": {"interval": 1, "timeout": 5},
    }
    try:
        server = server_factory(probes__enabled=True, probes__campus="main", probes__settings=settings)
        db, metrics = server.db, server.metrics
        assert db is not None and metrics is not None and server.probes is not None
        assert server.probes.running
        # registered after the server started: the runner picks it up on its next reload
        reg = RegisterService(db)
        now = datetime.now(UTC)
        with db.session() as s:
            room = reg.ensure_room(s, "主校区", "教学楼B", "网络间")
            room.building.campus.code = "main"
            reg.create(
                s,
                "user:test",
                now,
                asset_tag="SW-B1-F3",
                type="switch",
                ip="127.0.0.1",
                serial=SERIAL,
                status="in_use",
                campus_id=room.building.campus.id,
                room_id=room.id,
            )

        assert wait_until(lambda: any(t.problem == "port_down" for t in TicketService(db).list()), timeout=40)
        seen = metrics.report_count("main", "sw-b1-f3")
        assert wait_until(lambda: metrics.report_count("main", "sw-b1-f3") >= seen + 3, timeout=30)
        tickets = TicketService(db).list()
        assert [(t.campus, t.device, t.problem, t.subject, t.status) for t in tickets] == [
            ("main", "sw-b1-f3", "port_down", "Gi1/0/48", "open")
        ]

        def states() -> dict[str, str]:
            with db.session() as s:
                return {d.device: d.state for d in s.scalars(select(Device))}

        assert wait_until(
            lambda: states().get("sw-b1-f3") == "online" and states().get("probe-main") == "online"
        )
        # the register asset is linked to the target, and the switch's inventory landed on it
        assert wait_until(lambda: reg.get("SW-B1-F3").inventory_at is not None, timeout=20)
        asset = reg.get("SW-B1-F3")
        assert (asset.link_campus, asset.link_device) == ("main", "sw-b1-f3")
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Asset).where(Asset.type == "switch")) == 1

        server.stop()
        assert not [t for t in threading.enumerate() if t.name == "probe-runner"]
        assert server.probes.thread is None
        # the runner said `shutdown` for itself on the way out (retained on the broker)
        rec = Recorder(mosquitto.host, mosquitto.port, topic="campusmon/main/probe-main/status")
        try:
            assert rec.wait_for(lambda msgs: any(r for _, _, r in msgs), timeout=10)
            _, raw, _ = rec.messages[-1]
            status = json.loads(raw)
            assert (status["state"], status["reason"]) == ("shutdown", "server stopped")
        finally:
            rec.close()
    finally:
        sim.stop()
