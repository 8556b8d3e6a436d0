from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from campusmon.server.models import Device
from campusmon.server.register.service import RegisterService
from campusmon.server.tickets import TicketService
from tests.support.web import WebHarness


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebHarness]:
    h = WebHarness(tmp_path)
    try:
        yield h
    finally:
        h.close()


def add_device(
    h: WebHarness, campus: str, device: str, state: str = "online", room: str | None = None
) -> None:
    now = datetime.now(UTC)
    with h.db.session() as s:
        s.add(
            Device(campus=campus, device=device, state=state, state_since=now, first_seen=now, last_seen=now)
        )
    if room is not None:
        reg = RegisterService(h.db)
        with h.db.session() as s:
            where = reg.ensure_room(s, campus, *room.split("/"))
            asset = reg.create(
                s, "test", now, name=device, type="panel", link_campus=campus, link_device=device
            )
            asset.room = where
            asset.campus = where.building.campus


def open_ticket(h: WebHarness, device: str = "c302-panel", problem: str = "device_down") -> int:
    return (
        TicketService(h.db)
        .open(campus="main", device=device, problem=problem, summary=f"{device} down", severity="critical")
        .ticket_id
    )
