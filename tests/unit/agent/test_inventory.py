"""Inventory from a recorded Linux /sys tree and recorded Windows PowerShell outputs."""

from __future__ import annotations

import json
import socket
import sys
import time
from types import SimpleNamespace
from typing import Any

import pytest

from campusmon.agent.identity import derive
from campusmon.agent.idle import set_idle
from campusmon.agent.inventory import InventoryUnavailable, linux, windows
from campusmon.agent.inventory.edid import parse_edid
from campusmon.hashing import content_hash
from tests.support.fixture_trees import linux_panel_root
from tests.unit.agent.fakes import FIXTURES

PANEL = linux_panel_root()


class AddrPs:
    """psutil.net_if_addrs as seen on the panel."""

    def net_if_addrs(self) -> dict[str, list[Any]]:
        a = SimpleNamespace
        return {
            "lo": [a(family=socket.AF_INET, address="127.0.0.1")],
            "eth0": [
                a(family=socket.AF_INET, address="10.12.3.45"),
                a(family=socket.AF_INET6, address="fe80::2e0:4cff:fe68:102%eth0"),
            ],
            "wlan0": [],
            "docker0": [a(family=socket.AF_INET, address="172.17.0.1")],
        }


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_linux_panel() -> None:
    data, facts = linux.collect(AddrPs(), root=PANEL)
    assert data["hostname"] == "C302-PANEL"
    assert data["os"] == {
        "name": "Ubuntu",
        "version": "22.04",
        "pretty": "Ubuntu 22.04.4 LTS",
        "kernel": "6.5.0-41-generic",
    }
    assert data["cpu"] == {
        "model": "Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz",
        "sockets": 1,
        "cores": 2,
        "logical_cores": 4,
    }
    assert data["memory"]["total_bytes"] == 8041572 * 1024
    assert [d["name"] for d in data["disks"]] == ["nvme0n1", "sda"]
    nvme, sda = data["disks"]
    assert (nvme["serial"], nvme["size_bytes"], nvme["rotational"]) == (
        "S4ELNX0N123456",
        500118192 * 512,
        False,
    )
    assert (sda["model"], sda["serial"]) == ("ST1000DM010-2EP1", "ZN1ABCDE")  # serial from the udev database
    nics = {n["name"]: n for n in data["nics"]}
    assert set(nics) == {"eth0", "wlan0", "docker0"}
    assert nics["eth0"] == {
        "name": "eth0",
        "mac": "00:e0:4c:68:01:02",
        "ips": ["10.12.3.45", "fe80::2e0:4cff:fe68:102"],
        "builtin": True,
    }
    assert not nics["wlan0"]["builtin"] and not nics["docker0"]["builtin"]
    assert data["smbios"]["vendor"] == "Seewo" and data["smbios"]["bios_version"] == "SW86.1.12"
    assert data["monitors"] == [
        {
            "connector": "HDMI-A-1",
            "maker": "HKC",
            "product_code": "3201",
            "model": "HKC 86 TOUCH",
            "serial": "A1B2C3D4E5",
        }
    ]
    usb = {u["id"]: u for u in data["usb"]}
    assert set(usb) == {"0c45:6366", "046d:c31c"}  # root hubs are not peripherals
    assert usb["0c45:6366"]["video"] and not usb["046d:c31c"]["video"]
    ident = derive(facts, hostname=data["hostname"])
    assert ident.source == "smbios_uuid"  # board serial "Default string" never considered
    assert ident.rejected == {}


def test_linux_without_root_falls_back_to_the_builtin_mac(tmp_path) -> None:
    # a non-root agent cannot read product_uuid/board_serial: only vendor names are visible
    data, facts = linux.collect(AddrPs(), root=PANEL)
    no_uuid = type(facts)(nics=facts.nics)
    ident = derive(no_uuid, hostname="x")
    assert (ident.source, ident.value) == ("mac", "00:e0:4c:68:01:02")


def test_linux_empty_root(tmp_path) -> None:
    data, facts = linux.collect(SimpleNamespace(net_if_addrs=dict), root=tmp_path)
    assert data["disks"] == [] and data["monitors"] == [] and data["usb"] == []
    assert facts.smbios_uuid is None


def test_windows_panel_recorded() -> None:
    data, facts = windows.parse(load("windows-inventory-panel.json"))
    assert data["hostname"] == "C302-PANEL"
    assert data["os"]["name"] == "Microsoft Windows 10 Pro" and data["os"]["build"] == "19045"
    assert data["cpu"] == {
        "model": "Intel(R) Core(TM) i5-10500T CPU @ 2.30GHz",
        "sockets": 1,
        "cores": 6,
        "logical_cores": 12,
    }
    mods = data["memory"]["modules"]
    assert [m["slot"] for m in mods] == ["ChannelA-DIMM0", "ChannelB-DIMM0"]
    assert sum(m["size_bytes"] for m in mods) == 8 * 1024**3
    assert data["disks"][1]["removable"] and data["disks"][0]["serial"] == "0025_3881_9140_1234."
    nics = {n["name"]: n for n in data["nics"]}
    assert (
        nics["Ethernet"]["ips"] == ["10.12.3.45", "fe80::1c2d:3e4f:5a6b:7c8d"] and nics["Ethernet"]["builtin"]
    )
    assert not nics["Wi-Fi"]["builtin"] and not nics["vEthernet (Default Switch)"]["builtin"]
    assert data["smbios"]["uuid"] == "1a2b3c4d-5e6f-11eb-8000-d8bbc1a2b3c4"
    assert data["smbios"]["bios_version"] == "M2WKT4AA"
    assert data["monitors"] == [{"maker": "HKC", "model": "HKC 86 TOUCH", "serial": "A1B2C3"}]
    assert data["usb"][0]["id"] == "0c45:6366" and data["usb"][0]["video"]
    assert derive(facts).source == "smbios_uuid"


def test_windows_oem_junk_single_objects() -> None:
    data, facts = windows.parse(load("windows-inventory-oem-junk.json"))
    assert data["memory"]["modules"][0]["size_bytes"] == 16 * 1024**3  # one DIMM: an object, not a list
    assert data["nics"][0]["ips"] == ["10.12.30.107"]  # one address: a string, not a list
    assert data["monitors"] == [] and data["usb"] == []  # nothing: null
    ident = derive(facts)
    assert (ident.source, ident.value) == ("board_serial", "M80-E9012345678")
    assert set(ident.rejected) == {"smbios_uuid"}


@pytest.mark.parametrize("doc", [None, [], "text", {"os": "weird", "cpu": [1, 2]}])
def test_windows_garbage_does_not_crash(doc: Any) -> None:
    data, facts = windows.parse(doc)
    assert data["hostname"] == "" and facts.smbios_uuid is None


def test_powershell_runner_is_bounded_and_parses_json() -> None:
    py = (sys.executable, "-c")
    assert windows.run_powershell("import json; print(json.dumps({'a': [1]}))", command=py) == {"a": [1]}
    with pytest.raises(InventoryUnavailable, match="within 0.5 s"):
        windows.run_powershell("import time; time.sleep(30)", command=py, timeout=0.5)
    with pytest.raises(InventoryUnavailable, match="exited 3"):
        windows.run_powershell("import sys; sys.exit(3)", command=py)
    with pytest.raises(InventoryUnavailable, match="not JSON"):
        windows.run_powershell("print('Get-CimInstance : Access denied')", command=py)
    with pytest.raises(InventoryUnavailable, match="cannot run"):
        windows.run_powershell("x", command=("/nonexistent/powershell.exe",))


def test_powershell_gets_the_script_encoded() -> None:
    import base64

    args = windows.powershell_args(windows.INVENTORY_SCRIPT)
    assert args[0] == "powershell.exe" and args[-2] == "-EncodedCommand"
    assert base64.b64decode(args[-1]).decode("utf-16-le") == windows.INVENTORY_SCRIPT


def test_edid() -> None:
    raw = (PANEL / "sys/class/drm/card0-HDMI-A-1/edid").read_bytes()
    assert parse_edid(raw)["model"] == "HKC 86 TOUCH"
    assert parse_edid(raw[:100]) == {}
    assert parse_edid(raw[:127] + bytes([(raw[127] + 1) % 256])) == {}  # bad checksum


def test_content_hash_is_order_independent() -> None:
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert content_hash({}).startswith("sha256:")


def test_run_powershell_keeps_the_connection_served_while_it_waits() -> None:
    py = (sys.executable, "-c")
    ticks: list[float] = []
    set_idle(lambda: ticks.append(time.monotonic()))
    try:
        assert windows.run_powershell("import time; time.sleep(1.6); print('{}')", command=py) == {}
    finally:
        set_idle(None)
    assert len(ticks) >= 2, "a slow query must not starve the MQTT keepalive"
