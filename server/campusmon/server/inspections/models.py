"""SQL model of inspections: each round, its checklist lines, and the last/next dates per room and asset."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campusmon.server.models import Base

INSPECTION_STATES = ("in_progress", "done")
ITEM_RESULTS = ("pending", "pass", "fail", "skip")


class Inspection(Base):
    """One round of one plan in one room (or at one asset)."""

    __tablename__ = "insp_inspections"
    __table_args__ = (
        Index("ix_insp_inspections_target", "plan", "target", "status"),
        Index("ix_insp_inspections_finished_at", "finished_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan: Mapped[str] = mapped_column(String(64))
    #: "room:<id>" or "asset:<id>"
    target: Mapped[str] = mapped_column(String(40))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("reg_rooms.id", ondelete="SET NULL"))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("reg_assets.id", ondelete="SET NULL"))
    #: campus/building/room (and asset) as it was named then, kept if the room is renamed
    place: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    #: the day it was due when it was started (None: not due yet, done early)
    due_on: Mapped[date | None] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_by: Mapped[str] = mapped_column(String(100))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_by: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    items: Mapped[list[InspectionItem]] = relationship(
        back_populates="inspection", order_by="InspectionItem.position", cascade="all, delete-orphan"
    )


class InspectionItem(Base):
    """One checklist line for one device of the round (or for the room itself)."""

    __tablename__ = "insp_items"
    __table_args__ = (
        UniqueConstraint("inspection_id", "asset_id", "key", name="uq_insp_items_inspection_asset_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(
        ForeignKey("insp_inspections.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("reg_assets.id", ondelete="SET NULL"))
    #: asset tag or name, as shown to the technician
    asset_label: Mapped[str] = mapped_column(String(200), default="")
    device_type: Mapped[str] = mapped_column(String(16), default="")
    #: the live device (MQTT campus/device) tickets are about; empty when the asset reports nothing
    link_campus: Mapped[str] = mapped_column(String(64), default="")
    link_device: Mapped[str] = mapped_column(String(64), default="")
    key: Mapped[str] = mapped_column(String(64))
    label_zh: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200), default="")
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    #: what live data suggested (pass / fail / None) and why
    prefill: Mapped[str | None] = mapped_column(String(8))
    evidence: Mapped[str] = mapped_column(Text, default="")
    #: the open ticket the live data knew about
    known_ticket_id: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(8), default="pending")
    note: Mapped[str] = mapped_column(Text, default="")
    #: where the photo is kept (a path or URL the console stored)
    photo: Mapped[str] = mapped_column(String(500), default="")
    recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(100), default="")
    #: the ticket a failed item opened or added a note to
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    inspection: Mapped[Inspection] = relationship(back_populates="items")


class InspectionMark(Base):
    """Last and next inspection date of one room or asset under one plan (stamped on finishing)."""

    __tablename__ = "insp_marks"
    __table_args__ = (UniqueConstraint("plan", "target", name="uq_insp_marks_plan_target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(40))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("reg_rooms.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("reg_assets.id", ondelete="CASCADE"), index=True)
    last_done_on: Mapped[date] = mapped_column(Date)
    last_inspection_id: Mapped[int | None] = mapped_column(
        ForeignKey("insp_inspections.id", ondelete="SET NULL")
    )
    next_due_on: Mapped[date] = mapped_column(Date, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
