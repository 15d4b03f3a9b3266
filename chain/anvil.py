"""Start and stop a local anvil node (npm @foundry-rs/anvil), the fast development chain."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ANVIL_BIN = PROJECT_ROOT / "node_modules" / ".bin" / "anvil"
# anvil's first well-known development account (public knowledge: never use it for value).
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


class AnvilUnavailable(RuntimeError):
    """anvil is not installed (run `make setup`) or did not start."""


@dataclass(frozen=True)
class Anvil:
    url: str
    chain_id: int
    process: subprocess.Popen[bytes]


def anvil_binary() -> Path:
    """The anvil executable: the project's npm install first, then PATH."""
    if ANVIL_BIN.exists():
        return ANVIL_BIN
    found = shutil.which("anvil")
    if found is None:
        raise AnvilUnavailable("anvil not found: run `make setup`")
    return Path(found)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_anvil(
    *, port: int | None = None, chain_id: int = 31337, block_time_s: float | None = None
) -> Iterator[Anvil]:
    """Run anvil on 127.0.0.1 for the duration of the block."""
    port = port or free_port()
    args = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id)]
    args += ["--silent", "--gas-limit", "60000000"]
    if block_time_s:
        args += ["--block-time", str(block_time_s)]
    # Its own session: a terminal's Ctrl-C reaches only its owner, which stops it last (after the
    # services using it), not at once.
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield Anvil(url=url, chain_id=chain_id, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise AnvilUnavailable(f"anvil exited with {process.returncode}: {stderr.strip()}")
        try:
            requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AnvilUnavailable(f"anvil did not answer on {url} within {timeout_s}s")
