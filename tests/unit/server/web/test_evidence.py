"""Every sentence the pre-fill writes is shown in Chinese on the phone page (none falls through)."""

from __future__ import annotations

import pytest

from campusmon.server.inspections.plans import ItemSpec
from campusmon.server.inspections.prefill import KnownTicket, LiveFacts, suggest
from campusmon.server.web.evidence import evidence_in

ONLINE = ItemSpec("online", "设备在线", "Online", auto="online", problem="device_down")
CAMERA = ItemSpec("document_camera", "展台", "Document camera", auto="peripheral:usb_camera",
                  problem="peripheral_missing", subjects=["usb_camera"])  # fmt: skip
DISK = ItemSpec("disk", "硬盘", "Disk", auto="disk", problem="disk_full")
PORTS = ItemSpec("ports", "端口", "Ports", auto="switch_ports", problem="port_down")

CASES = [
    (
        CAMERA,
        LiveFacts(
            linked=True,
            state="online",
            tickets=[KnownTicket(7, "peripheral_missing", "usb_camera", "c302-panel: usb_camera is missing")],
        ),
        "工单 #7 未关闭：c302-panel: usb_camera is missing",
    ),
    (ONLINE, LiveFacts(linked=True, state="online", state_age_s=125), "当前在线 · 2 分钟"),
    (ONLINE, LiveFacts(linked=True, state="online", state_age_s=7200), "当前在线 · 2.0 小时"),
    (ONLINE, LiveFacts(linked=True, state="online", state_age_s=3 * 86400), "当前在线 · 3.0 天"),
    (ONLINE, LiveFacts(linked=True, state="online"), "当前在线"),
    (ONLINE, LiveFacts(linked=True, state="lost", state_age_s=600), "当前不在线（失联 · 10 分钟）：请先开机"),
    (CAMERA, LiveFacts(linked=True, state="shutdown"), "当前不在线（已关机）：没有实时数据可依据"),
    (DISK, LiveFacts(linked=True, state="online"), "近期没有硬盘数据"),
    (
        DISK,
        LiveFacts(linked=True, state="online", metrics={"disk_used_percent{mount=C:}": 71.4}),
        "没有硬盘工单；最满的硬盘已用 71%",
    ),
    (PORTS, LiveFacts(linked=True, state="online"), "在线，没有端口或上联工单"),
    (
        CAMERA,
        LiveFacts(linked=True, state="online", metrics={"usb_camera_count": 1.0}),
        "已上报存在：展台 × 1",
    ),
    (
        CAMERA,
        LiveFacts(linked=True, state="online", metrics={"usb_camera_count": 0.0}),
        "最近一次上报没有展台",
    ),
    (
        CAMERA,
        LiveFacts(linked=True, state="online", usb=["HD Visualizer"]),
        "最近一次资产清单中有：HD Visualizer",
    ),
    (CAMERA, LiveFacts(linked=True, state="online"), "代理程序没有上报这一项"),
]


@pytest.mark.parametrize(("item", "facts", "shown"), CASES)
def test_each_prefill_sentence_is_translated(item: ItemSpec, facts: LiveFacts, shown: str) -> None:
    stored = suggest(item, facts).evidence
    assert stored and evidence_in("zh-CN")(stored) == shown
    assert evidence_in("en")(stored) != "" and "%(" not in evidence_in("en")(stored)


def test_english_keeps_the_meaning_and_unknown_text_is_shown_as_stored() -> None:
    assert (
        evidence_in("en")("reported present (usb_camera_count = 1)")
        == "reported present: document camera × 1"
    )
    assert evidence_in("en")("online now for 5 min") == "online now · 5 min"
    assert evidence_in("zh-CN")("checked by the vendor") == "checked by the vendor"
