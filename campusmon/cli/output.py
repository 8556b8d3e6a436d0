"""Files the CLI writes for a person (`--out`): never through a symlink, never over a file unasked.

The content goes to a temporary file in the target directory first (created exclusively, links not
followed) and takes the target's name only when complete, so a full disk or an error half-way
leaves no half-written export behind. `force` allows replacing an existing regular file (the
replacement is atomic); a device such as /dev/stdout is written in place, and only with `force`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

T = TypeVar("T")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class OutputError(OSError):
    """The output file cannot be written; the message says why and what would work."""


def _why(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"cannot write {path}: no space left on the device"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot write {path}: permission denied"
    return f"cannot write {path}: {exc.strerror or exc}"


def write_output(path: Path, write: Callable[[BinaryIO], T], *, force: bool = False) -> T:
    """Call `write` with a binary file for `path`; see the module docstring for the rules."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(_why(path, exc)) from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(f"{path} is a symbolic link: not followed; give the real path")
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{path} is a directory; give a file name")
        if not force:
            raise OutputError(f"{path} exists; use --force to replace it")
        if not stat.S_ISREG(st.st_mode):  # a device or a pipe: written in place
            try:
                with open(os.open(path, os.O_WRONLY | _NOFOLLOW | _BINARY), "wb") as fh:
                    return write(fh)
            except OSError as exc:
                raise OutputError(_why(path, exc)) from None
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: directory {parent} does not exist")
    tmp = parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o666)
        try:
            with open(fd, "wb") as fh:
                result = write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            _publish(tmp, path, force)
        finally:
            if tmp.exists():
                tmp.unlink()
    except FileExistsError:
        raise OutputError(f"{path} exists; use --force to replace it") from None
    except OSError as exc:
        raise OutputError(_why(path, exc)) from None
    return result


def _publish(tmp: Path, path: Path, force: bool) -> None:
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if the name was taken meanwhile: nothing is ever overwritten
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links (FAT, some network shares)
        if os.name == "nt":
            os.rename(tmp, path)  # refuses an existing target on Windows
        elif path.exists() or path.is_symlink():
            raise FileExistsError(path) from None
        else:
            os.replace(tmp, path)
