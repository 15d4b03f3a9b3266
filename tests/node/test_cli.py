"""`scf node`: flags mirror NodeSettings, unset ones fall back to SCF_NODE_* variables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from scripts.cli import app
from tests.node.conftest import rpc

REPO = Path(__file__).resolve().parents[2]
OPERATOR = "0x" + "a1" * 20


def scf_node(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "node", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_scf_node_serves_with_flags_and_env_fallback(tmp_path: Path) -> None:
    args = ["--port", "0", "--data-dir", str(tmp_path), "--chain-id", "4242", "--operator", OPERATOR]
    process = scf_node(*args, "--no-dev", env={"SCF_NODE_MINING_INTERVAL_S": "0.05", "SCF_NODE_DEV": "true"})
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "rpc.json").exists():
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "node did not start"
            time.sleep(0.05)
        url = json.loads((tmp_path / "rpc.json").read_text())["http"]
        assert rpc(url, "eth_chainId")["result"] == hex(4242)
        assert rpc(url, "eth_getBalance", OPERATOR, "latest")["result"] != "0x0"  # funded at genesis
        assert rpc(url, "eth_accounts")["error"]["code"] == -32601  # --no-dev beat SCF_NODE_DEV
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_scf_node_rejects_invalid_settings(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["node", "--port", "0", "--data-dir", str(tmp_path), "--operator", "0x1234"]
    )
    assert result.exit_code == 2
    assert "invalid node settings" in result.output
    assert not (tmp_path / "chain").exists()
