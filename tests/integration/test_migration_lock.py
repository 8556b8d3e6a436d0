"""Several processes open the same empty database at once (a server and CLI commands at first start):
the schema is created once, under a lock (a file lock for SQLite, an advisory lock on PostgreSQL), and
none of them fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from campusmon.server.db import Database

OPEN = "import sys; from campusmon.server.db import Database; Database(sys.argv[1]).dispose(); print('ok')"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_first_opens_migrate_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres") if backend == "postgresql" else f"sqlite:///{tmp_path}/d/c.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for _ in range(6)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "ok", err[-3000:]
        assert "Traceback" not in err
    db = Database(url, run_migrations=False)
    try:
        assert {"devices", "tickets", "alembic_version"} <= set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()
    if backend == "sqlite":
        lock = tmp_path / "d" / "c.db.migrate-lock"
        assert lock.exists() and lock.stat().st_mode & 0o777 == 0o600
