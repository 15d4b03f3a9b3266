"""`scf up`: the whole network on one machine, embedded defaults, one data directory.

Started in this order, each waiting for the one before: the chain (embedded node, anvil, or an
existing one at `--rpc`), the contract suite (deployed once; the manifest is reused afterwards),
the oracle nodes' registration, the MQTT broker (embedded amqtt, or an existing one at `--mqtt`),
the IoT gateway, N oracle nodes, and the API (its relay, indexer and notifier in a process of their
own). `scf up` then
probes every service from the outside until all are ready, admits the demo organisations on the
first start, prints the endpoints and credentials, and says `ready`.

Ctrl-C or SIGTERM stops everything in the reverse order (API, oracles, gateway, broker, node) and
exits 0. Secrets generated on the first start (operator key, master key, operator API token, the
oracle nodes' keys, the demo organisations' API keys) are kept in the data dir with mode 0600, so a
restart resumes where it stopped: same contracts, same keys, same organisations.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO, TypeVar

import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console

from api.app import create_app
from api.custody import MasterKey
from api.serve import ApiProcesses
from api.settings import ApiSettings
from chain.anvil import ANVIL_DEV_KEY, running_anvil
from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite, predicted_registry_address
from chain.devnet import dev_credit_code
from chain.manifest import Deployment
from iot_gateway.broker import BrokerAddress, EmbeddedBroker
from iot_gateway.gateway import Gateway
from iot_gateway.metrics import MetricsServer
from iot_gateway.registry import DeviceKeys
from iot_gateway.settings import GatewaySettings
from scripts import demo_orgs
from scripts.config import UpSettings
from scripts.datadir import DataDir, secret
from scripts.oracles import ensure_registered, oracle_keys, running_oracles
from scripts.probes import Health, Service, wait_ready

logger = logging.getLogger(__name__)

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
API_START_TIMEOUT_S = 60.0


class UpError(RuntimeError):
    """`scf up` cannot start the network; the message says why and what to do."""


class Interrupted(UpError):
    """Ctrl-C or SIGTERM arrived while starting."""


@dataclass
class _Stop:
    """Set by the first SIGINT/SIGTERM; a second one stops at once."""

    event: threading.Event = field(default_factory=threading.Event)

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        logger.info("received %s: stopping", signal.Signals(signum).name)
        self.event.set()

    def check(self) -> None:
        if self.event.is_set():
            raise Interrupted("interrupted while starting")


@contextmanager
def _signals(stop: _Stop) -> Iterator[None]:
    previous = {sig: signal.signal(sig, stop.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------------------------- the pieces


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _preflight(settings: UpSettings) -> None:
    """Refuse to start half a network: every port this start will listen on must be free."""
    wanted: list[tuple[str, str, int, str]] = []
    if not settings.rpc_url:
        wanted.append(("the chain node", LOOPBACK, settings.node_port, "--node-port, or --rpc URL"))
    if not settings.mqtt_url:
        hint = "--mqtt mqtt://127.0.0.1:1883 to use the broker already there, or --mqtt-port"
        wanted.append(("the embedded MQTT broker", LOOPBACK, settings.mqtt_port, hint))
    wanted.append(("the gateway's health endpoint", LOOPBACK, settings.gateway_port, "--gateway-port"))
    if settings.oracle_port:
        for i in range(settings.oracles):
            wanted.append((f"oracle node {i}", LOOPBACK, settings.oracle_port + i, "--oracle-port"))
    wanted.append(("the API", settings.api_host, settings.api_port, "--port"))
    for what, host, port, hint in wanted:
        if port and not _port_free(host, port):
            raise UpError(f"{host}:{port}, wanted by {what}, is in use: choose another with {hint}")


@contextmanager
def _chain(settings: UpSettings, data: DataDir, operator: LocalAccount) -> Iterator[str]:
    """Yield the JSON-RPC URL of the chain the network runs on."""
    if settings.rpc_url:
        yield settings.rpc_url
        return
    if settings.chain == "anvil":
        with running_anvil(port=settings.node_port or None) as anvil:
            yield anvil.url
        return
    from node.testing import running_node

    with running_node(
        data.root,
        port=settings.node_port,
        dev=settings.dev,
        operator_address=operator.address,
        registry_address=predicted_registry_address(operator.address),
        mining_interval_s=settings.node_mining_interval_s,
    ) as node:
        yield node.http_url


def _deployment(data: DataDir, client: ChainClient, operator: LocalAccount) -> tuple[Deployment, bool]:
    """The suite on this chain: the manifest's if it is there, else a new deployment. True if new."""
    if data.manifest.exists():
        deployment = Deployment.read(data.manifest)
        if deployment.chain_id == client.chain_id and client.w3.eth.get_code(
            deployment.address("Receivables")
        ):
            return deployment, False
        stale = [p.name for p in (data.root / "api.db", data.demo_credentials) if p.exists()]
        if stale:
            raise UpError(
                f"the chain does not hold the deployment in {data.manifest} (anvil keeps no state across "
                f"restarts), but {', '.join(stale)} in {data.root} belong to it: start with a fresh "
                "--data-dir, or delete those files and documents/ to start over on this chain"
            )
        logger.warning("manifest %s does not match this chain: deploying again", data.manifest)
    deployment = deploy_suite(client, operator, SuiteParams(operator_credit_code=dev_credit_code("operator")))
    deployment.write(data.manifest)
    return deployment, True


@contextmanager
def _broker(settings: UpSettings) -> Iterator[tuple[str, BrokerAddress]]:
    """Yield the broker URL services connect with (credentials included) and its address."""
    if settings.mqtt_url:
        yield settings.mqtt_url, BrokerAddress.parse(settings.mqtt_url)
        return
    with EmbeddedBroker(LOOPBACK, settings.mqtt_port) as broker:
        yield broker.address.url, broker.address


@contextmanager
def _gateway(
    settings: UpSettings, data: DataDir, broker_url: str, rpc_url: str
) -> Iterator[tuple[Gateway, MetricsServer]]:
    gw_settings = GatewaySettings(
        broker_url=broker_url, data_dir=data.gateway, rpc_url=rpc_url, manifest_path=data.manifest
    )
    password = gw_settings.password.get_secret_value() if gw_settings.password else None
    address = BrokerAddress.parse(broker_url).with_credentials(gw_settings.username, password)
    keys = DeviceKeys.from_chain(
        rpc_url,
        data.manifest,
        ttl_s=gw_settings.device_cache_ttl_s,
        unknown_ttl_s=gw_settings.unknown_device_ttl_s,
    )
    with (
        Gateway(gw_settings, address, keys) as gateway,
        MetricsServer(gateway.metrics, LOOPBACK, settings.gateway_port) as endpoint,
    ):
        yield gateway, endpoint


@contextmanager
def _api(api_settings: ApiSettings, host: str, port: int, log_file: Path) -> Iterator[str]:
    """Serve the API on host:port (0: any free port); yield its URL once it serves.

    The relay, the indexer and the webhook notifier run in a process of their own (api.serve), so
    they do not share a GIL with the requests (nor with the gateway and oracles in this process).
    """
    with ApiProcesses(api_settings, serve_requests=False, log_file=log_file):
        requests_only = api_settings.model_copy(update={"run_workers": False, "prepare_on_start": False})
        with _api_server(requests_only, host, port) as url:
            yield url


@contextmanager
def _api_server(api_settings: ApiSettings, host: str, port: int) -> Iterator[str]:
    """Serve the API's requests from a thread on host:port; yield its URL once it serves."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(api_settings), log_config=None, timeout_graceful_shutdown=5, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="scf-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + API_START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        if not server.started:
            raise UpError("the API did not start: see the log in the data dir (logs/scf.log)")
        shown = LOOPBACK if host in ("0.0.0.0", "::", "") else host
        yield f"http://[{shown}]:{bound}" if ":" in shown else f"http://{shown}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


# ---------------------------------------------------------------------------------- output


class Progress:
    """Steps shown while starting: a spinner on a terminal, one line per finished step."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def step(self, doing: str, run: Callable[[], T], done: Callable[[T], str]) -> T:
        with self.console.status(f"{doing}…"):
            started = time.monotonic()
            result = run()
        self.console.print(
            f"[green]✓[/green] {done(result)} [dim]({time.monotonic() - started:.1f} s)[/dim]", soft_wrap=True
        )
        return result


def _summary(
    out: TextIO,
    data: DataDir,
    services: list[Service],
    health: list[Health],
    api_url: str,
    token: str,
    credentials: dict[str, Any] | None,
    fresh_credentials: bool,
) -> None:
    by_name = {h.service.name: h for h in health}
    lines = [f"scfnet network (data: {data.root})"]
    for service in services:
        detail = by_name[service.name].detail
        note = {
            "node": f"JSON-RPC, chain id {detail.get('chain_id')}",
            "mqtt": "MQTT (devices publish to devices/{device_id}/telemetry)",
            "gateway": "IoT gateway: /health /ready /metrics",
            "api": "API: /health /ready /metrics",
        }.get(service.name, "oracle: /proofs/{device}/{seq} /status /health /ready")
        lines.append(f"  {service.name:<10} {service.url:<28} {note}")
    lines.append(f"  {'docs':<10} {api_url}/docs")
    lines.append(f"operator token  {token}  (in {data.operator_token})")
    if credentials is not None:
        if fresh_credentials:
            lines.append(
                f"demo organisations (API keys shown once; kept in {data.demo_credentials}, mode 0600):"
            )
            for org in credentials["organisations"].values():
                roles = ",".join(org["roles"])
                lines.append(f"  {org['name']:<16} {roles:<10} org {org['org_id']:<3} {org['api_key']}")
        else:
            lines.append(f"demo organisations: API keys in {data.demo_credentials}")
    lines.append("ready")
    out.write("\n".join(lines) + "\n")
    out.flush()


def _log_to_file(data: DataDir) -> Path:
    """Everything at INFO (DEBUG with -v) to logs/scf.log in the data dir."""
    data.logs.mkdir(parents=True, exist_ok=True)
    path = data.logs / "scf.log"
    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.INFO)
    root.setLevel(min(root.level, logging.INFO))
    root.addHandler(handler)
    return path


# ---------------------------------------------------------------------------------- up


def run(settings: UpSettings, *, console: Console, out: TextIO) -> None:
    """Start the network, wait until every service is ready, and serve until interrupted."""
    _preflight(settings)
    data = DataDir(settings.data_dir)
    data.root.mkdir(parents=True, exist_ok=True)
    log_path = _log_to_file(data)
    stop = _Stop()
    with _signals(stop):
        try:
            _serve(settings, data, stop, Progress(console), out)
        except Interrupted:
            console.print("interrupted while starting; stopped")
            return
        except UpError:
            raise
        except Exception as exc:
            logger.exception("scf up failed")
            raise UpError(f"{type(exc).__name__}: {exc} (details in {log_path})") from exc


def _serve(settings: UpSettings, data: DataDir, stop: _Stop, progress: Progress, out: TextIO) -> None:
    if settings.chain == "anvil" and not settings.rpc_url:
        operator_key = ANVIL_DEV_KEY
    else:
        operator_key = secret(data.operator_key, lambda: Account.create().key.to_0x_hex())
    operator = Account.from_key(operator_key)
    master_key = secret(data.master_key, MasterKey.generate)
    token = secret(data.operator_token, lambda: f"scf_operator_{secrets.token_urlsafe(32)}")
    accounts = oracle_keys(data, settings.oracles)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")

    with ExitStack() as stack:
        rpc_url = progress.step(
            "starting the chain",
            lambda: stack.enter_context(_chain(settings, data, operator)),
            lambda url: f"chain       {url}",
        )
        stop.check()
        client = ChainClient.connect(rpc_url)
        deployment, _new = progress.step(
            "deploying the contracts",
            lambda: _deployment(data, client, operator),
            lambda d: (
                f"contracts   {'deployed' if d[1] else 'reused'} (manifest {data.manifest.name}, "
                f"chain id {d[0].chain_id})"
            ),
        )
        stop.check()
        if accounts:
            progress.step(
                "registering the oracle nodes",
                lambda: ensure_registered(client, deployment, operator, accounts),
                lambda q: f"signers     {q[1]} oracle signers on chain, quorum {q[0]}",
            )
        broker_url, broker = progress.step(
            "starting the MQTT broker",
            lambda: stack.enter_context(_broker(settings)),
            lambda b: f"mqtt        {b[1].url}{'' if settings.mqtt_url else ' (embedded)'}",
        )
        stop.check()
        _, endpoint = progress.step(
            "starting the IoT gateway",
            lambda: stack.enter_context(_gateway(settings, data, broker_url, rpc_url)),
            lambda g: f"gateway     {g[1].url}",
        )
        stop.check()
        oracles = progress.step(
            f"starting {len(accounts)} oracle nodes",
            lambda: stack.enter_context(
                running_oracles(
                    data, accounts, broker_url=broker_url, rpc_url=rpc_url, first_port=settings.oracle_port
                )
            ),
            lambda net: f"oracles     {' '.join(net.urls) or 'none'}",
        )
        stop.check()
        api_settings = ApiSettings(
            database_url=settings.database_url,
            rpc_url=rpc_url,
            manifest_path=data.manifest,
            data_dir=data.root,
            master_key=master_key,
            operator_key=operator_key,
            bootstrap_token=token,
            oracle_proof_urls=oracles.urls,
            metrics_token=settings.api_metrics_token,
        )
        api_url = progress.step(
            "starting the API",
            lambda: stack.enter_context(
                _api(api_settings, settings.api_host, settings.api_port, data.logs / "scf.log")
            ),
            lambda url: f"api         {url}",
        )
        services = [
            Service("node", "jsonrpc", rpc_url),
            Service("mqtt", "mqtt", broker.url),
            Service("gateway", "http", endpoint.url),
            *(Service(f"oracle-{i}", "http", url) for i, url in enumerate(oracles.urls)),
            Service("api", "http", api_url),
        ]
        record = {
            "pid": os.getpid(),
            "state": "starting",
            "started_at": started_at,
            "services": [s.as_json() for s in services],
            "docs": f"{api_url}/docs",
        }
        data.write_endpoints(record)
        stack.callback(lambda: data.write_endpoints({**record, "state": "stopped"}))
        health = progress.step(
            "waiting for every service to be ready",
            lambda: wait_ready(services, settings.ready_timeout_s, stopped=stop.event.is_set),
            lambda hs: f"ready       {len(hs)} services",
        )
        stop.check()
        not_ready = [h for h in health if not h.ready]
        if not_ready:
            names = ", ".join(f"{h.service.name} ({h.state})" for h in not_ready)
            raise UpError(f"not ready after {settings.ready_timeout_s:.0f} s: {names}")
        credentials, fresh_credentials = None, False
        if settings.demo_orgs:
            credentials = demo_orgs.read_credentials(data.demo_credentials)
            if credentials is None:
                credentials = progress.step(
                    "admitting the demo organisations",
                    lambda: demo_orgs.admit_cast(api_url, token, data.demo_credentials),
                    lambda c: f"demo orgs   {len(c['organisations'])} admitted",
                )
                fresh_credentials = True
        data.write_endpoints({**record, "state": "running"})
        _summary(out, data, services, health, api_url, token, credentials, fresh_credentials)
        while not stop.event.wait(0.5):
            pass
        progress.console.print("stopping: api, oracles, gateway, broker, chain…")
    progress.console.print("stopped")
