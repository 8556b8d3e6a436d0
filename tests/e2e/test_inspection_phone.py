"""The inspection phone page in a real headless Chromium (390x844): a simulated panel whose document
camera is unplugged reports through a real Mosquitto to a real server; the technician scans the room's
code, finds the camera pre-failed from live data, records the physical checks, finishes, and the open
peripheral_missing ticket gains a note instead of a second ticket."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import select

from campusmon.demo.simulator import SimDevice
from campusmon.server.db import Database
from campusmon.server.models import Ticket
from campusmon.server.register.models import Asset
from campusmon.server.services import Actor
from campusmon.server.services.users import UserService
from campusmon.server.tickets import TicketService
from tests.support.browser import chromium, login, wait
from tests.support.mosquitto import MosquittoProcess, free_port
from tests.support.mqtt import wait_until

PANEL = "c302-panel"
PASSWORD = "phone inspection 1"


def _item(driver: WebDriver, key: str) -> dict[str, str]:
    """The first checklist item with `key`: its id, pre-fill, result and CSS classes (one script call)."""
    found = driver.execute_script(
        "const e = document.querySelector(`[data-key='${arguments[0]}']`);"
        "return e ? {id: e.id, prefill: e.dataset.prefill, result: e.dataset.result, cls: e.className,"
        " text: e.innerText} : null;",
        key,
    )
    assert isinstance(found, dict), f"no item {key}"
    return {k: str(v) for k, v in found.items()}


def _tickets(db: Database, problem: str) -> list[Ticket]:
    with db.session() as s:
        return list(s.scalars(select(Ticket).where(Ticket.problem == problem).order_by(Ticket.id)))


@pytest.mark.slow
def test_phone_inspection_of_a_room_whose_document_camera_is_unplugged(
    server_factory, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    server = server_factory(http__enabled=True, http__port=free_port())
    assert server.http is not None and server.db is not None and server.ingestor is not None
    db: Database = server.db
    reg = server.ingestor.register
    UserService(db).add("wang", PASSWORD, "technician", actor=Actor("cli:test"), display_name="王工")
    panel = SimDevice("main", PANEL, mosquitto.host, mosquitto.port, interval=30, seed=3)
    panel.connect()
    try:
        panel.report()

        def asset_id() -> int | None:
            with db.session() as s:
                return s.scalars(select(Asset.id).where(Asset.link_device == PANEL)).first()

        assert wait_until(lambda: asset_id() is not None, timeout=30), "the panel's inventory made no asset"
        reg.add_room("main/A楼/302")
        with db.session() as s:
            room_id = reg.find_room(s, "main/A楼/302").id
        reg.set(asset_id() or 0, actor="user:wang", values={"type": "panel"}, room="A楼/302")
        panel.set_camera(False)  # the document camera is unplugged: the agent's event, then its reports
        panel.report()
        assert wait_until(lambda: len(_tickets(db, "peripheral_missing")) == 1, timeout=30)
        (missing,) = _tickets(db, "peripheral_missing")
        assert (missing.device, missing.subject, missing.status) == (PANEL, "usb_camera", "open")

        ctx = server.http.app.state.ctx
        base = server.http.url
        phone = chromium(390, 844)
        try:
            login(phone, base, "wang", PASSWORD)
            # the room's code (what a technician scans) offers the inspection to someone logged in
            phone.get(f"{base}/r/{ctx.assets.room_token(room_id)}")
            phone.find_element(By.ID, "inspect-room").click()
            wait(phone, lambda d: d.find_elements(By.ID, "start-classroom_multimedia"))
            phone.find_element(By.ID, "start-classroom_multimedia").click()
            wait(phone, lambda d: d.find_elements(By.ID, "finish-form"))
            assert "/inspections/" in phone.current_url
            camera = _item(phone, "document_camera")
            assert camera["prefill"] == "fail" and camera["result"] == "pending" and "fail" in camera["cls"]
            assert "实时：故障" in camera["text"] and f"#{missing.id}" in camera["text"]
            assert _item(phone, "online")["prefill"] == "pass"
            assert _item(phone, "picture")["prefill"] == ""  # only a person can tell
            assert phone.execute_script("return document.documentElement.scrollWidth") <= 390
            if os.environ.get("CAMPUSMON_KEEP_SHOTS"):
                phone.save_screenshot(os.environ["CAMPUSMON_KEEP_SHOTS"])

            # the picture is checked by eye: fine
            picture_id = _item(phone, "picture")["id"].removeprefix("item-")
            phone.find_element(By.ID, f"pass-{picture_id}").click()
            wait(phone, lambda d: _item(d, "picture")["result"] == "pass")
            # the rest of the physical checks are left for another day; finish
            phone.find_element(By.ID, "skip-rest").click()
            phone.find_element(By.ID, "finish-note").send_keys("展台 USB 线松脱，已报修")
            phone.find_element(By.ID, "finish").click()
            wait(phone, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-status='done']"))
            finished = phone.find_element(By.ID, "finished").text
            assert f"#{missing.id}" in finished
            assert _item(phone, "document_camera")["result"] == "fail"
        finally:
            phone.quit()
    finally:
        panel.shutdown("test over")

    # the existing ticket gained a note (by the technician); no second camera ticket
    (still,) = _tickets(db, "peripheral_missing")
    assert still.id == missing.id and still.status == "open"
    notes = [h for h in TicketService(db).get(missing.id).history if h.action == "note"]
    assert len(notes) == 1 and notes[0].actor == "user:wang" and "inspection #" in notes[0].note
    with db.session() as s:
        made = s.scalars(select(Ticket.problem).where(Ticket.source == "inspection")).all()
    assert set(made) <= {"inspection_overdue"}
