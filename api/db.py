"""Database engine and sessions (SQLite by default, PostgreSQL supported)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

import api.models  # noqa: F401 - registers the tables on SQLModel.metadata


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL and a busy timeout so the relay, indexer and API share it."""
    if url.startswith("sqlite"):
        # A SQLite connection is a file handle: never make a request wait for one. 32 are kept open;
        # beyond that (a burst) more are opened and closed again. Above all, a checkout on the event
        # loop (api.deps authenticates there) can never block behind requests that hold connections.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=32, max_overflow=-1
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


# The first revision creates only missing tables and indexes: databases made by `create_all`
# before there were migrations adopt it on their first upgrade.
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """Alembic configured in code, so migrations run from an installed package without alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(target: Engine | str, revision: str = "head") -> None:
    """Migrate the database (an engine or a URL) to `revision`, the newest by default."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
