"""Notifications against real local receivers: WeCom/DingTalk formats and signature, SMTP with
STARTTLS, and the outbox (retries, a hung channel, rate limit and digest)."""

from __future__ import annotations

import email
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from campusmon.server.config import ChannelSettings, NotifySettings, RouteSettings
from campusmon.server.db import Database
from campusmon.server.models import NotifyOutbox
from campusmon.server.notify import (
    SENDERS,
    DeliveryError,
    Dispatcher,
    Router,
    TicketInfo,
    render,
    render_digest,
)
from campusmon.server.tickets import TicketService
from tests.support.mqtt import wait_until
from tests.support.receivers import RobotReceiver, SmtpReceiver

SH = ZoneInfo("Asia/Shanghai")
INFO = TicketInfo(
    id=7,
    campus="main",
    device="sw-301",
    room="lab301",
    problem="upstream_down",
    subject="",
    severity="critical",
    status="open",
    summary="10 devices behind switch sw-301 went offline together",
    at=datetime(2026, 12, 2, 0, 10, tzinfo=UTC),
    affected=[f"lab301-pc{i:02d}" for i in range(1, 11)],
)


@pytest.fixture
def robot() -> Iterator[Callable[..., RobotReceiver]]:
    made: list[RobotReceiver] = []

    def make(kind: str = "webhook", secret: str = "") -> RobotReceiver:
        r = RobotReceiver(kind=kind, secret=secret)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def test_templates_zh_and_en_local_time_and_link() -> None:
    zh = render(INFO, "opened", "zh-CN", SH, "https://mon.school.cn/tickets/{id}")
    assert "新工单 #7" in zh.title and "严重" in zh.title and "main / lab301 / sw-301" in zh.title
    assert "2026-12-02 08:10:00 CST" in zh.text  # 00:10 UTC is 08:10 in Shanghai
    assert "受影响设备 (10)" in zh.text and "[查看工单](https://mon.school.cn/tickets/7)" in zh.markdown
    en = render(INFO, "resolved", "en", ZoneInfo("UTC"), "")
    assert en.title.startswith("[critical] Ticket resolved #7") and "2026-12-02 00:10:00 UTC" in en.text
    assert en.data["ticket"]["affected"][0] == "lab301-pc01"
    digest = render_digest([(INFO, "opened"), (INFO, "resolved")], "en", SH, "")
    assert digest.title == "2 ticket notifications" and len(digest.data["tickets"]) == 2


def test_wecom_payload_accepted_by_robot(robot) -> None:
    r = robot("wecom")
    SENDERS["wecom"](ChannelSettings(kind="wecom", url=r.url), render(INFO, "opened", "zh-CN", SH, ""))
    (got,) = r.received
    assert got.body["msgtype"] == "markdown" and "新工单 #7" in got.body["markdown"]["content"]
    assert got.query == {"key": "k-1"} and r.rejected == []


def test_dingtalk_signature_checked_by_robot(robot) -> None:
    r = robot("dingtalk", secret="SEC0123456789abcdef")
    msg = render(INFO, "opened", "zh-CN", SH, "")
    SENDERS["dingtalk"](ChannelSettings(kind="dingtalk", url=r.url, secret="SEC0123456789abcdef"), msg)
    (got,) = r.received
    assert got.body["markdown"]["title"] == msg.title and "lab301-pc10" in got.body["markdown"]["text"]
    with pytest.raises(DeliveryError, match="310000"):
        SENDERS["dingtalk"](ChannelSettings(kind="dingtalk", url=r.url, secret="SECwrong"), msg)
    assert r.rejected == ["dingtalk: sign not match"]


def test_email_over_starttls(tmp_path: Path) -> None:
    smtp = SmtpReceiver(tmp_path)
    try:
        ch = ChannelSettings(
            kind="email",
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            tls_ca=smtp.cert,
            sender="campusmon@school.cn",
            recipients=["it@school.cn", "li@school.cn"],
        )
        SENDERS["email"](ch, render(INFO, "opened", "zh-CN", SH, "https://mon/t/{id}"))
        assert smtp.wait_for(1)
        envelope, tls = smtp.messages[0]
        assert tls, "the message must have gone over STARTTLS"
        assert envelope.rcpt_tos == ["it@school.cn", "li@school.cn"]
        parsed = email.message_from_bytes(envelope.original_content, policy=default_policy)
        assert "新工单 #7" in str(parsed["Subject"])
        assert "https://mon/t/7" in parsed.get_content()
        # a server that does not speak STARTTLS is refused, not used in clear text
        with pytest.raises(DeliveryError):
            SENDERS["email"](
                ChannelSettings(
                    kind="email",
                    smtp_host="127.0.0.1",
                    smtp_port=1,
                    sender="a@b",
                    recipients=["c@d"],
                    timeout_seconds=2,
                ),
                render(INFO, "opened", "en", SH, ""),
            )
    finally:
        smtp.close()


def _setup(
    tmp_path: Path, url: str, start: bool = True, **channel: object
) -> tuple[Database, TicketService, Dispatcher]:
    db = Database(f"sqlite:///{tmp_path / 'n.db'}")
    settings = NotifySettings(
        language="en",
        channels={"ops": ChannelSettings(kind="webhook", url=url, **channel)},  # type: ignore[arg-type]
        routes=[RouteSettings(channels=["ops"])],
        max_backoff_seconds=0.5,
        poll_seconds=0.2,
    )
    svc = TicketService(db, on_event=Router(settings))
    dispatcher = Dispatcher(settings, db, SH)
    if start:
        dispatcher.start()
    return db, svc, dispatcher


def test_outbox_retries_a_down_channel_and_delivers_once(tmp_path: Path, robot) -> None:
    r = robot("webhook")
    r.fail_next = 3
    db, svc, dispatcher = _setup(tmp_path, r.url)
    try:
        svc.open(campus="main", device="pc-1", problem="device_down", summary="down")
        dispatcher.kick()
        assert r.wait_for(lambda got: len(got) == 1, timeout=15)
        assert r.received[0].body["ticket"]["device"] == "pc-1"
        assert wait_until(lambda: _all_sent(db), timeout=5)
        with db.session() as s:
            (row,) = s.scalars(select(NotifyOutbox))
            assert (row.status, row.attempts) == ("sent", 4) and "HTTP 500" in row.last_error
        assert not r.wait_for(lambda got: len(got) > 1, timeout=1.0)
    finally:
        dispatcher.stop()
        db.dispose()


def test_hung_channel_never_blocks_tickets_and_loses_nothing(tmp_path: Path, robot) -> None:
    r = robot("webhook")
    r.gate = threading.Event()
    db, svc, dispatcher = _setup(tmp_path, r.url, digest_min=100, rate_per_minute=100)
    try:
        for i in range(5):
            svc.open(campus="main", device=f"pc-{i}", problem="device_down", summary="down")
            dispatcher.kick()
        # the sender is stuck in its first request, yet every ticket and outbox row is committed
        assert len(svc.list(status=["open"])) == 5
        with db.session() as s:
            assert len(list(s.scalars(select(NotifyOutbox)))) == 5
        r.gate.set()
        assert r.wait_for(
            lambda got: {d for x in got for d in _devices(x.body)} == {f"pc-{i}" for i in range(5)}, 15
        )
    finally:
        r.gate.set()
        dispatcher.stop()
        db.dispose()


def _devices(body: Any) -> list[str]:
    if body.get("event") == "digest":
        return [t["device"] for t in body["tickets"]]
    return [body["ticket"]["device"]]


def test_rate_limit_turns_a_storm_into_a_digest(tmp_path: Path, robot) -> None:
    r = robot("webhook")
    db, svc, dispatcher = _setup(tmp_path, r.url, start=False, rate_per_minute=2, digest_min=5)
    try:
        # 30 tickets at once (the sender starts after them: the storm is all there at the first look)
        for i in range(30):
            svc.open(campus="main", device=f"pc-{i:02d}", problem="device_down", summary="down")
        dispatcher.start()
        want = {f"pc-{i:02d}" for i in range(30)}
        assert r.wait_for(lambda got: {d for x in got for d in _devices(x.body)} == want, timeout=15)
        (digest,) = r.received  # one message for the 30
        assert digest.body["event"] == "digest" and len(digest.body["tickets"]) == 30
        assert wait_until(lambda: _all_sent(db), timeout=5)
        for i in range(30, 33):  # budget left for one more message in this minute, not two
            svc.open(campus="main", device=f"pc-{i:02d}", problem="device_down", summary="down")
        dispatcher.kick()
        assert r.wait_for(lambda got: len(got) == 2, timeout=10)
        assert not r.wait_for(lambda got: len(got) > 2, timeout=1.0)  # budget spent: nothing more
    finally:
        dispatcher.stop()
        db.dispose()


def _all_sent(db: Database) -> bool:
    with db.session() as s:
        return {r.status for r in s.scalars(select(NotifyOutbox))} == {"sent"}


def test_two_servers_on_postgresql_send_each_notification_once(postgres: str, robot) -> None:
    r = robot("webhook")
    db = Database(postgres)
    settings = NotifySettings(
        language="en",
        channels={"ops": ChannelSettings(kind="webhook", url=r.url, digest_min=1000, rate_per_minute=10_000)},
        routes=[RouteSettings(channels=["ops"])],
        poll_seconds=0.05,
    )
    svc = TicketService(db, on_event=Router(settings))
    first, second = Dispatcher(settings, db, SH), Dispatcher(settings, db, SH)
    try:
        first.start()
        second.start()
        for i in range(40):
            svc.open(campus="main", device=f"pc-{i:02d}", problem="device_down", summary="down")
        want = [f"pc-{i:02d}" for i in range(40)]
        assert r.wait_for(lambda got: len({d for x in got for d in _devices(x.body)}) == 40, timeout=20)
        assert wait_until(lambda: _all_sent(db), timeout=10)
        sent = sorted(d for x in r.received for d in _devices(x.body))
        assert sent == want  # nothing twice
        assert first.workers["ops"].sent > 0 and second.workers["ops"].sent > 0
    finally:
        first.stop()
        second.stop()
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "DROP TABLE IF EXISTS notify_outbox, ticket_devices, ticket_history, tickets, "
                "device_history, devices, alembic_version CASCADE"
            )
        db.dispose()
