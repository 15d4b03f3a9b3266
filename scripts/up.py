"""`scf up`: the whole network on one machine with embedded defaults.

The embedded node (or anvil, or an existing chain) with the suite deployed once, and the API
with its relay and indexer. Everything lives in one data directory; secrets generated on the
first start (operator key, master key, operator API token) are kept there with mode 0600 and
reused, so a restart resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount

from api.app import create_app
from api.custody import MasterKey
from api.settings import ApiSettings
from chain.anvil import ANVIL_DEV_KEY, running_anvil
from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite, predicted_registry_address
from chain.devnet import dev_credit_code
from chain.manifest import Deployment

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpOptions:
    data_dir: Path
    chain: str  # embedded | anvil
    rpc_url: str | None
    node_port: int
    api_host: str
    api_port: int


def _secret(path: Path, make: callable) -> str:  # type: ignore[valid-type]
    """Read a secret kept in the data dir, creating it (0600) on first use."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


@contextmanager
def _chain(opts: UpOptions, operator: LocalAccount) -> Iterator[str]:
    """Yield the JSON-RPC URL of the chain the network runs on."""
    if opts.rpc_url:
        yield opts.rpc_url
        return
    if opts.chain == "anvil":
        with running_anvil(port=opts.node_port) as anvil:
            yield anvil.url
        return
    from node.testing import running_node

    registry = predicted_registry_address(operator.address)
    with running_node(
        opts.data_dir,
        port=opts.node_port,
        dev=False,
        operator_address=operator.address,
        registry_address=registry,
        mining_interval_s=0.2,
    ) as node:
        yield node.http_url


def _deployment(data_dir: Path, rpc_url: str, operator: LocalAccount) -> Deployment:
    manifest = data_dir / "deployment.json"
    client = ChainClient.connect(rpc_url)
    if manifest.exists():
        deployment = Deployment.read(manifest)
        if deployment.chain_id == client.chain_id and client.w3.eth.get_code(
            deployment.address("Receivables")
        ):
            logger.info("reusing deployment %s", manifest)
            return deployment
        logger.warning("manifest %s does not match this chain: deploying again", manifest)
    deployment = deploy_suite(client, operator, SuiteParams(operator_credit_code=dev_credit_code("operator")))
    deployment.write(manifest)
    return deployment


def run(opts: UpOptions) -> None:
    """Start everything and serve until interrupted (Ctrl-C stops it cleanly)."""
    data_dir = opts.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    if opts.chain == "anvil" and not opts.rpc_url:
        operator_key = ANVIL_DEV_KEY
    else:
        operator_key = _secret(data_dir / "operator.key", lambda: Account.create().key.to_0x_hex())
    operator = Account.from_key(operator_key)
    master_key = _secret(data_dir / "master.key", MasterKey.generate)
    token = _secret(data_dir / "operator.token", lambda: f"scf_operator_{secrets.token_urlsafe(32)}")
    with ExitStack() as stack:
        rpc_url = stack.enter_context(_chain(opts, operator))
        deployment = _deployment(data_dir, rpc_url, operator)
        settings = ApiSettings(
            database_url=os.environ.get("SCF_API_DATABASE_URL", f"sqlite:///{data_dir / 'api.db'}"),
            rpc_url=rpc_url,
            manifest_path=data_dir / "deployment.json",
            data_dir=data_dir,
            master_key=master_key,
            operator_key=operator_key,
            bootstrap_token=token,
        )
        print(f"chain      {rpc_url} (chain id {deployment.chain_id})", flush=True)
        print(f"api        http://{opts.api_host}:{opts.api_port}  (docs: /docs)", flush=True)
        print(f"operator   Authorization: Bearer {token}", flush=True)
        print(f"data       {data_dir.resolve()}", flush=True)
        uvicorn.run(create_app(settings), host=opts.api_host, port=opts.api_port, log_level="info")
