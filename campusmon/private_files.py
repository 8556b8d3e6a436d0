"""Private by default: data and state directories 0700, databases, queues and keys 0600.

Reports, the register, tickets and credentials are nobody else's business on a shared PC or server,
with or without Ansible. New files and directories are created private; existing ones that others
can read are made private when a program starts, with a log line. POSIX only: on Windows the
ProgramData ACLs decide. Standard library only, so the agent can use it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Final

_log = logging.getLogger(__name__)

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600
#: the files SQLite keeps next to a database in WAL mode
SQLITE_SIDE_FILES: Final = ("-wal", "-shm", "-journal")
_POSIX: Final = os.name == "posix"


def tighten(path: Path, mode: int) -> bool:
    """Take away from `path` every permission `mode` does not have; True when something changed."""
    if not _POSIX:
        return False
    st = os.stat(path, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        return False  # the link's target is someone else's file: leave it
    old = stat.S_IMODE(st.st_mode)
    if not old & ~mode:
        return False
    try:
        os.chmod(path, old & mode)
    except PermissionError as exc:  # someone else's file we may use: say so, and go on
        _log.warning("%s is open to other users (mode %03o) and cannot be made private: %s", path, old, exc)
        return False
    _log.warning("%s was open to other users (mode %03o): now %03o", path, old, old & mode)
    return True


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as a private directory, or make the existing one private.

    Raises NotADirectoryError (an OSError) with a clear message when `path` is a file.
    """
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file, not a directory")
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tighten(path, DIR_MODE)
    return path


def private_file(path: Path, *, sqlite: bool = False) -> Path:
    """Create `path` empty and private if missing, or make it private (and SQLite's side files)."""
    if _POSIX:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
        os.close(fd)
    else:
        path.touch(exist_ok=True)
    tighten(path, FILE_MODE)
    if sqlite:
        for suffix in SQLITE_SIDE_FILES:
            side = path.with_name(path.name + suffix)
            if side.exists():
                tighten(side, FILE_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data` in a 0600 file (fsync'd before the rename)."""
    tmp = path.with_name(path.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(tmp, flags, FILE_MODE), "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if _POSIX:
        os.chmod(tmp, FILE_MODE)  # a leftover .tmp from an older version may have been 0644
    os.replace(tmp, path)
