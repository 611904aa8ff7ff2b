"""Alembic environment: runs migrations on the connection carnet hands over."""

from __future__ import annotations

from alembic import context

from carnet.store.sql.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # command-line alembic: build an engine from the ini URL
    from sqlalchemy import create_engine

    connection = create_engine(config.get_main_option("sqlalchemy.url") or "").connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
