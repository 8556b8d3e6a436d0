"""What live data pre-fills on a checklist item (pure)."""

from __future__ import annotations

import pytest

from campusmon.server.inspections.plans import ItemSpec
from campusmon.server.inspections.prefill import KnownTicket, LiveFacts, suggest

CAMERA = ItemSpec(
    "document_camera",
    "展台",
    "Document camera",
    auto="peripheral:usb_camera",
    problem="peripheral_missing",
    subjects=["usb_camera", "document camera"],
)
ONLINE = ItemSpec("online", "在线", "Online", auto="online", problem="device_down")
SOUND = ItemSpec("sound", "声音", "Sound")
DISK = ItemSpec("disk", "硬盘", "Disk", auto="disk", problem="disk_full")
PORTS = ItemSpec("link_lights", "指示灯", "Link lights", auto="switch_ports", problem="port_down")

UP = LiveFacts(linked=True, state="online", state_age_s=7200)
CAM_TICKET = KnownTicket(12, "peripheral_missing", "usb_camera", "usb_camera is missing")


@pytest.mark.parametrize(
    ("item", "facts", "result", "ticket"),
    [
        (CAMERA, LiveFacts(linked=True, state="online", tickets=[CAM_TICKET]), "fail", 12),
        # the same problem under the name a Linux agent's event gives it
        (
            CAMERA,
            LiveFacts(
                linked=True,
                state="online",
                tickets=[KnownTicket(3, "peripheral_missing", "document camera", "")],
            ),
            "fail",
            3,
        ),
        # a missing touch screen is not a missing camera
        (
            CAMERA,
            LiveFacts(
                linked=True, state="online", tickets=[KnownTicket(4, "peripheral_missing", "touchscreen", "")]
            ),
            None,
            None,
        ),
        (CAMERA, LiveFacts(linked=True, state="online", metrics={"usb_camera_count": 1.0}), "pass", None),
        (CAMERA, LiveFacts(linked=True, state="online", metrics={"usb_camera_count": 0.0}), "fail", None),
        (
            CAMERA,
            LiveFacts(linked=True, state="online", usb=["USB Video Device Camera (video)"]),
            "pass",
            None,
        ),
        (CAMERA, LiveFacts(linked=True, state="online"), None, None),
        (CAMERA, LiveFacts(linked=True, state="shutdown", metrics={"usb_camera_count": 1.0}), None, None),
        (CAMERA, LiveFacts(), None, None),  # the asset reports nothing
        (ONLINE, UP, "pass", None),
        (ONLINE, LiveFacts(linked=True, state="shutdown"), None, None),  # switched off is not a fault
        (
            ONLINE,
            LiveFacts(linked=True, state="lost", tickets=[KnownTicket(7, "room_down", "", "")]),
            "fail",
            7,
        ),
        (SOUND, UP, None, None),
        (
            SOUND,
            LiveFacts(
                linked=True, state="online", tickets=[KnownTicket(8, "inspection_failed", "sound", "")]
            ),
            "fail",
            8,
        ),
        (
            SOUND,
            LiveFacts(
                linked=True, state="online", tickets=[KnownTicket(9, "inspection_failed", "cables", "")]
            ),
            None,
            None,
        ),
        (
            DISK,
            LiveFacts(linked=True, state="online", metrics={"disk_used_percent{mount=C:}": 41.0}),
            "pass",
            None,
        ),
        (
            DISK,
            LiveFacts(linked=True, state="online", tickets=[KnownTicket(5, "disk_full", "C:", "")]),
            "fail",
            5,
        ),
        (DISK, UP, None, None),
        (PORTS, UP, "pass", None),
        (
            PORTS,
            LiveFacts(linked=True, state="online", tickets=[KnownTicket(6, "port_down", "Gi0/3", "")]),
            "fail",
            6,
        ),
    ],
)
def test_suggest(item: ItemSpec, facts: LiveFacts, result: str | None, ticket: int | None) -> None:
    got = suggest(item, facts)
    assert (got.result, got.ticket_id) == (result, ticket)
    if result is not None:
        assert got.evidence
