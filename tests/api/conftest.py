"""An embedded node with the suite deployed, and the API over it (real HTTP stack, real database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from api.app import create_app
from api.custody import MasterKey
from api.settings import ApiSettings
from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite, predicted_registry_address
from chain.devnet import dev_account, dev_credit_code
from node.testing import RunningNode, running_node

OPERATOR_TOKEN = "scf_operator0_" + "o" * 43


@dataclass
class Network:
    node: RunningNode
    client: TestClient
    settings: ApiSettings

    def as_(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def rpc(self, method: str, params: list[object]) -> object:
        return self.client.app.state.runtime.client.w3.provider.make_request(method, params)  # type: ignore[attr-defined]


# The PostgreSQL databases made for the running test, by its tmp_path: (server URL, database name).
_test_databases: dict[Path, tuple[URL, str]] = {}


def _server(url: URL) -> psycopg.Connection:
    """An autocommit connection to the server's maintenance database (CREATE/DROP DATABASE)."""
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(conninfo, autocommit=True)


def database_url(tmp_path: Path) -> str:
    """SQLite by default; with SCF_TEST_DATABASE_URL on a PostgreSQL server, a fresh database per test."""
    url = os.environ.get("SCF_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'api.db'}"
    server = make_url(url)
    if server.get_backend_name() != "postgresql":
        return url
    if tmp_path not in _test_databases:
        name = f"scf_test_{uuid.uuid4().hex}"
        with _server(server) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        _test_databases[tmp_path] = (server, name)
    return server.set(database=_test_databases[tmp_path][1]).render_as_string(hide_password=False)


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """Drop the PostgreSQL databases a test made, after its other fixtures have closed their engines."""
    yield
    while _test_databases:
        _, (server, name) = _test_databases.popitem()
        with _server(server) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture()
def network(tmp_path: Path) -> Iterator[Network]:
    operator = dev_account("operator")
    registry = predicted_registry_address(operator.address)
    with running_node(tmp_path, operator_address=operator.address, registry_address=registry) as node:
        chain = ChainClient.connect(node.http_url, poll_interval_s=0.01)
        deployment = deploy_suite(
            chain, operator, SuiteParams(operator_credit_code=dev_credit_code("operator"))
        )
        manifest = tmp_path / "deployment.json"
        deployment.write(manifest)
        settings = ApiSettings(
            database_url=database_url(tmp_path),
            rpc_url=node.http_url,
            manifest_path=manifest,
            data_dir=tmp_path / "data",
            master_key=MasterKey.generate(),
            operator_key=operator.key.to_0x_hex(),
            bootstrap_token=OPERATOR_TOKEN,
            relay_poll_s=0.01,
            indexer_poll_s=0.02,
        )
        with TestClient(create_app(settings)) as client:
            yield Network(node=node, client=client, settings=settings)
