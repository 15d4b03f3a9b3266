"""The Alembic revisions build exactly the schema the models declare, on SQLite and on PostgreSQL.

A failure here after a model change means: add a revision
(`alembic revision --autogenerate -m "..."` at the repository root) and commit it with the model.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel

from api.db import alembic_config, make_engine, upgrade
from tests.api.conftest import database_url

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """An empty database of each dialect; PostgreSQL gets a fresh database on the test server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        server = os.environ.get("SCF_TEST_DATABASE_URL", "")
        server = server if server.startswith("postgresql") else POSTGRES_URL
        host, port = make_url(server).host or "127.0.0.1", make_url(server).port or 5432
        if not _listening(host, port):
            pytest.skip(f"PostgreSQL: nothing listens on {host}:{port} (set SCF_TEST_DATABASE_URL)")
        monkeypatch.setenv("SCF_TEST_DATABASE_URL", server)
        url = database_url(tmp_path)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _differences(eng: Engine) -> list[object]:
    with eng.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))


def _tables(eng: Engine) -> set[str]:
    return set(inspect(eng).get_table_names()) - {"alembic_version"}


def test_migrations_match_models_on_upgrade_to_head(engine: Engine) -> None:
    upgrade(engine)
    assert _differences(engine) == []
    assert _tables(engine) == set(SQLModel.metadata.tables)


def test_migrations_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert _tables(engine) == set()
    upgrade(engine)
    assert _differences(engine) == []


def test_migrations_adopt_database_made_by_create_all_before_migrations(
    engine: Engine, tmp_path: Path
) -> None:
    # Which tables the baseline revision makes: everything a pre-migration database can hold.
    scratch = make_engine(f"sqlite:///{tmp_path / 'baseline.db'}")
    upgrade(scratch, "0001")
    baseline = _tables(scratch)
    scratch.dispose()
    older = baseline - {"idempotencyrecord"}  # a database made before one of the baseline's tables existed
    SQLModel.metadata.create_all(engine, tables=[SQLModel.metadata.tables[name] for name in older])
    upgrade(engine)
    assert _differences(engine) == []


def test_migrations_have_a_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"revisions branch: heads {heads}; give the newer one down_revision = the other"
