"""`scf consortium-config`: a Hyperledger Besu QBFT network for a consortium, and scfnet's settings for it.

Writes, into one directory:

    genesis.json            QBFT genesis: chain id, block period, free gas, validators in extraData
    consortium.json         the network at a glance: chain id, RPC URL, validators, enodes (no keys)
    compose.yaml            one Besu service per validator on a fixed-address Docker network
    scfnet.env              SCF_* variables pointing the API, oracles and gateway at the RPC node
    README.md               how to start it, check it and deploy the suite
    validators/validator-N/ key (0600), key.pub, address, static-nodes.json, permissions_config.toml
    operator/key            the operator's chain key (0600), unless --operator names an existing account

Formats follow Besu's documentation and source: the QBFT extraData is
RLP([32-byte vanity, [validator addresses], vote = [], round = 0, seals = []]) exactly as
`QbftExtraDataCodec.encodeFromAddresses` builds it; node keys are 32-byte hex, as Besu's `key` file;
permissions files use Besu's `accounts-allowlist` / `nodes-allowlist` keys.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import coincurve
import rlp
import yaml
from eth_utils import keccak, to_checksum_address

from chain.errors import ScfError

logger = logging.getLogger(__name__)

# Not scfnet's dev chain id (1337): signatures made on a development chain must not verify here.
DEFAULT_CHAIN_ID = 2026
BESU_IMAGE = "hyperledger/besu:25.11.0"
MAX_VALIDATORS = 64
# Fixed-address Docker network: Besu needs IP addresses (not host names) in enode URLs.
SUBNET = ipaddress.IPv4Network("172.16.239.0/24")
FIRST_HOST = 11
P2P_PORT = 30303
RPC_PORT = 8545
METRICS_PORT = 9545
# "Istanbul byzantine fault tolerance": the mixHash every BFT block header carries.
BFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
VANITY = bytes(32)
BLOCK_GAS_LIMIT = 30_000_000
# The API pays each newly admitted organisation's account some gas money from the operator
# (api/routers/organisations.py), so the operator needs a balance even though gas is free.
OPERATOR_BALANCE_WEI = 1_000_000 * 10**18
RPC_APIS = "ETH,NET,WEB3,QBFT,PERM,ADMIN,TXPOOL"

GENERATED = (
    "genesis.json",
    "consortium.json",
    "compose.yaml",
    "scfnet.env",
    "README.md",
    "validators",
    "operator",
)


class ConsortiumError(ScfError):
    """The consortium configuration cannot be generated as asked."""

    code = "consortium_config"


@dataclass(frozen=True)
class NodeKey:
    """A secp256k1 key pair: a Besu node key, which is also the validator's signing key."""

    private_key: bytes = field(repr=False)
    public_key: bytes  # 64 bytes, uncompressed without the 0x04 prefix: the enode id

    @classmethod
    def generate(cls) -> NodeKey:
        """Draw a fresh key from the OS's CSPRNG (libsecp256k1 checks it is a valid scalar)."""
        key = coincurve.PrivateKey()
        return cls(private_key=key.secret, public_key=key.public_key.format(compressed=False)[1:])

    @property
    def address(self) -> str:
        """The checksummed address: last 20 bytes of keccak(public key)."""
        return to_checksum_address(keccak(self.public_key)[12:])

    def enode(self, host: str, port: int = P2P_PORT) -> str:
        """The node's enode URL at host:port."""
        return f"enode://{self.public_key.hex()}@{host}:{port}"


@dataclass(frozen=True)
class ConsortiumOptions:
    """What the generator is asked for."""

    validators: int
    out: Path
    chain_id: int = DEFAULT_CHAIN_ID
    block_period_s: int = 2
    request_timeout_s: int = 4  # Besu: start at twice the block period, tune from there
    epoch_length: int = 30_000
    operator: str | None = None  # an existing operator address; None: generate its key
    allow_accounts: tuple[str, ...] = ()
    besu_image: str = BESU_IMAGE
    force: bool = False


@dataclass(frozen=True)
class Validator:
    """One validator as published (no key material)."""

    name: str
    address: str
    public_key: str
    ip: str
    enode: str
    rpc_url: str
    metrics_port: int


@dataclass(frozen=True)
class Consortium:
    """What was generated, for the caller to report."""

    out: Path
    chain_id: int
    rpc_url: str
    validators: tuple[Validator, ...]
    operator: str
    operator_key_file: Path | None
    fault_tolerance: int


def fault_tolerance(validators: int) -> int:
    """Faulty validators QBFT survives: f = floor((n - 1) / 3)."""
    return max(0, (validators - 1) // 3)


def qbft_extra_data(addresses: Sequence[str]) -> str:
    """Genesis extraData for QBFT: RLP([vanity, validators, no vote, round 0, no seals]) as hex."""
    validators = [bytes.fromhex(a.removeprefix("0x")) for a in addresses]
    if any(len(v) != 20 for v in validators):
        raise ConsortiumError("validator addresses must be 20 bytes")
    # An empty list for "no vote", the scalar 0 (RLP 0x80) for the round, an empty list of seals.
    return "0x" + rlp.encode([VANITY, validators, [], 0, []]).hex()


def fault_tolerance_note(validators: int) -> str:
    """One sentence on how many validators may fail."""
    f = fault_tolerance(validators)
    note = f"{validators} validator(s) tolerate {f} faulty (QBFT: f = (n-1)//3)"
    if validators < 4:
        note += "; fewer than 4 validators tolerate none: use 4 or more in production"
    elif validators % 3 != 1:
        note += f"; {3 * f + 1} would tolerate as many, {3 * f + 4} tolerate {f + 1}"
    return note


def generate(options: ConsortiumOptions) -> Consortium:
    """Generate the whole configuration into options.out (atomically: all files or none)."""
    _check(options)
    out = options.out
    if out.exists() and not out.is_dir():
        raise ConsortiumError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not options.force:
        raise ConsortiumError(f"{out} is not empty; pass --force to replace a previous configuration")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        consortium = _write(options, staging)
        _install(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    key_file = out / "operator" / "key" if consortium.operator_key_file is not None else None
    return replace(consortium, out=out, operator_key_file=key_file)


def _check(options: ConsortiumOptions) -> None:
    if options.validators < 1:
        raise ConsortiumError(
            f"--validators must be at least 1 (got {options.validators}); QBFT needs 4 to tolerate a fault"
        )
    if options.validators > MAX_VALIDATORS:
        raise ConsortiumError(f"--validators must be at most {MAX_VALIDATORS} (got {options.validators})")
    if options.chain_id < 1:
        raise ConsortiumError(f"--chain-id must be positive (got {options.chain_id})")
    if options.block_period_s < 1 or options.request_timeout_s <= options.block_period_s:
        raise ConsortiumError("need --block-period >= 1 and --request-timeout > --block-period")
    for address in (options.operator, *options.allow_accounts):
        if address is not None:
            _address(address)


def _address(value: str) -> str:
    body = value.removeprefix("0x").removeprefix("0X")
    if len(body) != 40 or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise ConsortiumError(f"not a 20-byte hex address: {value!r}")
    return to_checksum_address("0x" + body)


def _write(options: ConsortiumOptions, root: Path) -> Consortium:
    keys = sorted((NodeKey.generate() for _ in range(options.validators)), key=lambda k: k.address.lower())
    hosts = list(SUBNET.hosts())
    validators = tuple(
        Validator(
            name=f"validator-{i + 1}",
            address=key.address,
            public_key="0x" + key.public_key.hex(),
            ip=str(hosts[FIRST_HOST - 1 + i]),
            enode=key.enode(str(hosts[FIRST_HOST - 1 + i])),
            rpc_url=f"http://127.0.0.1:{RPC_PORT + i}",
            metrics_port=METRICS_PORT + i,
        )
        for i, key in enumerate(keys)
    )
    operator_key_file: Path | None = None
    if options.operator is None:
        operator_key = NodeKey.generate()
        operator = operator_key.address
        operator_key_file = root / "operator" / "key"
        _write_secret(operator_key_file, "0x" + operator_key.private_key.hex())
        (root / "operator" / "address").write_text(operator + "\n", encoding="utf-8")
    else:
        operator = _address(options.operator)
    accounts = list(dict.fromkeys(a.lower() for a in (operator, *map(_address, options.allow_accounts))))
    enodes = [v.enode for v in validators]

    for key, validator in zip(keys, validators, strict=True):
        node_dir = root / "validators" / validator.name
        node_dir.mkdir(parents=True, mode=0o700)
        (node_dir / "data").mkdir(mode=0o700)
        _write_secret(node_dir / "key", key.private_key.hex())  # Besu's `key` file: hex, no 0x
        (node_dir / "key.pub").write_text(validator.public_key + "\n", encoding="utf-8")
        (node_dir / "address").write_text(validator.address.lower() + "\n", encoding="utf-8")
        # Every other validator: a node listing itself as a static peer is refused.
        peers = [e for e in enodes if e != validator.enode]
        (node_dir / "static-nodes.json").write_text(json.dumps(peers, indent=2) + "\n", encoding="utf-8")
        (node_dir / "permissions_config.toml").write_text(
            permissions_toml(accounts, enodes), encoding="utf-8"
        )

    genesis = genesis_config(options, [v.address for v in validators], operator)
    (root / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n", encoding="utf-8")
    (root / "compose.yaml").write_text(compose_yaml(options, validators), encoding="utf-8")
    rpc_url = validators[0].rpc_url
    consortium = Consortium(
        out=root,
        chain_id=options.chain_id,
        rpc_url=rpc_url,
        validators=validators,
        operator=operator,
        operator_key_file=operator_key_file,
        fault_tolerance=fault_tolerance(options.validators),
    )
    (root / "consortium.json").write_text(
        json.dumps(summary(consortium, options, accounts), indent=2) + "\n", encoding="utf-8"
    )
    (root / "scfnet.env").write_text(scfnet_env(consortium), encoding="utf-8")
    (root / "README.md").write_text(readme(consortium, options), encoding="utf-8")
    return consortium


def _write_secret(path: Path, value: str) -> None:
    """Create `path` with mode 0600 from the start (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)  # one line, no newline: as Besu writes its own `key` file


def _install(staging: Path, out: Path) -> None:
    """Move the staged files into `out`, replacing a previous generation's files."""
    out.mkdir(parents=True, exist_ok=True)
    for name in GENERATED:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    for entry in staging.iterdir():
        os.replace(entry, out / entry.name)


def genesis_config(options: ConsortiumOptions, validators: Sequence[str], operator: str) -> dict[str, Any]:
    """The Besu genesis: every fork through Cancun at block 0 (the suite uses TSTORE), free gas, QBFT."""
    config: dict[str, Any] = {"chainId": options.chain_id}
    for fork in (
        "homesteadBlock",
        "eip150Block",
        "eip155Block",
        "eip158Block",
        "byzantiumBlock",
        "constantinopleBlock",
        "petersburgBlock",
        "istanbulBlock",
        "berlinBlock",
        "londonBlock",
    ):
        config[fork] = 0
    config.update(
        {
            "shanghaiTime": 0,
            "cancunTime": 0,
            "zeroBaseFee": True,
            "qbft": {
                "blockperiodseconds": options.block_period_s,
                "epochlength": options.epoch_length,
                "requesttimeoutseconds": options.request_timeout_s,
            },
        }
    )
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": hex(int(time.time())),
        "extraData": qbft_extra_data(validators),
        "gasLimit": hex(BLOCK_GAS_LIMIT),
        "difficulty": "0x1",
        "mixHash": BFT_MIX_HASH,
        "coinbase": "0x" + "00" * 20,
        "alloc": {operator.lower().removeprefix("0x"): {"balance": hex(OPERATOR_BALANCE_WEI)}},
        "number": "0x0",
        "gasUsed": "0x0",
        "parentHash": "0x" + "00" * 32,
    }


def permissions_toml(accounts: Sequence[str], enodes: Sequence[str]) -> str:
    """Besu's local permissioning file (one per node: Besu rewrites it on perm_* calls)."""
    return (
        "# Besu local permissioning. Keep it identical on every node; change it at run time with\n"
        "# perm_addAccountsToAllowlist / perm_addNodesToAllowlist (persisted here).\n"
        f"accounts-allowlist={json.dumps(list(accounts))}\n"
        f"nodes-allowlist={json.dumps(list(enodes))}\n"
    )


def besu_command(validator: Validator) -> list[str]:
    """Besu's command line for one validator inside its container."""
    return [
        "--genesis-file=/network/genesis.json",
        "--data-path=/besu/data",
        "--node-private-key-file=/besu/key",
        "--static-nodes-file=/besu/static-nodes.json",
        "--discovery-enabled=false",
        f"--p2p-host={validator.ip}",
        f"--p2p-port={P2P_PORT}",
        "--nat-method=NONE",
        "--profile=ENTERPRISE",
        "--sync-mode=FULL",
        "--data-storage-format=FOREST",
        "--min-gas-price=0",
        "--permissions-nodes-config-file-enabled=true",
        "--permissions-nodes-config-file=/besu/permissions_config.toml",
        "--permissions-accounts-config-file-enabled=true",
        "--permissions-accounts-config-file=/besu/permissions_config.toml",
        "--rpc-http-enabled=true",
        "--rpc-http-host=0.0.0.0",
        f"--rpc-http-port={RPC_PORT}",
        f"--rpc-http-api={RPC_APIS}",
        f"--host-allowlist=localhost,127.0.0.1,{validator.name}",
        "--revert-reason-enabled=true",
        "--metrics-enabled=true",
        "--metrics-host=0.0.0.0",
        f"--metrics-port={METRICS_PORT}",
        "--logging=INFO",
    ]


def compose_document(options: ConsortiumOptions, validators: Sequence[Validator]) -> dict[str, Any]:
    """The Compose file as data: one Besu service per validator, published on localhost only."""
    services: dict[str, Any] = {}
    for i, validator in enumerate(validators):
        services[validator.name] = {
            "image": options.besu_image,
            # The key and data directory belong to whoever ran the generator (mode 0600/0700).
            "user": "${BESU_UID:-1000}:${BESU_GID:-1000}",
            "restart": "unless-stopped",
            "command": besu_command(validator),
            "volumes": [
                "./genesis.json:/network/genesis.json:ro",
                f"./validators/{validator.name}:/besu",
            ],
            "ports": [
                f"127.0.0.1:{RPC_PORT + i}:{RPC_PORT}",
                f"127.0.0.1:{validator.metrics_port}:{METRICS_PORT}",
            ],
            "networks": {"consortium": {"ipv4_address": validator.ip}},
        }
    return {
        "name": "scfnet-consortium",
        "services": services,
        "networks": {"consortium": {"driver": "bridge", "ipam": {"config": [{"subnet": str(SUBNET)}]}}},
    }


def compose_yaml(options: ConsortiumOptions, validators: Sequence[Validator]) -> str:
    """compose.yaml, with a header saying what it is."""
    header = (
        f"# scfnet consortium: {len(validators)} Besu QBFT validators, chain id {options.chain_id}.\n"
        "# Generated by `scf consortium-config`; see README.md. Start: docker compose up -d\n"
    )
    body = yaml.safe_dump(compose_document(options, validators), sort_keys=False, default_flow_style=False)
    return header + body


def summary(consortium: Consortium, options: ConsortiumOptions, accounts: Sequence[str]) -> dict[str, Any]:
    """consortium.json: everything public about the network, for people and tools."""
    return {
        "chainId": consortium.chain_id,
        "consensus": {
            "protocol": "QBFT",
            "blockPeriodSeconds": options.block_period_s,
            "requestTimeoutSeconds": options.request_timeout_s,
            "epochLength": options.epoch_length,
            "validators": len(consortium.validators),
            "faultTolerance": consortium.fault_tolerance,
        },
        "rpcUrl": consortium.rpc_url,
        "besuImage": options.besu_image,
        "operator": consortium.operator,
        "accountsAllowlist": list(accounts),
        "validators": [
            {
                "name": v.name,
                "address": v.address,
                "publicKey": v.public_key,
                "enode": v.enode,
                "ip": v.ip,
                "rpcUrl": v.rpc_url,
                "metrics": f"http://127.0.0.1:{v.metrics_port}/metrics",
            }
            for v in consortium.validators
        ],
    }


def scfnet_env(consortium: Consortium) -> str:
    """scfnet.env: the SCF_* settings of every scfnet service on this chain (no secrets)."""
    url = consortium.rpc_url
    manifest = ".data/deployment.json"
    return f"""\
# scfnet services on the consortium chain {consortium.chain_id} ({hex(consortium.chain_id)}), RPC {url}.
# Load with: set -a; . ./scfnet.env; set +a
# `scf deploy` records the chain id in the manifest; every service reads the manifest.
SCF_RPC_URL={url}
SCF_API_RPC_URL={url}
SCF_API_MANIFEST_PATH={manifest}
SCF_ORACLE_RPC_URL={url}
SCF_ORACLE_MANIFEST_PATH={manifest}
SCF_GATEWAY_RPC_URL={url}
SCF_GATEWAY_MANIFEST_PATH={manifest}
# Secrets are not kept here. Provide them from your key custody at start:
#   SCF_API_OPERATOR_KEY   the operator's key ({consortium.operator})
#   SCF_API_MASTER_KEY_FILE, SCF_ORACLE_KEY_FILE (one per oracle node)
"""


def readme(consortium: Consortium, options: ConsortiumOptions) -> str:
    """README.md of the output directory: start, check, deploy, admit."""
    n = len(consortium.validators)
    rows = "\n".join(f"| {v.name} | `{v.address}` | {v.ip} | {v.rpc_url} |" for v in consortium.validators)
    key_line = (
        "`operator/key` holds the operator's key (0600):\nmove it into your key custody and delete it here."
        if consortium.operator_key_file is not None
        else f"The operator account `{consortium.operator}` was given; its key stays in your custody."
    )
    first = consortium.validators[0]
    return f"""\
# scfnet consortium chain {consortium.chain_id}

Hyperledger Besu ({options.besu_image}), QBFT, block period {options.block_period_s} s, free gas
(`zeroBaseFee`, `--min-gas-price=0`), every fork through Cancun active at genesis.

Fault tolerance: {fault_tolerance_note(n)}.

| validator | address | IP (Docker) | JSON-RPC on this host |
|---|---|---|---|
{rows}

Files: `genesis.json` (all nodes), `validators/<name>/` (one per validator: node key `key`, mode 0600,
`static-nodes.json`, `permissions_config.toml`, `data/`), `compose.yaml`, `scfnet.env`,
`consortium.json` (public summary). {key_line}
Node keys sign blocks: each member keeps its validator's directory and nobody else's.

## Start

    export BESU_UID=$(id -u) BESU_GID=$(id -g)   # the owner of validators/ (default 1000:1000)
    docker compose up -d
    docker compose logs -f {first.name}

Check (chain id {hex(consortium.chain_id)}, {n - 1} peers, validators, blocks advancing):

    curl -s -X POST -H 'content-type: application/json' \\
      --data '{{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}}' {first.rpc_url}
    curl -s -X POST -H 'content-type: application/json' \\
      --data '{{"jsonrpc":"2.0","id":1,"method":"net_peerCount","params":[]}}' {first.rpc_url}
    curl -s -X POST -H 'content-type: application/json' \\
      --data '{{"jsonrpc":"2.0","id":1,"method":"qbft_getValidatorsByBlockNumber","params":["latest"]}}' \\
      {first.rpc_url}

## Deploy scfnet

    set -a; . ./scfnet.env; set +a
    scf deploy --rpc "$SCF_RPC_URL" --key-file operator/key --operator-credit-code <USCC> \\
      --out .data/deployment.json

Then start the API (`SCF_API_OPERATOR_KEY` from custody), the oracle nodes and the gateway with
`scfnet.env` loaded.

## Admit a member

1. The operator admits the organisation through the API (MemberRegistry on chain).
2. Every node operator adds the organisation's signing address to its node's allowlist:

       curl -s -X POST -H 'content-type: application/json' --data \\
         '{{"jsonrpc":"2.0","id":1,"method":"perm_addAccountsToAllowlist","params":[["0x<address>"]]}}' \\
         <that node's RPC URL>

Oracle node accounts are admitted the same way.

## More than one host

The Docker network here puts every validator on one host (a rehearsal, or one member's cluster).
For validators at different members, give each node its public IP in `--p2p-host`, and use those
IPs in every `static-nodes.json` and `nodes-allowlist` (the node ids stay the same). Open TCP
{P2P_PORT} between members only; keep JSON-RPC ({RPC_PORT}) and metrics on the private network.
"""
