"""Recorded file trees that hold symbolic links (a /sys tree), built once per test process.

The repository holds no links: each tree's links are listed in `<tree>.links` beside it and made in
a temporary copy."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agent"


def materialize(name: str, dest: Path) -> Path:
    """Copy fixture tree `name` to `dest` and create the links its manifest lists; returns `dest`."""
    shutil.copytree(FIXTURES / name, dest)
    manifest = FIXTURES / f"{name}.links"
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        link, _, target = (part.strip() for part in line.partition(" -> "))
        path = dest / link
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
    return dest


@functools.cache
def linux_panel_root() -> Path:
    """The recorded Linux panel (/sys, /proc, /etc), links made; shared read-only by the tests."""
    base = Path(tempfile.mkdtemp(prefix="campusmon-fixture-"))
    atexit.register(shutil.rmtree, base, True)
    return materialize("linux-panel", base / "linux-panel")
