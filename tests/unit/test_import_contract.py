"""The import contract ([tool.importlinter] in pyproject.toml) holds on the tree, and breaks when a
forbidden import is added: the check can fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.import_contract import ROLES

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "templates", "static", "locale", "migrations")


def lint(root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.support.import_contract", "--root", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def copy_tree(to: Path) -> Path:
    """The sources and pyproject.toml only: enough for import-linter."""
    shutil.copytree(ROOT / "campusmon", to / "campusmon", ignore=SKIP)
    for role in ROLES:
        shutil.copytree(ROOT / role / "campusmon", to / role / "campusmon", ignore=SKIP)
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")
    return to


def test_the_tree_keeps_every_contract() -> None:
    out = lint()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout
    # every role is in the graph (a layout the linter cannot see would pass vacuously)
    for kept in ("the agent imports only the core KEPT", "the CLI calls services: no SQL in it KEPT"):
        assert kept in out.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken", "count"),
    [
        # the probe runner reaching into the server's database
        ("probes/campusmon/probes/result.py", "import campusmon.server.db", "never the server BROKEN", 1),
        # the server using an agent internal
        ("server/campusmon/server/tickets.py", "import campusmon.agent.wire", "never the agent", 1),
        # a query written in the CLI
        ("campusmon/cli/tickets_cmd.py", "import sqlalchemy", "no SQL in it BROKEN", 1),
        # a role importing the CLI (the server's own contract forbids it too: 2 broken)
        (
            "server/campusmon/server/rules.py",
            "import campusmon.cli.output",
            "nothing imports the CLI (the entry points start it) BROKEN",
            2,
        ),
        # ... which the server's own contract forbids too
        # the agent loading a server library
        ("agent/campusmon/agent/report.py", "import sqlalchemy", "imports only the core BROKEN", 1),
    ],
)
def test_a_forbidden_import_breaks_the_contract(
    tmp_path: Path, module: str, line: str, broken: str, count: int
) -> None:
    tree = copy_tree(tmp_path)
    target = tree / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # forbidden\n", encoding="utf-8")
    out = lint(tree)
    assert out.returncode != 0, out.stdout
    assert broken in out.stdout.replace("\n", " "), out.stdout
    assert f"{count} broken" in out.stdout
