"""The inspections migration creates exactly what the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from campusmon.server.db import MIGRATIONS, Database
from campusmon.server.inspections import models as _inspection_models  # noqa: F401  (tables on Base)
from campusmon.server.models import Base
from tests.support.databases import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    with fresh_database(request.param, tmp_path, url) as database:
        yield database


def test_models_and_migration_agree_and_downgrade_removes_them(db: Database) -> None:
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "insp_" in repr(d) or "'tickets'" in repr(d)] == []
    source = next(c for c in inspect(db.engine).get_columns("tickets") if c["name"] == "source")
    assert "automatic" in str(source["default"])
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0030")
    assert not {t for t in inspect(db.engine).get_table_names() if t.startswith("insp_")}
    assert "source" not in {c["name"] for c in inspect(db.engine).get_columns("tickets")}
