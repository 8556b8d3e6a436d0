"""The report sequence number of one device: monotonic, and it survives restarts and power loss.

The agent numbers its reports with it, and the probe runner numbers each target's (docs/protocol.md,
`seq`): the server tells a restart from a replay or a gap by it.
"""

from __future__ import annotations

from pathlib import Path

from campusmon.private_files import private_dir, write_private


class SeqCounter:
    """Monotonic per-device sequence; the next value is on disk (fsync'd) before a report uses it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        private_dir(path.parent)
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
        write_private(self._path, str(self._next).encode("ascii"))
        return value
