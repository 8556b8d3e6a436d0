"""A command whose extra is not installed says which extra to install instead of a traceback."""

from __future__ import annotations

import subprocess
import sys

HIDE_AND_RUN = (
    "import sys\n"
    "sys.modules['sqlalchemy'] = None  # as on an agent-only install\n"
    "sys.argv = ['campusmon', 'tickets', 'list']\n"
    "from campusmon.cli import main\n"
    "main()\n"
)


def test_missing_server_extra_is_a_clear_error() -> None:
    out = subprocess.run([sys.executable, "-c", HIDE_AND_RUN], capture_output=True, text=True, check=False)
    assert out.returncode == 3
    assert "pip install 'campusmon[server]'" in out.stderr
    assert "Traceback" not in out.stderr
