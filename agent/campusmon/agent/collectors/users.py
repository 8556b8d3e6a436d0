"""How many user sessions are logged in (a panel with nobody logged in shows 0)."""

from __future__ import annotations

from typing import ClassVar

from .base import PsutilLike, Sample


class UsersCollector:
    name: ClassVar[str] = "users"

    def __init__(self, ps: PsutilLike) -> None:
        self._ps = ps

    def collect(self) -> list[Sample]:
        sessions = self._ps.users()
        return [
            Sample("users_sessions_count", float(len(sessions))),
            Sample("users_distinct_count", float(len({u.name for u in sessions}))),
        ]
