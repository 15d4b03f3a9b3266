"""Embedded-node throughput on scfnet's own workload, next to plain eth-tester and anvil, plus restart.

Workload: invoice registration, `Receivables.register` by admitted suppliers against an admitted core
firm, on the real suite deployed by `chain.deploy.deploy_suite`. The transactions are signed
beforehand (SUPPLIERS senders, round-robin) and sent one per JSON-RPC request by CLIENTS threads, each
owning whole senders so nonces arrive in order; the clock stops when every sender's last receipt
exists. The node runs as its own process (`scf node`), permissioning on, interval mining; anvil runs
with the same block time; eth-tester runs the same signed transactions in this process, auto-mining,
once before and once after the node (its figure is the mean).

With `chain_txs`, the node's chain is then grown to that many registrations, the node is stopped and
restarted, and the restart time (spawn to first answer) and resident memory (VmRSS from /proc) of the
fresh process are measured.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.types import RPCEndpoint

from chain.anvil import running_anvil
from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite
from chain.devnet import DevNet, dev_account, dev_credit_code
from chain.identifiers import credit_code_bytes32
from chain.roles import Role
from chain.suite import Suite

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SUPPLIERS = 8
CLIENTS = 2
GAS = 150_000  # register uses ~60-80k; one fixed limit for every chain
INTERVAL_S = 0.2
BATCH = 200  # requests per JSON-RPC batch when growing the chain for the restart measurement
FUNDING_WEI = 10**19
DAY = 86_400
OPERATOR = dev_account("operator")


@dataclass
class Workload:
    """Who registers invoices against whom, on one chain."""

    receivables: str
    core_org_id: int
    suppliers: list[LocalAccount]
    chain_id: int
    due_at: int


def _admit(client: ChainClient, suite: Suite, name: str, roles: Role) -> tuple[LocalAccount, int]:
    account = dev_account(f"bench-node-{name}")
    code = credit_code_bytes32(dev_credit_code(f"bench-node-{name}"))
    registry = suite.registry.functions
    client.transact(registry.admitOrganisation(code, name, int(roles), account.address), OPERATOR)
    client.send(OPERATOR, {"to": account.address, "value": FUNDING_WEI})
    return account, client.call(registry.orgIdOf(code))


def prepare(client: ChainClient) -> tuple[Workload, str]:
    """Deploy the suite as the operator and admit a core firm and the suppliers; return the registry too."""
    deployment = deploy_suite(client, OPERATOR, SuiteParams(operator_credit_code=dev_credit_code("operator")))
    suite = Suite.bind(client, deployment)
    _core, core_id = _admit(client, suite, "core", Role.CORE_FIRM)
    suppliers = [_admit(client, suite, f"supplier-{i}", Role.SUPPLIER)[0] for i in range(SUPPLIERS)]
    now = int(client.w3.eth.get_block("latest")["timestamp"])
    workload = Workload(
        deployment.address("Receivables"), core_id, suppliers, client.chain_id, now + 90 * DAY
    )
    return workload, deployment.address("MemberRegistry")


def sign_registrations(workload: Workload, fees: dict[str, int], first: int, count: int) -> list[str]:
    """Sign registrations first..first+count-1, round-robin over the suppliers."""
    selector = keccak(text="register(uint256,uint32,uint96,uint40,bytes32)")[:4]
    to = Web3.to_checksum_address(workload.receivables)
    raws = []
    for index in range(first, first + count):
        supplier = workload.suppliers[index % SUPPLIERS]
        invoice = keccak(text=f"bench-node-invoice-{index}")
        data = selector + b"".join(
            value.to_bytes(32, "big")
            for value in (
                int.from_bytes(invoice, "big") >> 1,  # root ids stay below 2^255
                workload.core_org_id,
                1_000_00 + index,
                workload.due_at,
            )
        )
        data += keccak(text=f"bench-node-document-{index}")
        tx = {"chainId": workload.chain_id, "nonce": index // SUPPLIERS, "gas": GAS, "to": to, "value": 0}
        tx.update(fees, data=data)
        raws.append("0x" + bytes(supplier.sign_transaction(tx).raw_transaction).hex())
    return raws


def _fees(client: ChainClient) -> dict[str, int]:
    base = int(client.w3.eth.get_block("latest")["baseFeePerGas"])
    return {"maxFeePerGas": 4 * base + 10**9, "maxPriorityFeePerGas": 10**9}


def _rpc(session: requests.Session, url: str, payload: Any) -> Any:
    answer = session.post(url, json=payload, timeout=120).json()
    for item in answer if isinstance(answer, list) else [answer]:
        if "error" in item:
            raise RuntimeError(f"{item['error']}")
    return answer


def _request(method: str, *params: Any, request_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


def drive(url: str, raws: list[str], batch: int = 1) -> float:
    """Send the signed transactions over JSON-RPC (CLIENTS threads) and wait for the last receipts; tx/s."""
    lanes = [
        [raw for i, raw in enumerate(raws) if i % SUPPLIERS % CLIENTS == lane] for lane in range(CLIENTS)
    ]

    def send(lane: list[str]) -> list[str]:
        session = requests.Session()
        hashes: list[str] = []
        for offset in range(0, len(lane), batch):
            chunk = lane[offset : offset + batch]
            if batch == 1:
                hashes.append(_rpc(session, url, _request("eth_sendRawTransaction", chunk[0]))["result"])
            else:
                payload = [
                    _request("eth_sendRawTransaction", raw, request_id=i) for i, raw in enumerate(chunk)
                ]
                hashes += [a["result"] for a in sorted(_rpc(session, url, payload), key=lambda a: a["id"])]
        return hashes

    # Each sender's last transaction (round-robin signing: the last SUPPLIERS raws): once all of
    # them have receipts, every transaction has, whatever order the chain mined the senders in.
    last = ["0x" + keccak(hexstr=raw).hex() for raw in raws[-SUPPLIERS:]]
    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        hashes = {h for lane_hashes in pool.map(send, lanes) for h in lane_hashes}
    assert set(last) <= hashes, "the node answered with unexpected transaction hashes"
    session = requests.Session()
    for tx_hash in last:
        while (
            receipt := _rpc(session, url, _request("eth_getTransactionReceipt", tx_hash))["result"]
        ) is None:
            time.sleep(0.005)
        if receipt["status"] != "0x1":
            raise RuntimeError(f"registration {tx_hash} reverted")
    return len(raws) / (time.perf_counter() - start)


def raw_ethtester_tx_per_s(count: int) -> float:
    """The workload on plain eth-tester (auto-mining, in this process): the suite via DevNet."""
    net = DevNet.start()  # funds the operator; prepare deploys a suite of our own next to DevNet's
    workload, _ = prepare(net.client)
    raws = sign_registrations(workload, _fees(net.client), 0, count)
    start = time.perf_counter()
    for raw in raws:
        net.tester.send_raw_transaction(raw)
    return count / (time.perf_counter() - start)


def anvil_tx_per_s(count: int) -> float:
    """The workload through anvil's JSON-RPC, same client, same block time."""
    with running_anvil(block_time_s=INTERVAL_S) as anvil:
        client = ChainClient.connect(anvil.url, poll_interval_s=0.02)
        client.w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [OPERATOR.address, hex(10**24)])
        workload, _ = prepare(client)
        return drive(anvil.url, sign_registrations(workload, _fees(client), 0, count))


@dataclass
class NodeProcess:
    process: subprocess.Popen[bytes]
    url: str
    started_s: float


def start_node(data_dir: Path, *args: str) -> NodeProcess:
    """Run `scf node` as a process on a free port; return once it answers JSON-RPC."""
    endpoint = data_dir / "rpc.json"
    endpoint.unlink(missing_ok=True)
    command = [sys.executable, "-m", "scripts.cli", "node", "--port", "0", "--data-dir", str(data_dir)]
    command += ["--operator", OPERATOR.address, *args]
    start = time.perf_counter()
    # Senders run far ahead of the chain while the pool backs up: lift the nonce-gap limit.
    env = {**os.environ, "SCF_NODE_MAX_NONCE_GAP": "100000"}
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    session = requests.Session()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"node exited with {process.returncode}")
        if endpoint.exists():
            info = json.loads(endpoint.read_text())
            if info["pid"] == process.pid:
                _rpc(session, info["http"], _request("eth_blockNumber"))
                return NodeProcess(process, info["http"], time.perf_counter() - start)
        time.sleep(0.01)
    process.kill()
    raise RuntimeError("node did not start")


def stop_node(node: NodeProcess) -> None:
    node.process.send_signal(signal.SIGTERM)
    if node.process.wait(timeout=120) != 0:
        raise RuntimeError(f"node exited with {node.process.returncode}")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@contextmanager
def permissioned_node(data_dir: Path) -> Iterator[tuple[NodeProcess, Workload, str]]:
    """Bootstrap the suite on an operator-only node, restart it with the registry and interval mining."""
    bootstrap = start_node(data_dir)
    try:
        workload, registry = prepare(ChainClient.connect(bootstrap.url, poll_interval_s=0.01))
    finally:
        stop_node(bootstrap)
    node = start_node(data_dir, "--registry", registry, "--mining-interval", str(INTERVAL_S))
    try:
        yield node, workload, registry
    finally:
        if node.process.poll() is None:
            stop_node(node)


def node_measurements(count: int, chain_txs: int) -> dict[str, float | int | None]:
    """Throughput through the node process; with chain_txs, restart time and RSS at that chain length."""
    out: dict[str, float | int | None] = {
        "restart_s_20k": None,
        "rss_mb_20k": None,
        "restart_chain_txs": None,
    }
    with tempfile.TemporaryDirectory() as tmp, permissioned_node(Path(tmp)) as (node, workload, registry):
        client = ChainClient.connect(node.url)
        out["restart_s_small"] = round(node.started_s, 3)  # the bootstrap chain: a few dozen blocks
        out["node_tx_per_s"] = drive(node.url, sign_registrations(workload, _fees(client), 0, count))
        if chain_txs > count:
            grow_start = time.perf_counter()
            rest = sign_registrations(workload, _fees(client), count, chain_txs - count)
            drive(node.url, rest, batch=BATCH)
            out["grow_tx_per_s"] = round((chain_txs - count) / (time.perf_counter() - grow_start), 1)
        if chain_txs:
            head = client.w3.eth.block_number
            stop_node(node)
            restarted = start_node(Path(tmp), "--registry", registry)
            try:
                answer = _rpc(requests.Session(), restarted.url, _request("eth_blockNumber"))
                assert int(answer["result"], 16) == head, (answer, head)
                out["restart_s_20k"] = round(restarted.started_s, 3)
                out["rss_mb_20k"] = round(rss_mb(restarted.process.pid), 1)
                out["restart_chain_txs"] = max(chain_txs, count)
                out["restart_chain_blocks"] = head
            finally:
                stop_node(restarted)
    return out


def run(count: int = 1000, chain_txs: int = 0) -> dict[str, Any]:
    """Measure all three chains on the same workload in one run.

    Plain eth-tester runs just before and just after the node, and its figure is the mean of the
    two: on a machine shared with other work the load drifts over the minutes a run takes, and
    bracketing the node keeps the ratio from following that drift (both runs are reported).
    """
    raw_before = raw_ethtester_tx_per_s(count)
    node = node_measurements(count, chain_txs)
    raw_after = raw_ethtester_tx_per_s(count)
    anvil = anvil_tx_per_s(count)
    raw = (raw_before + raw_after) / 2
    node_tps = float(node.pop("node_tx_per_s") or 0)
    return {
        "node_tx_per_s": round(node_tps, 1),
        "raw_ethtester_tx_per_s": round(raw, 1),
        "raw_ethtester_runs": [round(raw_before, 1), round(raw_after, 1)],
        "anvil_tx_per_s": round(anvil, 1),
        "ratio_node_vs_raw": round(node_tps / raw, 2),
        "tx_count": count,
        "interval_s": INTERVAL_S,
        "cpus": os.cpu_count(),
        **node,
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    counts = [int(arg) for arg in sys.argv[1:3]]
    print(json.dumps(run(*counts)))
