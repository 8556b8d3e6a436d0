"""Alembic environment: campusmon passes its own connection (server/db.py: migrate)."""

from __future__ import annotations

from alembic import context

from campusmon.server import console_models as _console_models  # noqa: F401  (tables on Base)
from campusmon.server.inspections import models as _inspection_models  # noqa: F401  (tables on Base)
from campusmon.server.models import Base
from campusmon.server.register import models as _register_models  # noqa: F401  (tables on Base)

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` command line: use the URL from alembic.ini
    from sqlalchemy import engine_from_config, pool

    connectable = engine_from_config(
        context.config.get_section(context.config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
