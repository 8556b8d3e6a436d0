"""Refuse and record every file write outside one directory (Python audit hooks, PEP 578).

`guard(root)` in the test process (the hook stays installed, and is idle outside `guard`); `WRAPPER`
runs `campusmon` in a subprocess under the same hook, writing what it refused to `$AUDIT_LOG`. A
refused write raises PermissionError in the code that tried it, so nothing lands outside `root`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
#: audit events that change the file system, and which arguments are paths
_PATH_EVENTS = {
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.symlink": (1,),
    "os.link": (1,),
    "os.truncate": (0,),
    "os.utime": (0,),
    "sqlite3.connect": (0,),
    "shutil.copyfile": (1,),
    "shutil.rmtree": (0,),
}
_FREE = ("/dev/null", "/dev/tty", "/dev/stdout", "/dev/stderr")


def written_paths(event: str, args: tuple[Any, ...]) -> list[Any]:
    """The paths an audit event writes to (empty for reads and for events that write nothing)."""
    if event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        return [path] if writes and isinstance(path, str | bytes | os.PathLike) else []
    idx = _PATH_EVENTS.get(event)
    if idx is None:
        return []
    out = []
    for i in idx:
        if i < len(args) and isinstance(args[i], str | bytes | os.PathLike):
            out.append(args[i])
    return out


def outside(path: Any, root: str) -> str | None:
    """The absolute path when it is outside `root` (and not a byte-code cache or a device), else None."""
    p = os.fsdecode(path)
    if p in ("", ":memory:") or p.startswith("file::memory:"):
        return None
    full = os.path.realpath(p)
    if full.startswith(_FREE) or "__pycache__" in full or full.endswith(".pyc"):
        return None
    return None if full == root or full.startswith(root + os.sep) else full


_state: dict[str, Any] = {"root": None, "seen": None, "installed": False}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    root = _state["root"]
    if root is None:
        return
    for path in written_paths(event, args):
        bad = outside(path, root)
        if bad is not None:
            _state["seen"].append(f"{event} {bad}")
            raise PermissionError(f"test guard: write outside {root}: {bad}")


@contextmanager
def guard(root: Path) -> Iterator[list[str]]:
    """Within the block, writes outside `root` are refused; the list collects them."""
    if not _state["installed"]:
        sys.addaudithook(_hook)
        _state["installed"] = True
    seen: list[str] = []
    _state["root"], _state["seen"] = os.path.realpath(root), seen
    try:
        yield seen
    finally:
        _state["root"] = _state["seen"] = None


#: python -c WRAPPER campusmon-args…: the CLI under the hook; refusals go to $AUDIT_LOG (one a line)
WRAPPER = """
import os, sys
from tests.support import write_audit as w
root, log = os.path.realpath(os.environ["AUDIT_ROOT"]), os.environ["AUDIT_LOG"]
def hook(event, args):
    for path in w.written_paths(event, args):
        bad = w.outside(path, root)
        if bad is not None and bad != os.path.realpath(log):
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(fd, f"{event} {bad}\\n".encode())
            os.close(fd)
            raise PermissionError(f"test guard: write outside {root}: {bad}")
sys.addaudithook(hook)
sys.argv = ["campusmon", *sys.argv[1:]]
from campusmon.cli import main
main()
"""
