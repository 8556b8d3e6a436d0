"""Acceptance of the web console in a real headless Chromium, against the real server (its own HTTP
thread), a real Mosquitto and a real `campusmon agent run`:

1. the overview shows the campus; the agent killed -9 turns its tile red without a reload; restarted, green;
2. on a 390×844 phone a technician acknowledges, starts and resolves that ticket with a note; the history
   names the technician at each step;
3. an admin uploads a GB18030 CSV with Chinese headers, sees the bad rows by line, imports the good ones,
   downloads the XLSX export and it holds them;
4. a teacher, not logged in, reports "document camera not working" from the room's URL; the technician's
   list has it; the webhook receiver gets a message whose link opens that ticket; a second report of the
   same device and problem adds a note, not a ticket.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import select

from campusmon.demo.scenario import free_port
from campusmon.server.config import (
    BrokerSettings,
    ChannelSettings,
    HttpSettings,
    NotifySettings,
    RouteSettings,
    ScheduleSettings,
    ServerConfig,
    StorageSettings,
)
from campusmon.server.register.models import Asset
from campusmon.server.service import Server
from campusmon.server.services import Actor, PageRequest
from campusmon.server.services.tickets import TicketFilter
from tests.integration.test_agent_process import write_config
from tests.support.browser import chromium, login, text_of, wait, wait_text
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt import wait_until
from tests.support.receivers import RobotReceiver

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/chromedriver").exists(), reason="needs Debian's chromium-driver"
)
FIXTURES = Path(__file__).parents[1] / "fixtures" / "assets"
PASSWORD = "correct horse battery"
DEVICE = "c302-panel"


class Agent:
    def __init__(self, tmp: Path, port: int) -> None:
        self.cfg = write_config(tmp, port, device=DEVICE)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(self.cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ),
        )

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def console(tmp_path: Path, mosquitto: MosquittoProcess) -> Iterator[tuple[Server, RobotReceiver, Agent]]:
    hook = RobotReceiver()
    port = free_port()
    cfg = ServerConfig(
        broker=BrokerSettings(
            managed=False, host=mosquitto.host, port=mosquitto.port, client_id="srv-console"
        ),
        storage=StorageSettings(data_dir=tmp_path / "server"),
        schedule=ScheduleSettings(default="always"),
        http=HttpSettings(enabled=True, port=port, public_url=f"http://127.0.0.1:{port}", poll_seconds=1),
        notify=NotifySettings(
            channels={"it": ChannelSettings(kind="webhook", url=hook.url)},
            routes=[RouteSettings(channels=["it"])],
        ),
    )
    cfg.rules.sweep_seconds = 0.5
    cfg.rules.group_hold_seconds = 0.5
    server = Server(cfg)
    server.start()
    assert server.connected and server.http is not None
    agent = Agent(tmp_path, mosquitto.port)
    try:
        yield server, hook, agent
    finally:
        agent.stop()
        server.stop()
        hook.close()


def prepare(server: Server, agent: Agent) -> None:
    """Users, and the agent's new asset filed in room 教学楼/302 (as a technician would)."""
    assert server.http is not None and server.db is not None and server.ingestor is not None
    from campusmon.server.services.users import UserService

    users = UserService(server.db)
    for role in ("admin", "technician"):
        users.add(role, PASSWORD, role, actor=Actor("cli:test"), display_name=f"{role}-name")
    agent.start()
    reg = server.ingestor.register

    def asset_id() -> int | None:
        assert server.db is not None
        with server.db.session() as s:
            return s.scalars(select(Asset.id).where(Asset.link_device == DEVICE)).first()

    assert wait_until(lambda: asset_id() is not None, timeout=30), "the agent's inventory made no asset"
    reg.add_room("main/教学楼/302")
    reg.set(asset_id() or 0, actor="user:technician", values={"type": "panel"}, room="教学楼/302")


def tile_color(driver: WebDriver) -> str:
    """Read in one script call: htmx swaps the tiles every second, a found element can go stale."""
    color = driver.execute_script(
        "const t = document.getElementById(arguments[0]); return t ? t.dataset.color : '';",
        f"tile-main-{DEVICE}",
    )
    return str(color or "")


@pytest.mark.slow
def test_console_acceptance(console, tmp_path: Path) -> None:
    server, hook, agent = console
    assert server.http is not None and server.db is not None
    base = server.http.url
    prepare(server, agent)
    desk = chromium(downloads=tmp_path / "downloads")
    phone = chromium(390, 844)
    teacher = chromium(390, 844)
    try:
        # 1. the live overview
        login(desk, base, "admin", PASSWORD)
        desk.get(f"{base}/")
        assert "总览" in desk.page_source and "教学楼" in desk.page_source
        wait(desk, lambda d: tile_color(d) == "green", timeout=30)
        marker = desk.execute_script("window.__noReload = 1; return window.__noReload;")
        agent.kill9()
        wait(desk, lambda d: tile_color(d) == "red", timeout=30)
        assert desk.execute_script("return window.__noReload;") == marker  # the same page: no reload

        # 2. the technician on a phone works the ticket
        def down_ticket() -> int:
            items = _tickets(server, device=DEVICE, problem="device_down")
            return items[0] if items else 0

        assert wait_until(lambda: down_ticket() > 0, timeout=30)
        ticket_id = down_ticket()
        login(phone, base, "technician", PASSWORD)
        phone.get(f"{base}/tickets")
        phone.find_element(By.LINK_TEXT, f"#{ticket_id}").click()
        wait_text(phone, "ticket-status", "待处理")
        assert phone.execute_script("return document.documentElement.scrollWidth") <= 390
        for action, status, note in (
            ("ack", "acknowledged", ""),
            ("start", "in_progress", ""),
            ("resolve", "resolved", "更换了电源适配器"),
        ):
            if note:
                phone.find_element(By.ID, "note").send_keys(note)
            phone.find_element(By.ID, f"act-{action}").click()
            try:
                wait(phone, status_is(status), timeout=30)
            except TimeoutException:
                raise AssertionError(f"{action}: {phone.current_url}\n{text_of(phone, 'history')}") from None
        history = phone.find_element(By.ID, "history").text
        assert history.count("user:technician") >= 3 and "更换了电源适配器" in history
        phone.save_screenshot(str(tmp_path / "phone-ticket.png"))
        if os.environ.get("CAMPUSMON_KEEP_SHOTS"):
            phone.save_screenshot(os.environ["CAMPUSMON_KEEP_SHOTS"])

        agent.start()
        wait(desk, lambda d: tile_color(d) == "green", timeout=40)

        # 3. the admin's spreadsheet
        desk.get(f"{base}/assets/import")
        desk.find_element(By.ID, "file").send_keys(str(FIXTURES / "school_gb18030.csv"))
        desk.find_element(By.ID, "check").click()
        report = wait_text(desk, "bad-rows", "行号")
        assert "7" in report and "8" in report  # bad rows are named by their line
        lines = [
            r.find_elements(By.TAG_NAME, "td")[0].text
            for r in desk.find_elements(By.CSS_SELECTOR, "#bad-rows tbody tr")
        ]
        assert lines and all(x.isdigit() for x in lines)
        desk.find_element(By.ID, "file").send_keys(str(FIXTURES / "school_gb18030.csv"))
        desk.find_element(By.ID, "import").click()
        wait_text(desk, "report", "已导入")
        desk.get(f"{base}/assets")
        desk.find_element(By.ID, "export-xlsx").click()
        downloads = tmp_path / "downloads"
        assert wait_until(lambda: any(p.suffix == ".xlsx" for p in downloads.glob("*")), timeout=20)
        xlsx = next(p for p in downloads.glob("*.xlsx"))
        rows = list(load_workbook(BytesIO(xlsx.read_bytes())).active.iter_rows(values_only=True))  # type: ignore[union-attr]
        tags = {r[0] for r in rows[1:]}
        assert {"ZX-2021-0001", "ZX-2022-0101", "ZX-2022-0109"} <= tags and "ZX-2022-0103" not in tags

        # 4. the teacher's report
        assert server.http is not None
        room_id = next(
            r.id
            for c in server.http.app.state.ctx.assets.rooms_tree()
            for b in c.buildings
            for r in b.rooms
            if r.name == "302"
        )
        token = server.http.app.state.ctx.assets.room_token(room_id)
        teacher.get(f"{base}/r/{token}")
        assert "故障报修" in teacher.page_source
        teacher.find_element(By.ID, "problem-document_camera").click()
        teacher.find_element(By.CSS_SELECTOR, f"#device option[value='{DEVICE}']").click()
        teacher.find_element(By.ID, "text").send_keys("展台没有画面")
        teacher.find_element(By.ID, "name").send_keys("王老师")
        teacher.find_element(By.ID, "send").click()
        wait_text(teacher, "sent", "谢谢")
        reports = _tickets(server, device=DEVICE, problem="report_document_camera")
        assert len(reports) == 1
        rid = reports[0]
        phone.get(f"{base}/tickets?source=teacher")
        assert f"#{rid}" in phone.page_source and "展台不工作" in phone.page_source
        assert hook.wait_for(lambda got: any(f"/tickets/{rid}" in str(m.body) for m in got), timeout=30)
        msg = next(m for m in hook.received if f"/tickets/{rid}" in str(m.body))
        link = re.search(rf"http://[^'\"\s]+/tickets/{rid}", json.dumps(msg.body)).group(0)  # type: ignore[union-attr]
        phone.get(link)
        assert phone.find_element(By.TAG_NAME, "h1").text.startswith(f"#{rid}")
        teacher.get(f"{base}/r/{token}")
        teacher.find_element(By.ID, "problem-document_camera").click()
        teacher.find_element(By.CSS_SELECTOR, f"#device option[value='{DEVICE}']").click()
        teacher.find_element(By.ID, "text").send_keys("还是不行")
        teacher.find_element(By.ID, "send").click()
        wait_text(teacher, "sent", f"#{rid}")
        assert _tickets(server, device=DEVICE, problem="report_document_camera") == [rid]
        detail = server.http.app.state.ctx.tickets.get(rid)
        assert [h.action for h in detail.history] == ["open", "note"] and "还是不行" in detail.history[
            -1
        ].note
    finally:
        for d in (desk, phone, teacher):
            d.quit()


def status_is(status: str) -> Callable[[WebDriver], bool]:
    script = "const e = document.getElementById('ticket-status'); return e ? e.dataset.status : '';"
    return lambda d: d.execute_script(script) == status


def _tickets(server: Server, device: str, problem: str) -> list[int]:
    assert server.http is not None
    ctx = server.http.app.state.ctx
    items = ctx.tickets.page(TicketFilter(device=device), PageRequest(1, 200)).items
    return [t.id for t in items if t.problem == problem]
