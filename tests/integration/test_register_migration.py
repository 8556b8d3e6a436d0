"""The register's migration creates exactly what the models describe, and downgrades cleanly."""

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
from campusmon.server.models import Base
from tests.support.databases import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    with fresh_database(request.param, tmp_path, url) as database:
        yield database


def test_models_and_migration_agree_and_downgrade_removes_the_register(db: Database) -> None:
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    register_diffs = [d for d in diffs if "reg_" in repr(d)]
    assert register_diffs == []
    # the last inventory lives in the register only: the devices table no longer keeps a copy
    assert [d for d in diffs if "'devices'" in repr(d)] == []
    columns = {c["name"] for c in inspect(db.engine).get_columns("devices")}
    assert not {"inventory", "inventory_hash"} & columns
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    tables = set(inspect(db.engine).get_table_names())
    assert not {t for t in tables if t.startswith("reg_")}
    assert "devices" in tables
