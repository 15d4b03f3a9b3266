"""A third-party client: foundry's cast against the node."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from node.testing import RunningNode
from tests.node import bytecode
from tests.node.conftest import DEV_KEY

CAST = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "cast"

pytestmark = pytest.mark.skipif(not CAST.exists(), reason="cast not installed (npm ci)")


def cast(*args: str) -> str:
    done = subprocess.run([str(CAST), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_cast_block_number_send_call_receipt_logs(node: RunningNode) -> None:
    url = node.http_url
    assert cast("block-number", "--rpc-url", url) == "0"
    assert cast("chain-id", "--rpc-url", url) == "1337"

    deployed = json.loads(
        cast(
            "send",
            "--rpc-url",
            url,
            "--private-key",
            DEV_KEY,
            "--json",
            "--create",
            "0x" + bytecode.deployer(bytecode.registry_runtime()).hex(),
        )
    )
    registry = deployed["contractAddress"]
    member = "0x" + "5a" * 20
    sent = json.loads(
        cast(
            "send",
            "--rpc-url",
            url,
            "--private-key",
            DEV_KEY,
            "--json",
            registry,
            "setActive(address,bool)",
            member,
            "true",
        )
    )
    assert sent["status"] == "0x1"
    assert cast("call", "--rpc-url", url, registry, "isActive(address)(bool)", member) == "true"
    assert cast("call", "--rpc-url", url, registry, "isActive(address)(bool)", "0x" + "00" * 20) == "false"

    receipt = json.loads(cast("receipt", "--rpc-url", url, "--json", sent["transactionHash"]))
    assert receipt["blockNumber"] == "0x2" and receipt["to"].lower() == registry.lower()

    emitter = json.loads(
        cast(
            "send",
            "--rpc-url",
            url,
            "--private-key",
            DEV_KEY,
            "--json",
            "--create",
            "0x" + bytecode.deployer(bytecode.emitter_runtime()).hex(),
        )
    )["contractAddress"]
    cast("send", "--rpc-url", url, "--private-key", DEV_KEY, emitter, "0x" + (99).to_bytes(32, "big").hex())
    logs = json.loads(
        cast("logs", "--rpc-url", url, "--json", "--from-block", "0", "--address", emitter, "Ping(uint256)")
    )
    assert len(logs) == 1
    assert int(logs[0]["data"], 16) == 99
    assert logs[0]["topics"][0] == "0x" + bytecode.PING_TOPIC.hex()
