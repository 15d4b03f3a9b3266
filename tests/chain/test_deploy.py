"""`scf deploy` against a real anvil node: suite deployed, operator admitted, manifest written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from chain.anvil import ANVIL_DEV_KEY, running_anvil
from chain.client import ChainClient
from chain.devnet import dev_credit_code
from chain.identifiers import credit_code_bytes32
from chain.manifest import Deployment
from chain.roles import Role
from contracts.artifacts import build_info


def _scf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_deploy_cli_writes_manifest_and_admits_operator(tmp_path: Path) -> None:
    key_file = tmp_path / "operator.key"
    key_file.write_text(ANVIL_DEV_KEY)
    code = dev_credit_code("anvil-operator")
    out = tmp_path / "deployment.json"
    with running_anvil() as anvil:
        result = _scf(
            "deploy",
            "--rpc",
            anvil.url,
            "--key-file",
            str(key_file),
            "--operator-credit-code",
            code,
            "--out",
            str(out),
        )
        assert result.returncode == 0, result.stderr
        deployment = Deployment.read(out)
        assert deployment.chain_id == anvil.chain_id
        assert deployment.build_hash == build_info()["buildHash"]
        assert set(deployment.contracts) == {
            "MemberRegistry",
            "SettlementToken",
            "Receivables",
            "GoodsOracle",
            "WarehouseReceipts",
        }
        assert json.loads(result.stdout) == deployment.contracts

        client = ChainClient.connect(anvil.url)
        registry = client.contract("MemberRegistry", deployment.address("MemberRegistry"))
        operator = Account.from_key(ANVIL_DEV_KEY).address
        assert deployment.operator == operator
        assert registry.functions.memberOf(operator).call() == [1, int(Role.OPERATOR)]
        assert registry.functions.orgIdOf(credit_code_bytes32(code)).call() == 1
        receivables = client.contract("Receivables", deployment.address("Receivables"))
        assert receivables.functions.registry().call() == registry.address
        assert receivables.functions.settlementToken().call() == deployment.address("SettlementToken")
        oracle = client.contract("GoodsOracle", deployment.address("GoodsOracle"))
        assert oracle.functions.parameters().call()[2] == deployment.address("WarehouseReceipts")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--operator-credit-code", "91350100M000100Y43"], "need --key-file"),
        (["--key-file", "KEY", "--operator-credit-code", "91350100M000100Y44"], "invalid_credit_code"),
    ],
)
def test_deploy_cli_refuses_bad_operator_input(tmp_path: Path, args: list[str], message: str) -> None:
    key_file = tmp_path / "operator.key"
    key_file.write_text(ANVIL_DEV_KEY)
    args = [str(key_file) if a == "KEY" else a for a in args]
    result = _scf("deploy", "--rpc", "http://127.0.0.1:9", *args, "--out", str(tmp_path / "m.json"))
    assert result.returncode == 2
    assert message in result.stderr.replace("\n", " ")
    assert not (tmp_path / "m.json").exists()
