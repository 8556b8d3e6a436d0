"""The demo's cast, simulated inventories and self-check (pure logic; the demo itself runs for real)."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from campusmon.demo.scenario import Cast, RegisterView, cast, check, layout, room_of
from campusmon.demo.simulator import SimDevice, hardware_of
from campusmon.server.models import Ticket
from campusmon.server.register.changes import diff_inventory
from campusmon.server.register.identity import fingerprint


@pytest.mark.parametrize("n", [4, 5, 20, 60, 500])
def test_every_fault_has_its_own_device(n: int) -> None:
    names = layout(n)
    who = cast(names)
    roles = [who.panel, who.disk_pc, who.camera_panel, who.ram_pc]
    assert len(set(roles)) == 4 and set(roles) <= set(names)
    assert not set(who.leavers) & set(roles)
    assert who.camera_panel.endswith("-panel") and room_of(who.panel) == "teaching/c302"


def test_simulated_inventories_are_stable_distinct_and_identify_their_device() -> None:
    a, b = hardware_of("main", "lab301-pc01"), hardware_of("main", "lab301-pc02")
    assert a == hardware_of("main", "lab301-pc01")
    fa, fb = fingerprint({}, a), fingerprint({}, b)
    assert fa.smbios_uuid and fa.serial and fa.board_serial and fa.macs
    assert fa.smbios_uuid != fb.smbios_uuid and fa.serial != fb.serial and not fa.macs & fb.macs
    panel = hardware_of("main", "c303-panel")
    assert [u["product"] for u in panel["usb"] if u.get("video")] == ["USB Video Device"]


def test_a_stolen_ram_module_is_one_hardware_change() -> None:
    dev = SimDevice("main", "lab301-pc10", "127.0.0.1", 1)
    dev.publish_inventory()  # not connected: only builds the inventory
    before = copy.deepcopy(dev.hardware)
    module = dev.remove_ram_module()
    (c,) = diff_inventory(before, dev.hardware)
    assert (c.component, c.action, c.hardware) == ("memory_module", "removed", True)
    assert module["serial"] in c.summary


def ticket(device: str, problem: str, status: str, summary: str = "", room: str = "r/1") -> Ticket:
    return Ticket(device=device, problem=problem, status=status, summary=summary, room=room)


def good() -> tuple[list[Ticket], RegisterView, Cast]:
    who = Cast("c302-panel", "lab301-pc01", "c303-panel", "lab301-pc10", [])
    tickets = [
        ticket("c302-panel", "device_down", "resolved"),
        ticket("lab301-pc01", "disk_full", "resolved"),
        ticket("c303-panel", "peripheral_missing", "resolved"),
        ticket("lab301-pc10", "inventory_changed", "open", "memory_module removed: DIMM serial 71D8FF92"),
    ]
    reg = RegisterView(
        per_room=Counter({"science/lab301": 2, "teaching/c302": 1, "teaching/c303": 1}),
        assets=4,
        changes=[("lab301-pc10", "memory_module", "removed", "DIMM serial 71D8FF92")],
    )
    return tickets, reg, who


def test_the_check_passes_only_when_everything_happened_exactly() -> None:
    tickets, reg, who = good()
    stolen = {"serial": "71D8FF92"}
    assert check(tickets, reg, who, 4, stolen) == []
    assert check(tickets[:-1], reg, who, 4, stolen)  # the theft opened nothing
    assert check([*tickets, ticket("lab301-pc03", "device_down", "open")], reg, who, 4, stolen)
    assert check([*tickets, ticket("c302-panel", "device_down", "resolved")], reg, who, 4, stolen)
    tickets[0].status = "open"
    assert check(tickets, reg, who, 4, stolen)  # never recovered
    tickets, reg, who = good()
    tickets[1].room = ""
    assert check(tickets, reg, who, 4, stolen)  # no room
    tickets, reg, who = good()
    reg.changes.append(("lab301-pc01", "nic", "added", "x"))
    assert check(tickets, reg, who, 4, stolen)  # a spurious component change
    tickets, reg, who = good()
    reg.per_room["(no room)"] = 1
    assert check(tickets, reg, who, 5, stolen)  # an asset the spreadsheet did not place
    tickets, reg, who = good()
    assert check(tickets, reg, who, 4, {"serial": "OTHER"})  # the ticket names another module
