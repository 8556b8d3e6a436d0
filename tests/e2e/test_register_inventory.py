"""Agent inventory over a real Mosquitto → server ingest → the register (asset, changes, history)."""

from __future__ import annotations

import time
from typing import Any

from campusmon.contract import Inventory, encode
from campusmon.server.register.service import InventoryOutcome
from tests.support.mqtt import publisher, wait_until


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
    pub.publish("campusmon/main/c302-panel/inventory", inventory(2, True, "h1"), qos=1, retain=True)
    assert wait_until(lambda: len(heard) == 1, timeout=20)
    assert heard[0].created and heard[0].decision == "new"
    pub.publish("campusmon/main/c302-panel/inventory", inventory(1, False, "h2"), qos=1, retain=True)
    assert wait_until(lambda: len(heard) == 2, timeout=20)
    got = sorted((c.component, c.action) for c in heard[1].changes)
    assert got == [("memory_module", "removed"), ("usb", "removed")]
    assert heard[1].asset_id == heard[0].asset_id
    history = server.ingestor.register.history(heard[0].asset_id)
    assert [h.field for h in history] == ["created", "inventory.memory_module", "inventory.usb"]
    assert {h.actor for h in history} == {"agent:main/c302-panel"}
    assert server.ingestor.snapshot().get("accepted_inventory") == 2
    pub.disconnect()
