"""Regenerate the console screenshots in this folder (zh-CN): a real server with a managed Mosquitto,
simulated classroom devices, the school's spreadsheet, a teacher's report, then Debian's headless
Chromium. Run from the repository root: `python docs/screenshots/regenerate.py` (needs mosquitto,
chromium and chromium-driver)."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from selenium.webdriver.common.by import By
from sqlalchemy import update

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from campusmon.demo.scenario import CAMPUS, free_port, layout, write_spreadsheet  # noqa: E402
from campusmon.demo.simulator import SimDevice  # noqa: E402
from campusmon.server.config import (  # noqa: E402
    BrokerSettings,
    HttpSettings,
    ScheduleSettings,
    ServerConfig,
    StorageSettings,
)
from campusmon.server.register.models import Asset  # noqa: E402
from campusmon.server.register.spreadsheet import Importer  # noqa: E402
from campusmon.server.service import Server  # noqa: E402
from campusmon.server.services import Actor, PageRequest  # noqa: E402
from campusmon.server.services.tickets import TicketFilter  # noqa: E402
from campusmon.server.services.users import UserService  # noqa: E402
from tests.support.browser import chromium, login, wait  # noqa: E402

PASSWORD = "campusmon-demo"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="campusmon-shots-"))
    port = free_port()
    cfg = ServerConfig(
        broker=BrokerSettings(managed=True, port=free_port()),
        storage=StorageSettings(data_dir=work / "server"),
        schedule=ScheduleSettings(default="always"),
        http=HttpSettings(enabled=True, port=port, public_url=f"http://127.0.0.1:{port}"),
    )
    server = Server(cfg)
    fleet: list[SimDevice] = []
    try:
        server.start()
        assert server.ingestor is not None and server.http is not None and server.metrics is not None
        ctx = server.http.app.state.ctx
        UserService(server.ingestor.db).add(
            "zhang", PASSWORD, "admin", actor=Actor("cli:docs"), display_name="张老师"
        )
        names = layout(16)
        sheet = work / "assets.csv"
        write_spreadsheet(sheet, names)
        Importer(server.ingestor.register, actor="import:assets.csv").run(sheet)
        now = time.time()
        with server.ingestor.db.session() as s:  # registered 40 days ago: the rooms' inspections are overdue
            s.execute(update(Asset).values(created_at=datetime.now(UTC) - timedelta(days=40)))
        assert server.broker is not None
        logins = server.broker.users.add_devices(CAMPUS, names, replace=True)  # no anonymous clients
        for i, name in enumerate(names):
            login_ = logins[name]
            dev = SimDevice(CAMPUS, name, "127.0.0.1", cfg.broker.port, interval=30, seed=i + 1,
                            username=login_.username, password=login_.password)  # fmt: skip
            dev.connect()
            fleet.append(dev)
        panel = next(d for d in fleet if d.device == "c302-panel")
        for k in range(24 * 12):  # a day of history for the charts, every 5 minutes
            m = panel.metrics(now - 86400 + k * 300)
            server.metrics.record(msgspec.structs.replace(m, seq=1_000_000 + k))
        panel.set_camera(False)  # the document camera is unplugged: pre-failed in the inspection
        for dev in fleet:
            dev.report()
        time.sleep(2)
        fleet[3].vanish()  # a panel loses power
        ctx.tickets.teacher_report(
            campus=CAMPUS,
            room="teaching/c302",
            device="c302-panel",
            problem="document_camera",
            text="展台没有画面",
            name="王老师",
            summary="教师报修: 展台不工作 — c302-panel",
        )
        time.sleep(3)
        base = server.http.url
        desk = chromium(1280, 900)
        phone = chromium(390, 844)
        try:
            login(desk, base, "zhang", PASSWORD)
            login(phone, base, "zhang", PASSWORD)
            desk.get(f"{base}/")
            wait(desk, lambda d: "tile-" in d.page_source)
            desk.save_screenshot(str(HERE / "overview.png"))
            desk.get(f"{base}/devices/{CAMPUS}/c302-panel")
            desk.save_screenshot(str(HERE / "device.png"))
            tid = ctx.tickets.page(TicketFilter(source="teacher"), PageRequest()).items[0].id
            phone.get(f"{base}/tickets/{tid}")
            phone.save_screenshot(str(HERE / "ticket-phone.png"))
            desk.get(f"{base}/assets")
            desk.save_screenshot(str(HERE / "register.png"))
            room_id = next(
                r.id
                for c in ctx.assets.rooms_tree()
                for b in c.buildings
                for r in b.rooms
                if r.name == "c302"
            )
            teacher = chromium(390, 844)
            try:
                teacher.get(f"{base}/r/{ctx.assets.room_token(room_id)}")
                teacher.save_screenshot(str(HERE / "teacher-form.png"))
            finally:
                teacher.quit()
            # the technician scans the same code: the room's inspection, pre-filled from live data
            phone.get(f"{base}/r/{ctx.assets.room_token(room_id)}")
            phone.find_element(By.ID, "inspect-room").click()
            wait(phone, lambda d: d.find_elements(By.ID, "start-classroom_multimedia"))
            phone.find_element(By.ID, "start-classroom_multimedia").click()
            wait(phone, lambda d: d.find_elements(By.ID, "finish-form"))
            phone.execute_script(
                "document.querySelector(\"[data-key='document_camera']\").scrollIntoView({block: 'center'})"
            )
            phone.save_screenshot(str(HERE / "inspection-phone.png"))
        finally:
            desk.quit()
            phone.quit()
    finally:
        for dev in fleet:
            dev.shutdown("screenshots taken")
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"screenshots written to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
