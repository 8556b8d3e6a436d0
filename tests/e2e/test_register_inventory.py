"""Agent inventory over a real Mosquitto → server ingest → the register (asset, changes, history)
and the rule engine (one inventory_changed ticket from the register's change list)."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from campusmon.agent.identity import usable_facts
from campusmon.agent.inventory import windows
from campusmon.contract import Inventory, encode
from campusmon.hashing import content_hash
from campusmon.server.register.service import InventoryOutcome
from campusmon.server.tickets import TicketService
from tests.support.mqtt import publisher, wait_until
from tests.unit.agent.fakes import FIXTURES


def inventory(modules: int, camera: bool, h: str) -> bytes:
    inv: dict[str, Any] = {
        "hostname": "C302-PANEL",
        "os": {"name": "Windows", "version": "10.0.19045"},
        "memory": {
            "modules": [
                {"slot": f"DIMM{i}", "size_bytes": 2**33, "serial": f"M{i}X7Q"} for i in range(modules)
            ]
        },
        "nics": [{"name": "Ethernet", "mac": "AA:BB:CC:30:20:01", "ips": ["10.3.2.20"]}],
        "smbios": {
            "vendor": "Hite",
            "product": "OPS-i5",
            "serial": "OPS2207001",
            "uuid": "a1b2c3d4-0000-1111-2222-333344445555",
        },
        "usb": [{"id": "0c45:6366", "name": "Document Camera"}] if camera else [],
    }
    return encode(
        Inventory(
            campus="main",
            device="c302-panel",
            ts=time.time(),
            hash=h,
            identity={"smbios_uuid": "a1b2c3d4-0000-1111-2222-333344445555"},
            inventory=inv,
        )
    )


def test_inventory_registers_the_panel_and_reports_a_missing_camera(server_factory, mosquitto) -> None:
    server = server_factory()
    assert server.ingestor is not None
    heard: list[InventoryOutcome] = []
    server.ingestor.register.listeners.append(heard.append)
    pub = publisher(mosquitto.host, mosquitto.port)
    pub.publish(
        "campusmon/main/c302-panel/inventory", inventory(2, True, "sha256:" + "a1" * 32), qos=1, retain=True
    )
    assert wait_until(lambda: len(heard) == 1, timeout=20)
    assert heard[0].created and heard[0].decision == "new"
    pub.publish(
        "campusmon/main/c302-panel/inventory", inventory(1, False, "sha256:" + "b2" * 32), qos=1, retain=True
    )
    assert wait_until(lambda: len(heard) == 2, timeout=20)
    got = sorted((c.component, c.action) for c in heard[1].changes)
    assert got == [("memory_module", "removed"), ("usb", "removed")]
    assert heard[1].asset_id == heard[0].asset_id
    history = server.ingestor.register.history(heard[0].asset_id)
    assert [h.field for h in history] == ["created", "inventory.memory_module", "inventory.usb"]
    assert {h.actor for h in history} == {"agent:main/c302-panel"}
    assert server.ingestor.snapshot().get("accepted_inventory") == 2
    pub.disconnect()


def test_real_agent_inventory_theft_gives_history_and_one_ticket(server_factory, mosquitto) -> None:
    """The Windows agent's recorded inventory, then the same machine without a RAM module and its
    document camera: a history row per component, one inventory_changed ticket naming both."""
    server = server_factory()
    assert server.ingestor is not None
    heard: list[InventoryOutcome] = []
    server.ingestor.register.listeners.append(heard.append)
    raw = json.loads((FIXTURES / "windows-inventory-panel.json").read_text(encoding="utf-8"))
    data, facts = windows.parse(raw)

    def publish(inv: dict[str, Any]) -> None:
        msg = Inventory(
            campus="main",
            device="c303-panel",
            ts=time.time(),
            hash=content_hash(inv),
            identity=usable_facts(facts),
            inventory=inv,
        )
        pub.publish("campusmon/main/c303-panel/inventory", encode(msg), qos=1, retain=True)

    pub = publisher(mosquitto.host, mosquitto.port)
    publish(data)
    assert wait_until(lambda: len(heard) == 1, timeout=20)
    stolen = copy.deepcopy(data)
    stolen["memory"]["modules"].pop()
    stolen["usb"] = [u for u in stolen["usb"] if u["class"] != "Camera"]
    publish(stolen)
    assert wait_until(lambda: len(heard) == 2, timeout=20)
    history = server.ingestor.register.history(heard[0].asset_id)
    assert [h.field for h in history] == ["created", "inventory.memory_module", "inventory.usb"]
    (ticket,) = TicketService(server.ingestor.db).list()
    assert (ticket.device, ticket.problem, ticket.status) == ("c303-panel", "inventory_changed", "open")
    assert "memory_module removed: ChannelB-DIMM0" in ticket.summary
    assert "usb removed: USB Video Device [0c45:6366]" in ticket.summary
    pub.disconnect()
