"""`pip install .` (not editable): the wheel holds campusmon.agent|server|probes and nothing else."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("agent", "server", "probes")


@pytest.mark.slow
def test_wheel_and_plain_install_hold_the_three_roles(tmp_path: Path) -> None:
    """`pip install .` (not editable) gives campusmon.agent|server|probes from the wheel's copies."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels)] + [str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(wheels.glob("campusmon-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for role in ROLES:
        assert f"campusmon/{role}/__init__.py" in names
    assert "campusmon/agent/collectors/cpu.py" in names
    assert "campusmon/server/migrations/script.py.mako" in names
    assert not any(n.startswith(("agent/", "server/", "probes/", "tests/")) for n in names)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import campusmon.agent.runner, campusmon.server.ingest, campusmon.probes.snmp\n"
        "for m in (campusmon.agent.runner, campusmon.server.ingest, campusmon.probes.snmp):\n"
        "    assert m.__file__.startswith(sys.argv[1]), m.__file__\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
