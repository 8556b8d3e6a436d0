"""The console's migration creates exactly what its models describe, and downgrades cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from campusmon.server.db import MIGRATIONS
from campusmon.server.models import Base
from tests.support.databases import fresh_database


def test_console_tables_and_ticket_columns_match_the_models(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as db:
        with db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        ours = [d for d in diffs if "web_" in repr(d) or "'tickets'" in repr(d)]
        assert ours == []
        assert {"source", "assignee"} <= {c["name"] for c in inspect(db.engine).get_columns("tickets")}
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0030")
        tables = set(inspect(db.engine).get_table_names())
        assert not {t for t in tables if t.startswith("web_")}
        assert "source" not in {c["name"] for c in inspect(db.engine).get_columns("tickets")}
