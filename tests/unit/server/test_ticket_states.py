"""The ticket state machine on the model: every move by table, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from campusmon.server.models import TICKET_STATES, TRANSITIONS, Ticket, TicketError

AT = datetime(2026, 9, 1, 8, 10, tzinfo=UTC)


def ticket(status: str) -> Ticket:
    return Ticket(id=7, campus="main", device="pc-1", problem="device_down", status=status, summary="x")


LEGAL = [(frm, to) for frm, tos in TRANSITIONS.items() for to in tos]
ILLEGAL = [(frm, to) for frm in TICKET_STATES for to in TICKET_STATES if to not in TRANSITIONS[frm]]


def test_the_table_names_every_state_and_only_states() -> None:
    assert set(TRANSITIONS) == set(TICKET_STATES)
    assert all(set(tos) <= set(TICKET_STATES) for tos in TRANSITIONS.values())
    assert TRANSITIONS["closed"] == ()  # closed is final


@pytest.mark.parametrize(("frm", "to"), LEGAL)
def test_a_legal_move_changes_the_state_and_writes_history(frm: str, to: str) -> None:
    t = ticket(frm)
    entry = t.set_state(to, actor="li", at=AT, note="checked")
    assert t.status == to and t.updated_at == AT
    assert t.history == [entry]
    assert (entry.actor, entry.from_status, entry.to_status, entry.note, entry.at) == (
        "li",
        frm,
        to,
        "checked",
        AT,
    )
    assert entry.action == ("reopen" if to == "open" else to)


@pytest.mark.parametrize(("frm", "to"), ILLEGAL)
def test_an_illegal_move_is_refused_and_changes_nothing(frm: str, to: str) -> None:
    t = ticket(frm)
    with pytest.raises(TicketError, match=f"#7 is {frm}; cannot go to {to}"):
        t.set_state(to, actor="li", at=AT)
    assert t.status == frm and t.history == [] and t.updated_at is None


@pytest.mark.parametrize(
    ("frm", "to", "field", "value"),
    [
        ("open", "resolved", "resolved_at", AT),
        ("in_progress", "resolved", "resolved_at", AT),
        ("resolved", "closed", "closed_at", AT),
        ("resolved", "open", "resolved_at", None),  # reopened: no longer resolved
    ],
)
def test_times_follow_the_state(frm: str, to: str, field: str, value: datetime | None) -> None:
    t = ticket(frm)
    t.resolved_at = datetime(2026, 8, 31, tzinfo=UTC)
    t.set_state(to, actor="li", at=AT)
    assert getattr(t, field) == value


@pytest.mark.parametrize(
    ("frm", "to", "action"),
    [("acknowledged", "resolved", "auto_resolve"), ("resolved", "open", "reopen")],
)
def test_the_history_entry_can_name_an_automatic_move(frm: str, to: str, action: str) -> None:
    t = ticket(frm)
    assert t.set_state(to, actor="campusmon", at=AT, action=action).action == action


@pytest.mark.parametrize("status", [s for s in TICKET_STATES if s != "closed"])
def test_notes_go_on_any_ticket_but_a_closed_one(status: str) -> None:
    t = ticket(status)
    entry = t.record("note", "cable replaced", actor="li", at=AT)
    assert (entry.action, entry.from_status, entry.to_status) == ("note", None, None)
    assert t.status == status and t.updated_at == AT


def test_a_closed_ticket_takes_no_note() -> None:
    t = ticket("closed")
    with pytest.raises(TicketError, match="closed"):
        t.record("note", "too late", actor="li", at=AT)
    assert t.history == []
