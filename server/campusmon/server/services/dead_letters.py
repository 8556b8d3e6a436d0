"""Dead letters: valid messages the database still refused, parked so ingest goes on (read only)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from ..db import Database, as_utc
from ..models import DeadLetter


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    id: int
    first_at: datetime | None
    last_at: datetime | None
    count: int
    topic: str
    payload_bytes: int
    payload: bytes
    error: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "first_at": _iso(self.first_at),
            "last_at": _iso(self.last_at),
            "count": self.count,
            "topic": self.topic,
            "payload_bytes": self.payload_bytes,
            "payload_base64": base64.b64encode(self.payload).decode("ascii"),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class DeadLetters:
    #: all parked messages
    total: int
    #: the newest ones, newest first
    newest: list[DeadLetterView]


def _iso(value: datetime | None) -> str | None:
    at = as_utc(value)
    return None if at is None else at.isoformat()


class DeadLetterService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def newest(self, limit: int = 100) -> DeadLetters:
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(DeadLetter)) or 0
            rows = s.scalars(select(DeadLetter).order_by(DeadLetter.last_at.desc()).limit(limit))
            views = [
                DeadLetterView(
                    d.id,
                    as_utc(d.first_at),
                    as_utc(d.last_at),
                    d.count,
                    d.topic,
                    d.payload_bytes,
                    bytes(d.payload),
                    d.error,
                )
                for d in rows
            ]
        return DeadLetters(total, views)
