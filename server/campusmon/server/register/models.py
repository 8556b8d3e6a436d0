"""SQL model of the asset register: campus → building → room → asset, MACs, history, review list."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campusmon.server.models import Base

ASSET_TYPES = ("pc", "panel", "switch", "ap", "printer", "projector", "server", "camera", "other")
ASSET_STATUSES = ("in_use", "in_repair", "spare", "retired", "lost")
REVIEW_STATES = ("open", "merged", "dismissed")


class Campus(Base):
    __tablename__ = "reg_campuses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: the campus id devices report in MQTT topics (`main` for 主校区); agents' assets land here
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    buildings: Mapped[list[Building]] = relationship(back_populates="campus", order_by="Building.name")


class Building(Base):
    __tablename__ = "reg_buildings"
    __table_args__ = (UniqueConstraint("campus_id", "name", name="uq_reg_buildings_campus_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campus_id: Mapped[int] = mapped_column(ForeignKey("reg_campuses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    campus: Mapped[Campus] = relationship(back_populates="buildings", lazy="joined")
    rooms: Mapped[list[Room]] = relationship(back_populates="building", order_by="Room.name")


class Room(Base):
    __tablename__ = "reg_rooms"
    __table_args__ = (UniqueConstraint("building_id", "name", name="uq_reg_rooms_building_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("reg_buildings.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    building: Mapped[Building] = relationship(back_populates="rooms", lazy="joined")

    @property
    def path(self) -> str:
        """campus/building/room: how the CLI names a room."""
        return f"{self.building.campus.name}/{self.building.name}/{self.name}"


class Asset(Base):
    """One registered device. `campus`/`device` link it to the live device that reports as it."""

    __tablename__ = "reg_assets"
    __table_args__ = (
        Index("ix_reg_assets_link", "link_campus", "link_device"),
        Index("ix_reg_assets_serial", "serial"),
        Index("ix_reg_assets_smbios_uuid", "smbios_uuid"),
        Index("ix_reg_assets_type_status", "type", "status"),
        Index("ix_reg_assets_upstream", "link_campus", "upstream_switch"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_tag: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    type: Mapped[str] = mapped_column(String(16), default="other")
    vendor: Mapped[str] = mapped_column(String(100), default="")
    model: Mapped[str] = mapped_column(String(100), default="")
    serial: Mapped[str | None] = mapped_column(String(100))
    purchase_date: Mapped[date | None] = mapped_column(Date)
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    warranty_end: Mapped[date | None] = mapped_column(Date, index=True)
    department: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="in_use")
    campus_id: Mapped[int | None] = mapped_column(ForeignKey("reg_campuses.id"), index=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("reg_rooms.id"), index=True)
    position: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    os_family: Mapped[str] = mapped_column(String(32), default="")
    upstream_switch: Mapped[str] = mapped_column(String(64), default="")
    upstream_port: Mapped[str] = mapped_column(String(64), default="")
    #: "manual" (kept by an admin, never overwritten by learning) or "learned" (switch forwarding table)
    upstream_source: Mapped[str] = mapped_column(String(16), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    custom: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: the live device (MQTT campus/device) whose inventory this asset takes
    link_campus: Mapped[str | None] = mapped_column(String(64))
    link_device: Mapped[str | None] = mapped_column(String(64))
    smbios_uuid: Mapped[str | None] = mapped_column(String(64))
    board_serial: Mapped[str | None] = mapped_column(String(100))
    hostname: Mapped[str] = mapped_column(String(100), default="")
    #: deferred: lists and exports of thousands of assets never load the inventories
    inventory: Mapped[dict[str, Any] | None] = mapped_column(JSON, deferred=True)
    inventory_hash: Mapped[str | None] = mapped_column(String(100))
    inventory_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: lower-cased text the `--search` filter looks in (kept by the service on every change)
    search_text: Mapped[str] = mapped_column(Text, default="", deferred=True)
    #: set when this asset was merged into another one; it then stays only for its history
    merged_into: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    campus: Mapped[Campus | None] = relationship(lazy="joined")
    room: Mapped[Room | None] = relationship(lazy="joined")
    macs: Mapped[list[AssetMac]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="AssetMac.mac", lazy="selectin"
    )
    disks: Mapped[list[AssetDisk]] = relationship(cascade="all, delete-orphan", order_by="AssetDisk.serial")


class AssetMac(Base):
    __tablename__ = "reg_asset_macs"
    __table_args__ = (UniqueConstraint("asset_id", "mac", name="uq_reg_asset_macs_asset_mac"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("reg_assets.id", ondelete="CASCADE"), index=True)
    #: lower case, colon separated: aa:bb:cc:dd:ee:ff
    mac: Mapped[str] = mapped_column(String(17), index=True)
    asset: Mapped[Asset] = relationship(back_populates="macs")


class AssetDisk(Base):
    """Serial of a disk the device reported: evidence for matching after a motherboard swap."""

    __tablename__ = "reg_asset_disks"
    __table_args__ = (UniqueConstraint("asset_id", "serial", name="uq_reg_asset_disks_asset_serial"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("reg_assets.id", ondelete="CASCADE"), index=True)
    serial: Mapped[str] = mapped_column(String(100), index=True)


class AssetHistory(Base):
    """Append-only: every change of an asset, manual or detected (who, when, field, old → new)."""

    __tablename__ = "reg_asset_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("reg_assets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: "user:alice", "agent:main/lab301-pc07", "probe:main/sw-a1", "import:assets.csv"
    actor: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(100))
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)


class AssetReview(Base):
    """An uncertain match the server would not decide alone: an admin merges or dismisses it."""

    __tablename__ = "reg_asset_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("reg_assets.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("reg_assets.id", ondelete="CASCADE"))
    score: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
