"""`scf demo`: the reference story against a running network, or one it starts for the purpose.

With `--data-dir` of a network `scf up` runs, the story runs against it. Otherwise the demo
starts `scf up` in a subprocess on free ports, runs the story, and stops the network again; in
a throw-away data dir (no `--data-dir`) the embedded node runs with its dev clock, so step 11
happens at maturity, 91 days on. Elsewhere Huaxin repays early, which the contract allows. Each run
admits its own cast under a run suffix, so the demo can run again and again on one network.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from sqlalchemy import create_engine, text

from chain.errors import ChainError
from chain.jsonrpc import JsonRpc, RpcError
from scripts.datadir import DataDir
from scripts.probes import Service, wait_ready
from scripts.story import Story, StoryDeviation

START_TIMEOUT_S = 180.0


class DemoError(RuntimeError):
    """The demo could not reach or start a network."""


@dataclass(frozen=True)
class Network:
    """What the demo needs of a running network."""

    data: DataDir
    services: dict[str, str]  # name -> URL
    operator_token: str
    database_url: str | None

    @property
    def api_url(self) -> str:
        return self.services["api"]

    @property
    def rpc_url(self) -> str:
        return self.services["node"]

    @property
    def mqtt_url(self) -> str:
        return self.services["mqtt"]

    def oracle_keys(self) -> list[str]:
        found = sorted(self.data.root.glob("oracles/oracle-*.key"))
        return [p.read_text(encoding="utf-8").strip() for p in found]


def attach(data_dir: Path, database_url: str | None = None, timeout_s: float = 30.0) -> Network:
    """The network `scf up` runs from `data_dir`, once every service is ready."""
    data = DataDir(data_dir)
    record = data.read_endpoints()
    if record is None or record.get("state") != "running":
        raise DemoError(f"no running network recorded in {data.root} (start one with `scf up`)")
    services = [Service(s["name"], s["kind"], s["url"]) for s in record["services"]]
    not_ready = [h.service.name for h in wait_ready(services, timeout_s) if not h.ready]
    if not_ready:
        raise DemoError(
            f"services not ready: {', '.join(not_ready)} (see `scf status --data-dir {data.root}`)"
        )
    if database_url is None and (data.root / "api.db").exists():
        database_url = f"sqlite:///{data.root / 'api.db'}"
    token = data.operator_token.read_text(encoding="utf-8").strip()
    return Network(data, {s.name: s.url for s in services}, token, database_url)


@contextmanager
def started(
    up_args: list[str], console: Console, keep: Path | None = None, *, dev: bool = False
) -> Iterator[Path]:
    """Run `scf up` on free ports in a subprocess until the block ends; yield its data dir."""
    with tempfile.TemporaryDirectory(prefix="scf-demo-") as tmp:
        data_dir = keep or Path(tmp) / "data"
        ports = [
            "--node-port",
            "0",
            "--mqtt-port",
            "0",
            "--gateway-port",
            "0",
            "--oracle-port",
            "0",
            "--port",
            "0",
        ]
        args = [sys.executable, "-m", "scripts.cli", "up", "--data-dir", str(data_dir), *ports]
        args += ["--no-demo-orgs", *up_args]
        if dev and "--chain" not in up_args and "--rpc" not in up_args:
            args.append("--dev")
        console.print(f"[dim]starting the network: scf {' '.join(args[3:])}[/dim]")
        log = (Path(tmp) / "up.log").open("w+", encoding="utf-8")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_running(DataDir(data_dir), process, log)
            yield data_dir
        finally:
            _stop(process)
            log.close()


def _wait_running(data: DataDir, process: subprocess.Popen[bytes], log: object) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"scf up exited with {process.returncode}:\n{_tail(log)}")
        record = data.read_endpoints() if data.endpoints.exists() else None
        if record is not None and record.get("state") == "running":
            return
        time.sleep(0.2)
    raise DemoError(f"the network was not running after {START_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def _tail(log: object) -> str:
    log.seek(0)  # type: ignore[attr-defined]
    return "".join(log.readlines()[-30:])  # type: ignore[attr-defined]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def dev_clock(rpc_url: str) -> Callable[[int], None] | None:
    """Move the chain's clock, where the chain lets us (anvil, an embedded node with --dev)."""
    rpc = JsonRpc(rpc_url)
    try:
        rpc.call("evm_increaseTime", [0])
    except RpcError:
        return None

    def advance(seconds: int) -> None:
        rpc.call("evm_increaseTime", [seconds])
        rpc.call("evm_mine")

    return advance


def chain_clock(rpc_url: str) -> Callable[[], int]:
    """The timestamp of the chain's latest block."""
    rpc = JsonRpc(rpc_url)
    return lambda: int(rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)


def row_tamperer(database_url: str) -> Callable[[str, int], None]:
    """Alter a piece's amount in the API's database directly, as an intruder would."""

    def tamper(piece_id: str, amount_minor: int) -> None:
        engine = create_engine(database_url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    text("UPDATE piece SET amount_minor = :amount WHERE id = :id"),
                    {"amount": amount_minor, "id": piece_id},
                )
        finally:
            engine.dispose()

    return tamper


def run_story(network: Network, console: Console, *, move_clock: bool, run_id: str | None = None) -> Story:
    from scripts.goods_story import GoodsStory

    with httpx.Client(base_url=network.api_url, timeout=60.0) as http:
        story = Story(
            http,
            network.operator_token,
            console=console,
            advance_clock=dev_clock(network.rpc_url) if move_clock else None,
            chain_time=chain_clock(network.rpc_url),
            tamper=row_tamperer(network.database_url) if network.database_url else None,
            goods=GoodsStory(
                network.rpc_url,
                network.mqtt_url,
                network.data.manifest,
                network.oracle_keys(),
                gateway_url=network.services.get("gateway"),
            ),
            run_id=run_id if run_id is not None else secrets.token_hex(2),
        )
        story.run()
    return story


def main(data_dir: Path | None, up_args: list[str], database_url: str | None, console: Console) -> int:
    """Run the story; 0 if every step went as written, 1 if one did not, 2 if no network."""
    for noisy in ("httpx", "httpcore"):  # one line per request would drown the story
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        record = DataDir(data_dir).read_endpoints() if data_dir is not None else None
        if data_dir is not None and record is not None and record.get("state") == "running":
            network = attach(data_dir, database_url)
            console.print(f"[dim]running against the network in {network.data.root}[/dim]")
            run_story(network, console, move_clock=False)  # not ours: its clock stays where it is
            return 0
        # Only a network made for this run and thrown away after it gets its clock moved 91 days
        # on: in a data dir that is kept, the oracles' reports (stamped with the wall clock) would
        # look 91 days stale to the chain from then on.
        disposable = data_dir is None
        if database_url and "--database-url" not in up_args:
            up_args = [*up_args, "--database-url", database_url]
        with started(up_args, console, keep=data_dir, dev=disposable) as started_dir:
            network = attach(started_dir, database_url or _database_flag(up_args))
            run_story(network, console, move_clock=disposable)
        return 0
    except StoryDeviation as exc:
        console.print(f"\n[bold red]The story did not run as written:[/bold red] {exc}")
        return 1
    except (DemoError, ChainError, httpx.HTTPError, OSError) as exc:
        console.print(f"[bold red]demo failed:[/bold red] {exc}")
        return 2


def _database_flag(up_args: list[str]) -> str | None:
    if "--database-url" in up_args:
        return up_args[up_args.index("--database-url") + 1]
    return os.environ.get("SCF_API_DATABASE_URL")
