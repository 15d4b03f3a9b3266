"""`scf consortium-config`: a Besu QBFT consortium network, checked file by file.

Every format is decoded independently of the generator: extraData with `rlp` against the
addresses eth-keys derives from the written key files, TOML with tomllib, Compose with PyYAML.
"""

from __future__ import annotations

import json
import re
import stat
import tomllib
from pathlib import Path

import pytest
import rlp
import yaml
from eth_keys import keys
from typer.testing import CliRunner

from scripts.cli import app
from scripts.consortium import DEFAULT_CHAIN_ID, fault_tolerance, qbft_extra_data

runner = CliRunner()

# Besu documentation's QBFT genesis example (private-networks/how-to/configure/consensus/qbft.md):
# four validators, then the block-header and the contract validator selection variants.
BESU_DOC_EXTRA_DATA = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f8549464a702e6263b7297a9"
    "6638cac6ae65e6541f4169943923390ad55e90c237593b3b0e401f3b08a0318594aefdb9a738c9f433e5b6b212a6d62f"
    "6370c2f69294c7eeb9a4e00ce683cf93039b212648e01c6c6b78c080c0"
)
BESU_DOC_VALIDATORS = [
    "0x64a702e6263b7297a96638cac6ae65e6541f4169",
    "0x3923390ad55e90c237593b3b0e401f3b08a03185",
    "0xaefdb9a738c9f433e5b6b212a6d62f6370c2f692",
    "0xc7eeb9a4e00ce683cf93039b212648e01c6c6b78",
]
BESU_DOC_EMPTY_EXTRA_DATA = "0xe5a00000000000000000000000000000000000000000000000000000000000000000c0c080c0"


def generate(out: Path, *args: str) -> str:
    result = runner.invoke(app, ["consortium-config", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("consortium") / "net"
    return out, generate(out, "--validators", "4")


def validator_dirs(out: Path) -> list[Path]:
    return sorted((out / "validators").iterdir())


def key_of(node_dir: Path) -> keys.PrivateKey:
    raw = (node_dir / "key").read_text(encoding="utf-8")
    assert re.fullmatch(r"[0-9a-f]{64}", raw), "Besu key file: 64 hex digits, no 0x, one line"
    return keys.PrivateKey(bytes.fromhex(raw))


def test_qbft_extra_data_matches_besu_documentation_examples() -> None:
    assert qbft_extra_data(BESU_DOC_VALIDATORS) == BESU_DOC_EXTRA_DATA
    assert qbft_extra_data([]) == BESU_DOC_EMPTY_EXTRA_DATA


def test_consortium_config_writes_every_file(network: tuple[Path, str]) -> None:
    out, _ = network
    for name in (
        "genesis.json",
        "consortium.json",
        "compose.yaml",
        "scfnet.env",
        "README.md",
        "operator/key",
    ):
        assert (out / name).is_file(), name
    assert [d.name for d in validator_dirs(out)] == [f"validator-{i}" for i in range(1, 5)]
    for node_dir in validator_dirs(out):
        for name in ("key", "key.pub", "address", "static-nodes.json", "permissions_config.toml"):
            assert (node_dir / name).is_file(), f"{node_dir.name}/{name}"
        assert (node_dir / "data").is_dir()
    assert not list(out.parent.glob(".net.*")), "the staging directory is removed"


def test_consortium_config_extra_data_decodes_to_the_generated_validators(network: tuple[Path, str]) -> None:
    out, _ = network
    genesis = json.loads((out / "genesis.json").read_text())
    vanity, validators, vote, round_number, seals = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))
    derived = {key_of(d).public_key.to_canonical_address() for d in validator_dirs(out)}
    assert vanity == bytes(32)
    assert len(validators) == 4 and set(validators) == derived
    assert vote == [] and round_number == b"" and seals == []


def test_consortium_config_genesis_is_qbft_with_free_gas(network: tuple[Path, str]) -> None:
    out, _ = network
    genesis = json.loads((out / "genesis.json").read_text())
    config = genesis["config"]
    assert config["chainId"] == DEFAULT_CHAIN_ID != 1337  # never the dev chain id
    assert config["qbft"] == {"blockperiodseconds": 2, "epochlength": 30000, "requesttimeoutseconds": 4}
    assert config["zeroBaseFee"] is True and config["londonBlock"] == 0
    assert config["shanghaiTime"] == 0 and config["cancunTime"] == 0  # the suite is compiled for Cancun
    assert genesis["mixHash"] == "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
    assert genesis["difficulty"] == "0x1"
    operator = (out / "operator" / "address").read_text().strip()
    assert genesis["alloc"] == {operator.lower()[2:]: {"balance": hex(1_000_000 * 10**18)}}


def test_consortium_config_key_files_are_private(network: tuple[Path, str]) -> None:
    out, _ = network
    for key_file in [d / "key" for d in validator_dirs(out)] + [out / "operator" / "key"]:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, key_file
    for node_dir in validator_dirs(out):
        assert stat.S_IMODE(node_dir.stat().st_mode) == 0o700


def test_consortium_config_never_prints_keys(network: tuple[Path, str]) -> None:
    out, output = network
    secrets = [(d / "key").read_text() for d in validator_dirs(out)]
    secrets.append((out / "operator" / "key").read_text().removeprefix("0x"))
    public = "".join(p.read_text() for p in out.rglob("*") if p.is_file() and p.name != "key")
    for secret in secrets:
        assert secret not in output
        assert secret not in public


def test_consortium_config_enodes_match_keys(network: tuple[Path, str]) -> None:
    out, _ = network
    summary = json.loads((out / "consortium.json").read_text())
    enodes = []
    for node_dir, published in zip(validator_dirs(out), summary["validators"], strict=True):
        key = key_of(node_dir)
        expected = f"enode://{key.public_key.to_bytes().hex()}@{published['ip']}:30303"
        assert published["enode"] == expected
        assert published["address"] == key.public_key.to_checksum_address()
        assert (node_dir / "address").read_text().strip() == key.public_key.to_address()
        assert (node_dir / "key.pub").read_text().strip() == key.public_key.to_hex()
        enodes.append(expected)
    for node_dir, own in zip(validator_dirs(out), enodes, strict=True):
        static = json.loads((node_dir / "static-nodes.json").read_text())
        assert sorted(static) == sorted(e for e in enodes if e != own)  # every peer, never itself


def test_consortium_config_permissions_allow_validators_and_operator(network: tuple[Path, str]) -> None:
    out, _ = network
    summary = json.loads((out / "consortium.json").read_text())
    operator = (out / "operator" / "address").read_text().strip()
    for node_dir in validator_dirs(out):
        permissions = tomllib.loads((node_dir / "permissions_config.toml").read_text())
        assert permissions["nodes-allowlist"] == [v["enode"] for v in summary["validators"]]
        assert permissions["accounts-allowlist"] == [operator.lower()]


def test_consortium_config_compose_is_consistent(network: tuple[Path, str]) -> None:
    out, _ = network
    compose = yaml.safe_load((out / "compose.yaml").read_text())
    summary = json.loads((out / "consortium.json").read_text())
    services = compose["services"]
    assert sorted(services) == [v["name"] for v in summary["validators"]]
    subnet = compose["networks"]["consortium"]["ipam"]["config"][0]["subnet"]
    host_ports: list[str] = []
    ips = []
    for published in summary["validators"]:
        service = services[published["name"]]
        assert re.fullmatch(r"hyperledger/besu:\d+\.\d+\.\d+", service["image"]), "pinned by version"
        command = service["command"]
        for flag in (
            "--genesis-file=/network/genesis.json",
            "--node-private-key-file=/besu/key",
            "--static-nodes-file=/besu/static-nodes.json",
            "--min-gas-price=0",
            "--permissions-nodes-config-file-enabled=true",
            "--permissions-accounts-config-file-enabled=true",
            "--permissions-nodes-config-file=/besu/permissions_config.toml",
            "--permissions-accounts-config-file=/besu/permissions_config.toml",
            "--rpc-http-enabled=true",
            "--nat-method=NONE",
            f"--p2p-host={published['ip']}",
        ):
            assert flag in command, (published["name"], flag)
        assert any(f.startswith("--rpc-http-api=") and "QBFT" in f for f in command)
        assert f"./validators/{published['name']}:/besu" in service["volumes"]
        assert "./genesis.json:/network/genesis.json:ro" in service["volumes"]
        assert service["networks"]["consortium"]["ipv4_address"] == published["ip"]
        assert published["enode"].endswith(f"@{published['ip']}:30303")
        assert published["ip"].startswith(subnet.rsplit(".", 1)[0] + ".")
        ips.append(published["ip"])
        for mapping in service["ports"]:
            host, host_port, _container = mapping.split(":")
            assert host == "127.0.0.1"  # JSON-RPC (with ADMIN, PERM) and metrics never leave the host
            host_ports.append(host_port)
    assert len(set(host_ports)) == len(host_ports) == 8
    assert len(set(ips)) == 4


def test_consortium_config_service_config_points_at_the_rpc_node(network: tuple[Path, str]) -> None:
    out, _ = network
    env = dict(
        line.split("=", 1)
        for line in (out / "scfnet.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    summary = json.loads((out / "consortium.json").read_text())
    url = summary["rpcUrl"]
    assert url == summary["validators"][0]["rpcUrl"] == "http://127.0.0.1:8545"
    for name in ("SCF_RPC_URL", "SCF_API_RPC_URL", "SCF_ORACLE_RPC_URL", "SCF_GATEWAY_RPC_URL"):
        assert env[name] == url
    assert env["SCF_API_MANIFEST_PATH"] == env["SCF_ORACLE_MANIFEST_PATH"] == ".data/deployment.json"
    assert f"chain {DEFAULT_CHAIN_ID} ({hex(DEFAULT_CHAIN_ID)})" in (out / "scfnet.env").read_text()
    assert summary["chainId"] == DEFAULT_CHAIN_ID
    assert not any("KEY" in name and "FILE" not in name for name in env), "no secrets in scfnet.env"
    readme = (out / "README.md").read_text()
    assert "docker compose up -d" in readme and "scf deploy --rpc" in readme


def test_consortium_config_explains_fault_tolerance(network: tuple[Path, str]) -> None:
    _, output = network
    assert "4 validator(s) tolerate 1 faulty" in output
    assert [fault_tolerance(n) for n in (1, 3, 4, 6, 7, 10)] == [0, 0, 1, 1, 2, 3]


def test_consortium_config_warns_below_four_validators(tmp_path: Path) -> None:
    output = generate(tmp_path / "net", "--validators", "1")
    assert "tolerate 0 faulty" in output and "use 4 or more" in output
    genesis = json.loads((tmp_path / "net" / "genesis.json").read_text())
    _, validators, *_ = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))
    assert len(validators) == 1
    assert (
        json.loads((tmp_path / "net" / "validators" / "validator-1" / "static-nodes.json").read_text()) == []
    )


@pytest.mark.parametrize("count", ["0", "-3"])
def test_consortium_config_refuses_fewer_than_one_validator(tmp_path: Path, count: str) -> None:
    result = runner.invoke(app, ["consortium-config", "--out", str(tmp_path / "net"), "--validators", count])
    assert result.exit_code == 2
    assert "--validators must be at least 1" in result.output
    assert not (tmp_path / "net").exists()


def test_consortium_config_refuses_a_non_empty_directory_without_force(tmp_path: Path) -> None:
    out = tmp_path / "net"
    generate(out)
    before = (out / "validators" / "validator-1" / "key").read_text()
    result = runner.invoke(app, ["consortium-config", "--out", str(out)])
    assert result.exit_code == 2 and "--force" in result.output
    assert (out / "validators" / "validator-1" / "key").read_text() == before

    (out / "notes.txt").write_text("kept")
    generate(out, "--force", "--validators", "7")
    assert (out / "validators" / "validator-1" / "key").read_text() != before
    assert len(list((out / "validators").iterdir())) == 7
    assert (out / "notes.txt").read_text() == "kept"
    assert (
        "7 validator(s) tolerate 2 faulty"
        in runner.invoke(
            app, ["consortium-config", "--out", str(tmp_path / "other"), "--validators", "7"]
        ).output
    )


def test_consortium_config_uses_a_given_operator_and_chain_id(tmp_path: Path) -> None:
    operator = "0x" + "ab" * 20
    extra = "0x" + "cd" * 20
    out = tmp_path / "net"
    generate(out, "--operator", operator, "--allow-account", extra, "--chain-id", "8686")
    assert not (out / "operator").exists(), "no operator key is made when one is given"
    genesis = json.loads((out / "genesis.json").read_text())
    assert genesis["config"]["chainId"] == 8686
    assert list(genesis["alloc"]) == ["ab" * 20]
    permissions = tomllib.loads((out / "validators" / "validator-1" / "permissions_config.toml").read_text())
    assert permissions["accounts-allowlist"] == [operator, extra]


def test_consortium_config_refuses_a_bad_operator_address(tmp_path: Path) -> None:
    result = runner.invoke(app, ["consortium-config", "--out", str(tmp_path / "net"), "--operator", "0x12"])
    assert result.exit_code == 2 and "not a 20-byte hex address" in result.output
    assert not (tmp_path / "net").exists()
