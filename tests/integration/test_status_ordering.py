"""Status ordered by the device's clock, broker/link events, events acted on once (real SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from campusmon.contract import Event, Status, encode
from campusmon.server.config import (
    CampusTopologySettings,
    ScheduleSettings,
    ServerConfig,
    StorageSettings,
)
from campusmon.server.db import Database
from campusmon.server.ingest import Ingestor
from campusmon.server.metrics import SqliteMetricStore
from campusmon.server.models import Device
from campusmon.server.tickets import TicketService

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cfg(tmp_path: Path) -> ServerConfig:
    cfg = ServerConfig(
        storage=StorageSettings(data_dir=tmp_path), schedule=ScheduleSettings(default="always")
    )
    cfg.rules.link_grace_seconds = 30
    cfg.rules.loss_confirm_seconds = 0
    cfg.rules.broker_down_after_seconds = 60
    cfg.topology = {"main": CampusTopologySettings(rooms={f"pc-{i}": f"room-{i % 4}" for i in range(12)})}
    return cfg


@pytest.fixture
def ing(cfg: ServerConfig) -> Iterator[tuple[Ingestor, Clock]]:
    db = Database(cfg.storage.db_url)
    store = SqliteMetricStore(cfg.storage.metrics_path)
    clock = Clock()
    yield Ingestor(cfg, db, store, clock=clock), clock
    store.close()
    db.dispose()


def status(
    ing: Ingestor, device: str, state: str, ts: float, connected: float | None, received: float
) -> str:
    msg = Status(campus="main", device=device, ts=ts, state=state, connected=connected, interval=600)  # type: ignore[arg-type]
    return ing.handle(f"campusmon/main/{device}/status", encode(msg), received=received)


def state(ing: Ingestor, device: str) -> str:
    with ing.db.session() as s:
        return s.scalars(select(Device.state).where(Device.device == device)).one()


def active(ing: Ingestor) -> list[tuple[str, str]]:
    return sorted(
        (t.device, t.problem)
        for t in TicketService(ing.db).list()
        if t.status in ("open", "acknowledged", "in_progress")
    )


def test_lost_and_back_while_the_server_was_down_ends_online_and_next_loss_tickets(ing) -> None:
    ingestor, clock = ing
    c1 = T0 - 3600
    status(ingestor, "pc-x", "online", c1 + 0.1, c1, c1 + 0.2)
    # the server is down; the device is lost (will of connection 1) and comes back (connection 2);
    # at the restart both arrive from the broker's queue, long after they happened
    c2 = T0 - 600
    clock.now = T0
    status(ingestor, "pc-x", "lost", c1, c1, T0)
    status(ingestor, "pc-x", "online", c2 + 0.1, c2, T0 + 0.01)
    assert state(ingestor, "pc-x") == "online"
    assert active(ingestor) == []
    # the retained will of connection 1 again (a resubscribe): stale, changes nothing
    assert status(ingestor, "pc-x", "lost", c1, c1, T0 + 1) == "stale_status"
    assert state(ingestor, "pc-x") == "online"
    # its next real loss opens a ticket
    clock.now = T0 + 100
    assert status(ingestor, "pc-x", "lost", c2, c2, T0 + 100) == "accepted_status"
    assert state(ingestor, "pc-x") == "lost"
    assert active(ingestor) == [("pc-x", "device_down")]


def test_old_style_statuses_without_connected_still_order(ing) -> None:
    ingestor, clock = ing
    start = T0 - 3600  # an older agent sets its will once, when it starts
    status(ingestor, "pc-old", "online", start + 1, None, start + 1)
    clock.now = T0
    status(ingestor, "pc-old", "lost", start, None, T0)
    status(ingestor, "pc-old", "online", T0 - 300, None, T0 + 0.01)
    assert state(ingestor, "pc-old") == "online"
    assert status(ingestor, "pc-old", "online", start + 1, None, T0 + 1) == "duplicate_status"
    status(ingestor, "pc-old", "lost", start, None, T0 + 50)
    assert state(ingestor, "pc-old") == "lost"


def test_losses_around_a_broker_restart_are_held_and_cleared_when_devices_return(ing) -> None:
    ingestor, clock = ing
    devices = [f"pc-{i}" for i in range(12)]
    for d in devices:
        status(ingestor, d, "online", T0 - 99, T0 - 100, T0 - 99)
    ingestor.link_down(T0)
    clock.now = T0 + 5
    ingestor.link_up(T0 + 5)
    for d in devices:  # the wills the broker stop fired, queued for us
        assert status(ingestor, d, "lost", T0 - 100, T0 - 100, T0 + 5.2) == "accepted_status"
    assert ingestor.snapshot()["lost_held"] == 12
    clock.now = T0 + 8
    ingestor.sweep()
    assert active(ingestor) == []
    for d in devices[:9]:  # most reconnect within the grace
        status(ingestor, d, "online", T0 + 8, T0 + 8, T0 + 8.1)
    clock.now = T0 + 20
    ingestor.sweep()
    assert active(ingestor) == []
    clock.now = T0 + 40  # past the grace: the three still away were really lost (rooms 1, 2, 3)
    ingestor.sweep()
    assert active(ingestor) == [("", "link_down")], "three rooms at once: their link, one ticket"
    (ticket,) = [t for t in TicketService(ingestor.db).list() if t.problem == "link_down"]
    assert sorted(a.device for a in ticket.affected) == ["pc-10", "pc-11", "pc-9"]
    for d in ("pc-9", "pc-10", "pc-11"):
        status(ingestor, d, "online", T0 + 41, T0 + 41, T0 + 41)
    assert active(ingestor) == []


def test_wills_just_before_our_link_drops_are_part_of_the_broker_event(cfg, ing) -> None:
    ingestor, clock = ing
    cfg.rules.loss_confirm_seconds = 0.5
    for d in ("pc-0", "pc-1", "pc-2"):
        status(ingestor, d, "online", T0 - 99, T0 - 100, T0 - 99)
    # a broker stopping sends every will, then drops us
    status(ingestor, "pc-0", "lost", T0 - 100, T0 - 100, T0)
    status(ingestor, "pc-1", "lost", T0 - 100, T0 - 100, T0)
    due = ingestor.next_due()
    assert due is not None
    ingestor.link_down(T0 + 0.05)
    ingestor.release_due(due + 1)
    assert ingestor.snapshot()["lost_held"] == 2 and active(ingestor) == []
    # a loss on its own, with the link fine: a ticket once the wait is over
    ingestor.link_up(T0 + 3)
    clock.now = T0 + 100
    status(ingestor, "pc-2", "lost", T0 - 100, T0 - 100, T0 + 100)
    ingestor.release_due(ingestor.next_due())
    clock.now = T0 + 110  # past the group hold (pc-2 has a room) and the grace of the others
    ingestor.sweep()
    assert active(ingestor) == [("pc-0", "device_down"), ("pc-1", "device_down"), ("pc-2", "device_down")]


def test_a_few_losses_left_after_the_grace_get_their_own_ticket(ing) -> None:
    ingestor, clock = ing
    for d in ("pc-0", "pc-1"):
        status(ingestor, d, "online", T0 - 99, T0 - 100, T0 - 99)
    ingestor.link_down(T0)
    ingestor.link_up(T0 + 2)
    status(ingestor, "pc-0", "lost", T0 - 100, T0 - 100, T0 + 2.1)
    status(ingestor, "pc-1", "lost", T0 - 100, T0 - 100, T0 + 2.1)
    status(ingestor, "pc-1", "online", T0 + 4, T0 + 4, T0 + 4)
    clock.now = T0 + 40
    ingestor.sweep()
    clock.now = T0 + 50  # past the group hold too
    ingestor.sweep()
    assert active(ingestor) == [("pc-0", "device_down")]


def test_broker_away_too_long_is_one_ticket_resolved_when_it_returns(ing) -> None:
    ingestor, clock = ing
    for i in range(12):
        status(ingestor, f"pc-{i}", "online", T0 - 99, T0 - 100, T0 - 99)
    ingestor.link_down(T0)
    for t in (T0 + 30, T0 + 61, T0 + 90, T0 + 400):  # reports stop: no stale tickets either
        clock.now = t
        ingestor.sweep()
    got = TicketService(ingestor.db).list()
    assert [(t.problem, t.status) for t in got] == [("broker_down", "open")]
    ingestor.link_up(T0 + 401)
    assert [(t.problem, t.status) for t in TicketService(ingestor.db).list()] == [("broker_down", "resolved")]
    clock.now = T0 + 420  # still within the grace after the broker came back: no stale reports
    ingestor.sweep()
    assert len(TicketService(ingestor.db).list()) == 1


def test_events_are_acted_on_once_retained_and_redelivered_ones_are_not(cfg, ing) -> None:
    ingestor, clock = ing
    gone = Event(
        campus="main",
        device="pc-p",
        ts=T0,
        kind="peripheral_removed",
        severity="warning",
        message="document camera (USB video): 1 -> 0",
        data={"peripheral": "usb_camera", "before": 1, "now": 0},
    )
    topic = "campusmon/main/pc-p/events"
    assert ingestor.handle(topic, encode(gone), received=T0) == "accepted_event"
    (ticket,) = TicketService(ingestor.db).list()
    TicketService(ingestor.db).transition(ticket.id, "resolved", actor="tech", note="camera back")
    # the same event again: redelivered after a crash, retained on a resubscribe
    assert ingestor.handle(topic, encode(gone), received=T0 + 5) == "duplicate_event"
    assert ingestor.handle(topic, encode(gone), received=T0 + 6, retained=True) == "retained_event"
    # a restarted server remembers it
    again = Ingestor(cfg, ingestor.db, ingestor.metrics, clock=clock)
    for _restart in range(3):
        assert again.handle(topic, encode(gone), received=T0 + 10) == "duplicate_event"
        assert again.handle(topic, encode(gone), received=T0 + 10, retained=True) == "retained_event"
    assert [t.status for t in TicketService(ingestor.db).list()] == ["resolved"]
