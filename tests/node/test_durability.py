"""Blocks, receipts and state survive a restart and a kill -9 of the node process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from eth_account import Account

from node.testing import running_node
from tests.node.conftest import DEV_KEY, rpc, signed

REPO = Path(__file__).resolve().parents[2]
SENDERS = [
    Account.from_key(DEV_KEY),
    Account.from_key("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"),
]  # dev #1


def start_process(data_dir: Path, interval: float) -> tuple[subprocess.Popen[bytes], str]:
    endpoint = data_dir / "rpc.json"
    endpoint.unlink(missing_ok=True)
    env = {
        **os.environ,
        "SCF_NODE_DATA_DIR": str(data_dir),
        "SCF_NODE_PORT": "0",
        "SCF_NODE_DEV": "true",
        "SCF_NODE_MINING_INTERVAL_S": str(interval),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "node"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if endpoint.exists():
            info = json.loads(endpoint.read_text())
            if info["pid"] == proc.pid:
                return proc, info["http"]
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "died")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("node did not start")


def hammer(url: str, account, stop: threading.Event, seen: dict[str, str]) -> None:
    """Send transfers and record every receipt the node has returned."""
    nonce = 0
    session = requests.Session()
    while not stop.is_set():
        try:
            raw = signed(account, nonce, to="0x" + "42" * 20, value=1, gas=21000)
            sent = session.post(
                url,
                json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]},
                timeout=5,
            ).json()
            tx_hash = sent["result"]
            nonce += 1
            while not stop.is_set():
                receipt = session.post(
                    url,
                    json={
                        "jsonrpc": "2.0",
                        "id": 2,
                        "method": "eth_getTransactionReceipt",
                        "params": [tx_hash],
                    },
                    timeout=5,
                ).json()["result"]
                if receipt is not None:
                    seen[tx_hash] = receipt["blockHash"]
                    break
                time.sleep(0.01)
        except (requests.RequestException, KeyError, ValueError):
            return  # the node was killed


@pytest.mark.parametrize("interval", [0.0, 0.05])
def test_kill_9_under_load_loses_no_returned_receipt(tmp_path: Path, interval: float) -> None:
    proc, url = start_process(tmp_path, interval)
    seen: dict[str, str] = {}
    stop = threading.Event()
    threads = [threading.Thread(target=hammer, args=(url, a, stop, seen)) for a in SENDERS]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while len(seen) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        if proc.poll() is None:
            proc.kill()
    snapshot = dict(seen)
    assert len(snapshot) >= 20

    proc, url = start_process(tmp_path, interval)
    try:
        for tx_hash, block_hash in snapshot.items():
            receipt = rpc(url, "eth_getTransactionReceipt", tx_hash)["result"]
            assert receipt is not None, f"lost {tx_hash}"
            assert receipt["blockHash"] == block_hash and receipt["status"] == "0x1"
        # The restarted node keeps producing blocks on top of the recovered head.
        nonce = int(rpc(url, "eth_getTransactionCount", SENDERS[0].address, "pending")["result"], 16)
        sent = rpc(
            url, "eth_sendRawTransaction", signed(SENDERS[0], nonce, to="0x" + "42" * 20, value=1, gas=21000)
        )
        assert "result" in sent, sent
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_restart_keeps_blocks_state_and_logs(tmp_path: Path) -> None:
    account = SENDERS[0]
    with running_node(tmp_path) as node:
        for nonce in range(3):
            rpc(
                node.http_url,
                "eth_sendRawTransaction",
                signed(account, nonce, to="0x" + "42" * 20, value=5, gas=21000),
            )
        head = rpc(node.http_url, "eth_getBlockByNumber", "latest", False)["result"]
    with running_node(tmp_path) as node:
        again = rpc(node.http_url, "eth_getBlockByNumber", "latest", False)["result"]
        assert again == head
        assert rpc(node.http_url, "eth_getBalance", "0x" + "42" * 20)["result"] == hex(15)
        assert rpc(node.http_url, "eth_getTransactionCount", account.address)["result"] == "0x3"


def test_second_node_on_same_data_dir_is_refused(tmp_path: Path) -> None:
    from node.storage import DataDirLocked

    with running_node(tmp_path), pytest.raises(DataDirLocked), running_node(tmp_path):
        pass


def test_restart_with_other_chain_id_is_refused(tmp_path: Path) -> None:
    from node.errors import NodeError

    with running_node(tmp_path):
        pass
    with pytest.raises(NodeError, match="chain id"), running_node(tmp_path, chain_id=99):
        pass
