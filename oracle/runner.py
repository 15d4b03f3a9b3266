"""Run an oracle node: in the foreground (the CLI) or on a thread of its own (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from chain.keccak import use_native_keccak
from oracle.node import OracleNode
from oracle.rules import RulesConfig
from oracle.settings import OracleSettings


def serve(settings: OracleSettings) -> None:
    """Run a node until SIGINT/SIGTERM."""
    use_native_keccak()  # signing and checking reports, addresses: eth-hash's C backend when installed

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await OracleNode(settings).run(stop)

    asyncio.run(main())


@dataclass
class RunningOracle:
    """A node running on its own thread; read `node` only for counters and the database path."""

    node: OracleNode
    loop: asyncio.AbstractEventLoop
    stop_event: asyncio.Event
    thread: threading.Thread

    @property
    def http_url(self) -> str:
        return f"http://{self.node.settings.http_host}:{self.node.http_port}"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout=30)


@contextmanager
def running_oracle(settings: OracleSettings, *, rules: RulesConfig | None = None) -> Iterator[RunningOracle]:
    """Start a node on a thread, wait until it is connected, stop it on exit."""
    handle = start_oracle(settings, rules=rules)
    try:
        yield handle
    finally:
        handle.stop()


def start_oracle(settings: OracleSettings, *, rules: RulesConfig | None = None) -> RunningOracle:
    """Start a node on a thread and wait until it is connected to broker and chain."""
    loop = asyncio.new_event_loop()
    node = OracleNode(settings, rules=rules)
    stop = asyncio.Event()
    failure: list[BaseException] = []
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            task = asyncio.create_task(node.run(stop))
            ready = asyncio.create_task(node.ready.wait())
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
            started.set()
            await task

        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # surfaced to the starter
            failure.append(exc)
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=run, name=f"scf-oracle-{settings.node_index}", daemon=True)
    thread.start()
    started.wait(timeout=60)
    if failure:
        thread.join()
        raise failure[0]
    return RunningOracle(node, loop, stop, thread)
