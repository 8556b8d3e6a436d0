"""Live facts about one registered device, read from the server's own tables and its metric store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import as_utc
from ..metrics import SqliteMetricStore
from ..models import ACTIVE_STATES, Device, Ticket, TicketDevice
from ..register.models import Asset
from .prefill import KnownTicket, LiveFacts

#: the metrics a pre-fill can use (peripheral counts, disk use)
PREFILL_METRICS = (
    "usb_camera_count",
    "touchscreen_count",
    "display_connected_count",
    "disk_used_percent",
)


class LatestMetrics(Protocol):
    """The newest value of each metric a device reported recently (keys: metric name, plus
    `{labels}` when an instance has labels, e.g. `disk_used_percent{mount="C:"}`)."""

    def latest(self, campus: str, device: str, now: float) -> Mapping[str, float]: ...


class StoreLatest:
    """`LatestMetrics` over the embedded metric store: the pre-fill metrics of the device's newest
    report, when it came within `max_age_s`."""

    def __init__(self, store: SqliteMetricStore, max_age_s: float = 900.0) -> None:
        self.store = store
        self.max_age_s = max_age_s

    def latest(self, campus: str, device: str, now: float) -> Mapping[str, float]:
        hit = self.store.newest(campus, device)
        if hit is None or now - hit[0] > self.max_age_s:
            return {}
        return {k: v for k, v in hit[1].items() if k.split("{", 1)[0] in PREFILL_METRICS}


def usb_names(inventory: Mapping[str, Any] | None) -> list[str]:
    """Names of the USB devices in an agent inventory (product, name or description)."""
    usb = (inventory or {}).get("usb")
    out: list[str] = []
    for u in usb if isinstance(usb, list) else ():
        if isinstance(u, Mapping):
            parts = [str(u.get(k) or "") for k in ("product", "name", "description", "class")]
            text = " ".join(p for p in parts if p).strip()
            if u.get("video") is True:
                text += " (video)"
            if text:
                out.append(text[:200])
    return out


def active_tickets(s: Session, campus: str, device: str) -> list[KnownTicket]:
    """Active tickets naming the device: its own, and group tickets listing it as still affected."""
    own = s.scalars(
        select(Ticket)
        .where(Ticket.campus == campus, Ticket.device == device, Ticket.status.in_(ACTIVE_STATES))
        .order_by(Ticket.id)
    ).all()
    grouped = s.scalars(
        select(Ticket)
        .join(TicketDevice, TicketDevice.ticket_id == Ticket.id)
        .where(
            TicketDevice.campus == campus,
            TicketDevice.device == device,
            TicketDevice.recovered_at.is_(None),
            Ticket.status.in_(ACTIVE_STATES),
        )
        .order_by(Ticket.id)
    ).all()
    seen: set[int] = set()
    out = []
    for t in (*own, *grouped):
        if t.id not in seen:
            seen.add(t.id)
            out.append(KnownTicket(t.id, t.problem, t.subject, t.summary))
    return out


def facts_for(s: Session, asset: Asset, latest: LatestMetrics | None, now: float) -> LiveFacts:
    if not asset.link_campus or not asset.link_device:
        return LiveFacts()
    campus, device = asset.link_campus, asset.link_device
    dev = s.scalars(select(Device).where(Device.campus == campus, Device.device == device)).first()
    since = as_utc(dev.state_since) if dev is not None else None
    return LiveFacts(
        linked=True,
        state=dev.state if dev is not None else "unknown",
        state_age_s=None if since is None else max(0.0, now - since.timestamp()),
        tickets=active_tickets(s, campus, device),
        metrics=dict(latest.latest(campus, device, now)) if latest is not None else {},
        usb=usb_names(asset.inventory),
    )
