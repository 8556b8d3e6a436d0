"""Tickets on a real PostgreSQL: migrations apply, and the database itself keeps one active ticket."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from campusmon.server.db import Database, utcnow
from campusmon.server.models import Ticket
from campusmon.server.tickets import TicketService


def test_one_active_ticket_per_problem_is_a_database_constraint(postgres: str) -> None:
    db = Database(postgres)
    try:
        svc = TicketService(db, reopen_window_seconds=0)  # a recurrence opens a new ticket
        first = svc.open(campus="main", device="pc-1", problem="device_down", summary="down")
        again = svc.open(campus="main", device="pc-1", problem="device_down", summary="down again")
        assert first.created and not again.created and first.ticket_id == again.ticket_id
        now = utcnow()
        with pytest.raises(IntegrityError), db.session() as s:  # bypassing the service: the index refuses
            s.add(
                Ticket(
                    campus="main",
                    device="pc-1",
                    problem="device_down",
                    subject="",
                    summary="dup",
                    opened_at=now,
                    updated_at=now,
                )
            )
        svc.resolve_auto(campus="main", device="pc-1", problem="device_down", note="back")
        third = svc.open(campus="main", device="pc-1", problem="device_down", summary="down later")
        assert third.created and third.ticket_id != first.ticket_id
    finally:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "DROP TABLE IF EXISTS notify_outbox, ticket_devices, ticket_history, tickets, "
                "device_history, devices, alembic_version CASCADE"
            )
        db.dispose()
