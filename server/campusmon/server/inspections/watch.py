"""The server's periodic look for overdue inspections (a reminder ticket each, notified as usual)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from .service import InspectionService

_log = logging.getLogger(__name__)


class OverdueWatcher:
    """Runs `check_overdue` every `every_s` seconds on its own thread; `after` runs when tickets
    were opened (the server wakes its notification senders there)."""

    def __init__(
        self, service: InspectionService, every_s: float, after: Callable[[], None] | None = None
    ) -> None:
        self.service = service
        self.every_s = every_s
        self.after = after
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inspections", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def check(self) -> list[int]:
        try:
            opened = self.service.check_overdue()
        except (OperationalError, sqlite3.OperationalError) as exc:
            _log.warning("overdue inspections not checked (database unavailable): %s", exc)
            return []
        self.runs += 1
        if opened and self.after is not None:
            self.after()
        return opened

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.every_s)
