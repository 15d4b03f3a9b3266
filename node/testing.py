"""Run a node in-process on a free port, for tests and scripts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.server import Node, start
from node.settings import NodeSettings


@dataclass(frozen=True)
class RunningNode:
    """Where a started node listens, and the node itself (touch it only via `call`)."""

    http_url: str
    ws_url: str
    settings: NodeSettings
    node: Node
    loop: asyncio.AbstractEventLoop

    def call(self, fn: Any, *args: Any) -> Any:
        """Run a function on the node's chain thread and return its result."""
        future = asyncio.run_coroutine_threadsafe(self.node.run(fn, *args), self.loop)
        return future.result(timeout=60)


@contextmanager
def running_node(tmp_path: Path, **overrides: Any) -> Iterator[RunningNode]:
    """Start a node on 127.0.0.1 with a free port and a data dir under tmp_path."""
    params: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "dev": True, "data_dir": tmp_path / "node"}
    params.update(overrides)
    settings = NodeSettings(**params)
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            node, runner, port = loop.run_until_complete(start(settings))
            started.update(node=node, runner=runner, port=port)
        except BaseException as exc:  # surfaced to the caller below
            started["error"] = exc
        finally:
            ready.set()
        if "error" not in started:
            loop.run_forever()
            loop.run_until_complete(started["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="scf-node-loop", daemon=True)
    thread.start()
    ready.wait(timeout=60)
    if "error" in started:
        thread.join()
        raise started["error"]
    port = started["port"]
    try:
        yield RunningNode(
            f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", settings, started["node"], loop
        )
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=60)
