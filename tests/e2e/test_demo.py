"""`scf demo` end to end: the whole reference story, as a new user would run it.

Once on the embedded defaults (our node, the embedded broker, SQLite), once on the production
shape of the parts (anvil, a Mosquitto of our own, PostgreSQL) in a kept data dir. Each starts `scf up` in a
subprocess, runs all 12 steps through the API and MQTT, and stops the network.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from iot_gateway.broker import free_port, wait_for_port
from iot_gateway.mosquitto import MOSQUITTO

pytestmark = pytest.mark.xdist_group("e2e")

ROOT = Path(__file__).resolve().parents[2]
ALL_STEPS = "The story ran as written: steps 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12."


def demo(*args: str, timeout_s: float = 420) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", "demo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), 2).close()
        return True
    except OSError:
        return False


def test_demo_on_embedded_defaults() -> None:
    result = demo()  # as `make demo` runs it: a throw-away network on the embedded defaults
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout
    assert ALL_STEPS in out
    for refusal in (
        "refused (409 duplicate_invoice)",
        "refused (422 split_sum_mismatch)",
        "GoodsOracleQuorumNotMet(signatures=1, quorum=2)",
    ):
        assert refusal in out
    assert "the lot is in ALERT" in out and "Bank B was told" in out
    assert "Gateway dropped them: bad_signature 1, replay 1" in out
    assert "the altered row is reported" in out
    assert "moved the dev chain 91 days on" in out  # repaid at maturity, not early


@pytest.fixture()
def mosquitto(tmp_path: Path) -> Iterator[str]:
    if not (Path(MOSQUITTO).exists() or shutil.which(MOSQUITTO)):
        pytest.skip("Mosquitto is not installed")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n")
    process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        wait_for_port("127.0.0.1", port, 10)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture()
def postgres_url() -> Iterator[str]:
    if not _listening("127.0.0.1", 5432):
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    name = f"scf_e2e_{uuid.uuid4().hex}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_demo_on_anvil_mosquitto_and_postgres(tmp_path: Path, mosquitto: str, postgres_url: str) -> None:
    result = demo(
        "--data-dir",
        str(tmp_path / "net"),
        "--chain",
        "anvil",
        "--mqtt",
        mosquitto,
        "--database-url",
        postgres_url,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert ALL_STEPS in result.stdout
    assert "the altered row is reported" in result.stdout  # tampering in PostgreSQL is caught too
    assert "repays before maturity" in result.stdout  # a kept data dir: the clock stays put
