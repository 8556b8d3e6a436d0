"""The ticket repository on SQLite and on a real PostgreSQL: states, history, recurrence, flapping,
root-cause groups, manual tickets, and the outbox rows written in the ticket's own transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from campusmon.server.config import NotifySettings, RouteSettings
from campusmon.server.db import Database, utcnow
from campusmon.server.models import NotifyOutbox
from campusmon.server.notify import Router
from campusmon.server.tickets import TicketError, TicketService


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'tickets.db'}")
        yield database
        database.dispose()
        return
    database = Database(request.getfixturevalue("postgres"))
    try:
        yield database
    finally:
        with database.engine.begin() as conn:
            conn.exec_driver_sql(
                "DROP TABLE IF EXISTS notify_outbox, ticket_devices, ticket_history, tickets, "
                "device_history, devices, alembic_version CASCADE"
            )
        database.dispose()


def test_states_history_and_closed_is_final(db: Database) -> None:
    svc = TicketService(db)
    t = svc.open(campus="main", device="pc-1", problem="disk_full", subject="/", summary="disk 95 %")
    assert t.created and t.event == "opened"
    svc.transition(t.ticket_id, "acknowledged", actor="li")
    svc.transition(t.ticket_id, "in_progress", actor="li")
    svc.note(t.ticket_id, "cleaning temp files", actor="li")
    svc.transition(t.ticket_id, "resolved", actor="li", note="freed 40 GB")
    svc.transition(t.ticket_id, "open", actor="wang", note="still full")
    svc.transition(t.ticket_id, "resolved", actor="wang")
    svc.transition(t.ticket_id, "closed", actor="wang")
    for to in ("open", "resolved", "acknowledged"):
        with pytest.raises(TicketError, match="closed"):
            svc.transition(t.ticket_id, to, actor="x")
    with pytest.raises(TicketError, match="closed"):
        svc.note(t.ticket_id, "too late", actor="x")
    got = svc.get(t.ticket_id)
    assert [(h.actor, h.action, h.from_status, h.to_status) for h in got.history] == [
        ("campusmon", "open", None, "open"),
        ("li", "acknowledged", "open", "acknowledged"),
        ("li", "in_progress", "acknowledged", "in_progress"),
        ("li", "note", None, None),
        ("li", "resolved", "in_progress", "resolved"),
        ("wang", "reopen", "resolved", "open"),
        ("wang", "resolved", "open", "resolved"),
        ("wang", "closed", "resolved", "closed"),
    ]
    with pytest.raises(TicketError, match="no ticket"):
        svc.transition(999, "closed", actor="x")


def test_recurrence_within_window_reopens_outside_opens_new(db: Database) -> None:
    svc = TicketService(db, reopen_window_seconds=600, flapping_count=10)
    t0 = utcnow()
    first = svc.open(campus="main", device="pc-1", problem="device_down", summary="down", at=t0)
    assert (
        svc.resolve_auto(campus="main", device="pc-1", problem="device_down", note="back", at=t0)
        == first.ticket_id
    )
    again = svc.open(
        campus="main", device="pc-1", problem="device_down", summary="down", at=t0 + timedelta(seconds=60)
    )
    assert (again.ticket_id, again.created, again.event) == (first.ticket_id, False, "reopened")
    svc.resolve_auto(
        campus="main", device="pc-1", problem="device_down", note="back", at=t0 + timedelta(seconds=70)
    )
    later = svc.open(
        campus="main", device="pc-1", problem="device_down", summary="down", at=t0 + timedelta(seconds=900)
    )
    assert later.created and later.ticket_id != first.ticket_id
    actions = [h.action for h in svc.get(first.ticket_id).history]
    assert actions == ["open", "auto_resolve", "reopen", "auto_resolve"]


def test_flapping_becomes_one_ticket_until_stable(db: Database) -> None:
    svc = TicketService(db, reopen_window_seconds=3600, flapping_count=3, flapping_window_seconds=600)
    t0 = utcnow()
    events = []
    for i in range(8):
        at = t0 + timedelta(seconds=30 * i)
        events.append(
            svc.open(campus="main", device="pc-1", problem="device_down", summary="down", at=at).event
        )
        svc.resolve_auto(
            campus="main", device="pc-1", problem="device_down", note="back", at=at + timedelta(seconds=10)
        )
    # opened, 2 reopens, then flapping once; no more messages per bounce
    assert events == ["opened", "reopened", "reopened", "flapping", None, None, None, None]
    (ticket,) = svc.list()
    assert ticket.flapping and ticket.status == "open" and ticket.summary.startswith("[flapping]")
    assert svc.settle_flapping(t0 + timedelta(seconds=300)) == []  # not stable long enough
    assert svc.settle_flapping(t0 + timedelta(seconds=30 * 7 + 10 + 600)) == [ticket.id]
    assert svc.get(ticket.id).status == "resolved"


def test_group_ticket_lists_devices_and_resolves_when_all_back(db: Database) -> None:
    svc = TicketService(db)
    g = svc.open(
        campus="main",
        device="",
        problem="room_down",
        subject="lab301",
        room="lab301",
        summary="room dark",
        affected=["pc-1", "pc-2"],
    )
    again = svc.open(
        campus="main",
        device="",
        problem="room_down",
        subject="lab301",
        summary="x",
        affected=["pc-2", "pc-3"],
    )
    assert again.ticket_id == g.ticket_id and not again.created
    with db.session() as s:
        assert TicketService.covering(s, "main", "pc-3") is not None
        assert TicketService.covering(s, "main", "pc-9") is None
    assert svc.device_recovered("main", "pc-1", "back") == []
    assert svc.device_recovered("main", "pc-2", "back") == []
    assert svc.device_recovered("main", "pc-3", "back") == [g.ticket_id]
    t = svc.get(g.ticket_id)
    assert t.status == "resolved" and [a.device for a in t.affected] == ["pc-1", "pc-2", "pc-3"]
    assert all(a.recovered_at is not None for a in t.affected)
    assert "every affected device is back" in t.history[-1].note


def test_switch_recovery_resolves_its_group(db: Database) -> None:
    svc = TicketService(db)
    g = svc.open(
        campus="main", device="sw-1", problem="upstream_down", summary="sw down", affected=["pc-1", "pc-2"]
    )
    assert svc.device_recovered("main", "sw-1", "sw-1 came back online") == [g.ticket_id]


def test_manual_ticket_and_second_report_becomes_a_note(db: Database) -> None:
    svc = TicketService(db)
    with pytest.raises(TicketError, match="device or a room"):
        svc.open_manual(campus="main", summary="?", actor="zhang")
    a = svc.open_manual(campus="main", room="302", summary="panel is black", actor="teacher-zhang")
    b = svc.open_manual(campus="main", room="302", summary="still black", actor="teacher-li")
    assert a.created and not b.created and a.ticket_id == b.ticket_id
    t = svc.get(a.ticket_id)
    assert t.opened_by == "teacher-zhang" and t.room == "302" and t.problem == "manual"
    assert [(h.actor, h.note) for h in t.history] == [
        ("teacher-zhang", "panel is black"),
        ("teacher-li", "still black"),
    ]
    assert [x.id for x in svc.list(room="302")] == [a.ticket_id]
    assert svc.list(severity=["critical"]) == []


def test_outbox_rows_are_written_with_the_ticket(db: Database) -> None:
    notify = NotifySettings(
        routes=[
            RouteSettings(channels=["ops"], severities=["critical"]),
            RouteSettings(channels=["east-email"], campuses=["east"]),
        ]
    )
    svc = TicketService(db, on_event=Router(notify))
    svc.open(campus="main", device="pc-1", problem="device_down", severity="critical", summary="down")
    svc.open(campus="main", device="pc-2", problem="disk_full", severity="warning", summary="disk")
    svc.open(campus="east", device="pc-3", problem="device_down", severity="critical", summary="down")
    svc.resolve_auto(campus="main", device="pc-1", problem="device_down", note="back")
    with db.session() as s:
        rows = [
            (r.ticket_id, r.channel, r.event)
            for r in s.scalars(select(NotifyOutbox).order_by(NotifyOutbox.id))
        ]
    assert rows == [
        (1, "ops", "opened"),
        (3, "ops", "opened"),
        (3, "east-email", "opened"),
        (1, "ops", "resolved"),
    ]


def test_repeated_recovery_signals_do_not_postpone_settling(db: Database) -> None:
    svc = TicketService(db, reopen_window_seconds=3600, flapping_count=2, flapping_window_seconds=100)
    t0 = utcnow()
    for i in range(3):
        at = t0 + timedelta(seconds=10 * i)
        svc.open(campus="main", device="pc-1", problem="device_down", summary="down", at=at)
        svc.resolve_auto(
            campus="main", device="pc-1", problem="device_down", note="up", at=at + timedelta(seconds=1)
        )
    for k in range(1, 20):  # the sweep keeps saying "it is up"
        svc.resolve_auto(
            campus="main",
            device="pc-1",
            problem="device_down",
            note="up",
            at=t0 + timedelta(seconds=21 + 5 * k),
        )
    (t,) = svc.list()
    assert t.flapping and t.status == "open"
    assert svc.settle_flapping(t0 + timedelta(seconds=21 + 100)) == [t.id]
