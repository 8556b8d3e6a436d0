"""Small durable agent state: the report sequence number survives restarts and power loss."""

from __future__ import annotations

import os
from pathlib import Path


class SeqCounter:
    """Monotonic per-device sequence; the next value is on disk (fsync'd) before a report uses it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._next = int(path.read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            self._next = 0
        except ValueError:
            # a torn write cannot happen (rename is atomic) but a hand-edited file can
            self._next = 0

    @property
    def peek(self) -> int:
        return self._next

    def take(self) -> int:
        value = self._next
        self._next += 1
        tmp = self._path.with_suffix(".tmp")
        with tmp.open("w", encoding="ascii") as fh:
            fh.write(str(self._next))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path)
        return value
