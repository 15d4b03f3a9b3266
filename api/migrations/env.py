"""Alembic environment: the target is SQLModel.metadata; the database comes from the caller.

`api.db.upgrade` passes an open connection in `config.attributes["connection"]`; the `alembic`
command line (alembic.ini at the repository root) falls back to `sqlalchemy.url`, then to
`ApiSettings().database_url` (SCF_API_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.operations import ops
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

import api.models  # noqa: F401 - registers the tables on SQLModel.metadata

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render sqlmodel's column types as the plain types they create, so revisions need only sa."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def baseline_creates_what_is_missing(_context: Any, _revision: Any, directives: list[Any]) -> None:
    """Make the first revision CREATE ... IF NOT EXISTS, so databases `create_all` made adopt it."""
    if context.script.get_current_head() is not None:
        return
    upgrade_ops = directives[0].upgrade_ops
    flat: list[ops.MigrateOperation] = []
    for op in upgrade_ops.ops:
        flat.extend(op.ops if isinstance(op, ops.ModifyTableOps) else [op])
    for op in flat:
        if isinstance(op, ops.CreateTableOp | ops.CreateIndexOp):
            op.if_not_exists = True
    upgrade_ops.ops = flat


def configure(connection: Connection) -> None:
    """Settings shared by running and autogenerating; batch mode lets revisions alter SQLite tables."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        render_item=render_item,
        compare_type=True,
        process_revision_directives=baseline_creates_what_is_missing,
    )


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from api.settings import ApiSettings

    return ApiSettings().database_url


def run_offline() -> None:
    """Emit SQL for `alembic upgrade --sql` without a database."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from api.db import make_engine

    engine = make_engine(database_url())
    try:
        with engine.connect() as conn:
            configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
