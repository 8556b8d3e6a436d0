"""Inventory differences become component changes (what the history and the rule engine see)."""

from __future__ import annotations

import copy
import json
import socket
from types import SimpleNamespace
from typing import Any

import pytest

from campusmon.agent.inventory import linux, windows
from campusmon.server.register.changes import Change, diff_inventory
from tests.support.fixture_trees import linux_panel_root
from tests.unit.agent.fakes import FIXTURES

GIB = 2**30


def base() -> dict[str, Any]:
    return {
        "hostname": "LAB301-PC07",
        "os": {"name": "Windows", "version": "10.0.19045"},
        "cpu": {"model": "Intel(R) Core(TM) i5-10500", "cores": 6},
        "memory": {
            "total_bytes": 16 * GIB,
            "modules": [
                {"slot": "DIMM1", "size_bytes": 8 * GIB, "serial": "1A2B3C4D", "part_number": "M378A1K43"},
                {"slot": "DIMM2", "size_bytes": 8 * GIB, "serial": "5E6F7A8B", "part_number": "M378A1K43"},
            ],
        },
        "disks": [
            {"name": "PhysicalDrive0", "model": "WDC WD10EZEX", "serial": "WD-WCC1", "size_bytes": 10**12}
        ],
        "nics": [{"name": "Ethernet", "mac": "AA:BB:CC:00:00:01", "ips": ["10.1.3.7"]}],
        "smbios": {"vendor": "LENOVO", "product": "ThinkCentre M720t", "serial": "PF2ABCD1", "uuid": "u-1"},
        "bios": {"vendor": "LENOVO", "version": "M1UKT4BA"},
        "monitors": [{"manufacturer": "LEN", "model": "T24i-10", "serial": "V5A12345"}],
        "usb": [
            {"id": "046d:c31c", "name": "USB Keyboard"},
            {"id": "0c45:6366", "name": "Document Camera"},
        ],
    }


def changed(mutate: Any) -> list[Change]:
    new = copy.deepcopy(base())
    mutate(new)
    return diff_inventory(base(), new)


def test_first_inventory_and_unchanged_inventory_have_no_changes() -> None:
    assert diff_inventory(None, base()) == []
    assert diff_inventory(base(), base()) == []


def test_ram_module_removed() -> None:
    got = changed(lambda inv: inv["memory"]["modules"].pop())
    assert [(c.component, c.action) for c in got] == [("memory_module", "removed")]
    assert "DIMM2" in got[0].item and "5E6F7A8B" in got[0].item
    assert got[0].field == "inventory.memory_module"


def test_ram_module_swapped_in_the_same_slot_is_one_change() -> None:
    def swap(inv: dict[str, Any]) -> None:
        inv["memory"]["modules"][1] = {"slot": "DIMM2", "size_bytes": 4 * GIB, "serial": "7C8D9E0F"}

    got = changed(swap)
    assert [(c.component, c.action) for c in got] == [("memory_module", "changed")]
    assert "5E6F7A8B" in (got[0].old or "") and "7C8D9E0F" in (got[0].new or "")


def test_disk_serial_changed() -> None:
    def swap(inv: dict[str, Any]) -> None:
        inv["disks"][0]["serial"] = "S3Z9NB0K"

    got = changed(swap)
    assert [(c.component, c.action) for c in got] == [("disk", "changed")]
    assert "WD-WCC1" in (got[0].old or "") and "S3Z9NB0K" in (got[0].new or "")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda inv: inv["monitors"].clear(), [("monitor", "removed")]),
        (lambda inv: inv["usb"].pop(), [("usb", "removed")]),
        (lambda inv: inv["os"].update(version="10.0.22631", name="Windows 11"), [("os", "changed")]),
        (lambda inv: inv.update(hostname="PC-NEW"), [("hostname", "changed")]),
        (lambda inv: inv["bios"].update(version="M1UKT5BA"), [("bios", "changed")]),
        (lambda inv: inv["nics"].append({"name": "Wi-Fi", "mac": "AA:BB:CC:00:00:02"}), [("nic", "added")]),
        (lambda inv: inv["usb"].append({"id": "046d:c31c", "name": "USB Keyboard"}), [("usb", "added")]),
        (lambda inv: inv.pop("monitors"), []),  # a section the agent could not read is not a removal
        (lambda inv: inv.update(disks="garbage"), []),
    ],
)
def test_component_changes(mutate: Any, expected: list[tuple[str, str]]) -> None:
    assert [(c.component, c.action) for c in changed(mutate)] == expected


def test_document_camera_gone_is_named() -> None:
    got = changed(lambda inv: inv["usb"].pop())
    assert got[0].summary == "usb removed: Document Camera [0c45:6366]"


def test_memory_total_without_modules() -> None:
    old = {"memory": {"total_bytes": 16 * GIB}}
    new = {"memory": {"total_bytes": 8 * GIB}}
    assert [(c.component, c.old, c.new) for c in diff_inventory(old, new)] == [("memory", "16 GiB", "8 GiB")]


# -- what the real agent sends (recorded Windows and Linux outputs): which changes are hardware -------
def windows_panel() -> dict[str, Any]:
    raw = json.loads((FIXTURES / "windows-inventory-panel.json").read_text(encoding="utf-8"))
    return windows.parse(raw)[0]


def linux_panel() -> dict[str, Any]:
    a = SimpleNamespace
    addrs = {
        "eth0": [a(family=socket.AF_INET, address="10.12.3.45")],
        "wlan0": [],
        "docker0": [a(family=socket.AF_INET, address="172.17.0.1")],
    }
    return linux.collect(SimpleNamespace(net_if_addrs=lambda: addrs), root=linux_panel_root())[0]


def hw(old: dict[str, Any], mutate: Any) -> list[tuple[str, str, bool]]:
    new = copy.deepcopy(old)
    mutate(new)
    return [(c.component, c.action, c.hardware) for c in diff_inventory(old, new)]


def drop(section: str, pick: Any) -> Any:
    def mutate(inv: dict[str, Any]) -> None:
        inv[section] = [x for x in inv[section] if not pick(x)]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda inv: inv["memory"]["modules"].pop(),
            [("memory_module", "removed", True)],
        ),
        (drop("usb", lambda u: u["class"] == "Camera"), [("usb", "removed", True)]),
        (drop("usb", lambda u: "touch" in u["product"]), [("usb", "removed", True)]),
        (drop("disks", lambda d: d["removable"]), [("disk", "removed", False)]),  # the USB stick
        (drop("disks", lambda d: not d["removable"]), [("disk", "removed", True)]),
        (drop("nics", lambda n: "Hyper-V" in n["description"]), [("nic", "removed", False)]),
        (drop("nics", lambda n: n["builtin"]), [("nic", "removed", True)]),
        (lambda inv: inv["monitors"].clear(), [("monitor", "removed", True)]),
        (lambda inv: inv["os"].update(build="22631", version="10.0.22631"), [("os", "changed", False)]),
        (lambda inv: inv.update(hostname="C302-PANEL-NEW"), [("hostname", "changed", False)]),
        (lambda inv: inv["nics"][0].update(ips=["10.12.3.99"]), []),  # an address is not hardware
    ],
)
def test_windows_agent_changes(mutate: Any, expected: list[tuple[str, str, bool]]) -> None:
    assert hw(windows_panel(), mutate) == expected


def test_windows_ram_theft_names_the_module() -> None:
    old = windows_panel()
    new = copy.deepcopy(old)
    new["memory"]["modules"] = new["memory"]["modules"][:1]
    new["memory"]["total_bytes"] //= 2
    (c,) = diff_inventory(old, new)
    assert c.summary == "memory_module removed: ChannelB-DIMM0 4 GiB M471A5244CB0-CWE serial 41A2B3C5"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (drop("usb", lambda u: u["video"]), [("usb", "removed", True)]),  # the document camera
        (lambda inv: inv["memory"].update(total_bytes=4 * GIB), [("memory", "changed", True)]),
        (drop("nics", lambda n: n["name"] == "docker0"), [("nic", "removed", False)]),
        (drop("nics", lambda n: n["name"] == "wlan0"), [("nic", "removed", False)]),  # a USB dongle
        (lambda inv: inv["os"].update(kernel="6.8.0-45-generic"), []),
    ],
)
def test_linux_agent_changes(mutate: Any, expected: list[tuple[str, str, bool]]) -> None:
    assert hw(linux_panel(), mutate) == expected


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # a failed WMI query or a Linux agent without root lists no module: not a theft of them all
        (lambda inv: inv["memory"].update(modules=[]), []),
        (lambda inv: inv["memory"].update(modules=[], total_bytes=4 * GIB), [("memory", "changed", True)]),
        (lambda inv: inv.update(disks=[]), []),
        (lambda inv: inv.update(nics=[]), []),
        (lambda inv: inv.update(usb=[]), [("usb", "removed", True), ("usb", "removed", True)]),
    ],
)
def test_an_unreadable_section_is_not_a_removal(mutate: Any, expected: list[tuple[str, str, bool]]) -> None:
    old = windows_panel()
    got = hw(old, mutate)
    assert got == expected


def test_modules_reported_for_the_first_time_are_not_new_hardware() -> None:
    old = windows_panel()
    old["memory"]["modules"] = []  # the same machine, read without the module details
    assert hw(old, lambda inv: inv["memory"].update(modules=windows_panel()["memory"]["modules"])) == []


def test_oem_junk_board_ram_theft() -> None:
    raw = json.loads((FIXTURES / "windows-inventory-oem-junk.json").read_text(encoding="utf-8"))
    old = windows.parse(raw)[0]
    new = copy.deepcopy(old)
    new["memory"]["modules"][0] = {**new["memory"]["modules"][0], "serial": "87654321"}
    (c,) = diff_inventory(old, new)
    assert (c.component, c.action, c.hardware) == ("memory_module", "changed", True)
