"""What the engine decides; the effects (server/effects.py) carry it out: tickets, history, memory."""

from __future__ import annotations

from dataclasses import dataclass

from .state import ThresholdKey, ThresholdState


@dataclass(frozen=True, slots=True)
class OpenTicket:
    """Open a ticket (or add to the active one, or reopen a recent one: the ticket service decides).
    `extra` is noted on a ticket that was already active (what else changed). A group ticket lists
    `affected` devices; `absorb`: their own down tickets are resolved into it. `what` is logged."""

    campus: str
    device: str
    problem: str
    summary: str
    severity: str
    subject: str = ""
    room: str = ""
    extra: str = ""
    affected: tuple[str, ...] = ()
    absorb: bool = False
    what: str = ""


@dataclass(frozen=True, slots=True)
class ResolveTicket:
    """Resolve the active ticket of this problem automatically; `note` says why, in its history."""

    campus: str
    device: str
    problem: str
    note: str
    subject: str = ""


@dataclass(frozen=True, slots=True)
class RecordHistory:
    """A condition whose rule says `ticket = false`: only a line in the device's history."""

    campus: str
    device: str
    problem: str
    summary: str


@dataclass(frozen=True, slots=True)
class ThresholdMoved:
    """A threshold condition's memory for one (rule, device, subject) changed."""

    key: ThresholdKey
    state: ThresholdState


@dataclass(frozen=True, slots=True)
class MarkStale:
    """The device is silent (report_stale raised): remembered so its next report resolves it."""

    campus: str
    device: str
    stale: bool


@dataclass(frozen=True, slots=True)
class DeviceBack:
    """The device is back: marked recovered in the group tickets that list it; a group with all back
    (or, with `own_groups`, whose cause is this device) is resolved."""

    campus: str
    device: str
    why: str
    own_groups: bool = True


Action = OpenTicket | ResolveTicket | RecordHistory | ThresholdMoved | MarkStale | DeviceBack
