"""Layout: agent/, server/, probes/ at the top, installed as campusmon.agent|server|probes; no links."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("agent", "server", "probes")
SKIP_DIRS = {".git", ".venv", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def packages_on_disk() -> set[str]:
    """Every folder holding an __init__.py, named as it is imported."""
    found: set[str] = set()
    bases = [(ROOT / "campusmon", "campusmon")] + [
        (ROOT / role / "campusmon" / role, f"campusmon.{role}") for role in ROLES
    ]
    for base, name in bases:
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            found.add(".".join((name, *rel)))
    return found


def test_every_package_is_listed_for_setuptools() -> None:
    tool = pyproject()["tool"]
    assert isinstance(tool, dict)
    listed = set(tool["setuptools"]["packages"])
    assert listed == packages_on_disk()


def test_each_role_maps_to_its_top_level_folder() -> None:
    tool = pyproject()["tool"]
    assert isinstance(tool, dict)
    mapping = tool["setuptools"]["package-dir"]
    assert mapping == {f"campusmon.{r}": f"{r}/campusmon/{r}" for r in ROLES}
    assert not (ROOT / "campusmon" / "agent").exists(), "the role packages live in their own folders"


def test_the_tree_holds_no_symbolic_link() -> None:
    links = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        links += [p for n in dirnames + filenames if (p := Path(dirpath, n)).is_symlink()]
    assert links == []


def test_git_tracks_no_symbolic_link() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-s"], check=True, capture_output=True, text=True
    ).stdout
    assert [line for line in out.splitlines() if line.startswith("120000")] == []
