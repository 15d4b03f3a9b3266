"""HTTP + WebSocket JSON-RPC server on one port, interval mining, eth_subscribe."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from eth.abc import BlockHeaderAPI

from node import formatting as fmt
from node.chain import Ledger
from node.chainthread import ChainThread
from node.errors import InvalidParams, InvalidRequest, NodeError, ParseError
from node.permissioning import Permissioning
from node.rpc import Dispatcher, block_logs, parse_log_filter
from node.settings import NodeSettings
from node.storage import LmdbStore

logger = logging.getLogger(__name__)


@dataclass
class _Subscription:
    kind: str
    conn: _Connection
    addresses: list[bytes] = field(default_factory=list)
    topics: list[list[bytes] | None] = field(default_factory=list)


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    subscriptions: set[str] = field(default_factory=set)


class Node:
    """One node: ledger, dispatcher and the aiohttp application serving them."""

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.store = LmdbStore(settings.data_dir / "chain")
        try:
            self.ledger = Ledger(settings, self.store)
        except BaseException:
            self.store.close()  # release the data-dir lock
            raise
        self.permissioning = Permissioning(
            self.ledger,
            operator=_addr(settings.operator_address),
            registry=_addr(settings.registry_address),
            dev=settings.dev,
        )
        self.ledger.permission_check = self.permissioning.check
        self.ledger.registry = self.permissioning.registry
        self.dispatcher = Dispatcher(self.ledger, settings)
        # py-evm is single-threaded: every chain operation runs on this one worker, which also
        # builds the next block between requests when mining at intervals.
        building = self.ledger.build_step if settings.mining_interval_s > 0 else None
        self.chain_thread = ChainThread(background=building)
        self._subs: dict[str, _Subscription] = {}
        self._subs_lock = threading.Lock()
        self._sub_ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[_Connection] = set()
        self._miner: asyncio.Task[None] | None = None
        self.ledger.listeners.append(self._on_block)

    # -- lifecycle -----------------------------------------------------------------

    def app(self) -> web.Application:
        """Return the aiohttp application (POST and WebSocket upgrade on `/`)."""
        app = web.Application(client_max_size=self.settings.max_request_bytes)
        app.router.add_route("*", "/", self._handle)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, _app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()
        if self.settings.mining_interval_s > 0:
            self._miner = asyncio.create_task(self._mine_forever())

    async def _on_shutdown(self, _app: web.Application) -> None:
        # Open websockets would otherwise hold shutdown until aiohttp's timeout.
        for conn in list(self._connections):
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"node shutting down")

    async def _on_cleanup(self, _app: web.Application) -> None:
        if self._miner is not None:
            self._miner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._miner
        await self.run(self._settle_quietly)  # drain queued chain work, finish the last disk write
        self.chain_thread.shutdown()
        self.store.close()
        logger.info("node stopped at block %s", self.ledger.head.block_number)

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run a function on the chain thread."""
        return await asyncio.wrap_future(self.chain_thread.submit(fn, *args))

    async def _mine_forever(self) -> None:
        """Interval mining: seal the block the chain thread has been building, once per interval.

        The chain thread executes pooled transactions into the next block in short steps between
        requests (`Ledger.build_step`), so clients are not held up by a whole block's execution
        and the chain thread works while they prepare their next request. Sealing starts the
        block's disk write; admission goes on during it, and its receipts show once on disk.
        """
        interval = self.settings.mining_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run(self.ledger.seal_draft)
            except Exception:
                logger.exception("mining failed")
            flush = self.store.flushing
            if flush is not None:
                await asyncio.wait([asyncio.wrap_future(flush)])
            await self.run(self._settle_quietly)

    def _settle_quietly(self) -> None:
        try:
            self.ledger.settle(wait=True)
        except NodeError:
            pass  # logged by the ledger

    # -- HTTP ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._handle_ws(request)
        if request.method != "POST":
            return web.Response(status=405, text="POST JSON-RPC or upgrade to WebSocket\n")
        body = await request.read()  # raises 413 above client_max_size
        answer = await self._answer(body, conn=None)
        if answer is None:
            return web.Response(status=204)
        return web.Response(text=answer, content_type="application/json")

    async def _answer(self, body: bytes | str, conn: _Connection | None) -> str | None:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return json.dumps(
                {"jsonrpc": "2.0", "id": None, "error": ParseError(f"parse error: {exc}").to_json()}
            )
        if conn is not None:
            result = await self._ws_payload(payload, conn)
        else:
            result = await self.run(self.dispatcher.handle, payload)
        return None if result is None else json.dumps(result)

    # -- WebSocket -----------------------------------------------------------------

    async def _handle_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=self.settings.max_request_bytes, heartbeat=30)
        await ws.prepare(request)
        conn = _Connection(ws)
        self._connections.add(conn)
        writer = asyncio.create_task(self._ws_writer(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT or msg.type == WSMsgType.BINARY:
                    answer = await self._answer(msg.data, conn)
                    if answer is not None:
                        conn.outbox.put_nowait(answer)
                elif msg.type == WSMsgType.ERROR:
                    logger.info("websocket closed with %s", ws.exception())
        finally:
            self._connections.discard(conn)
            with self._subs_lock:
                for sub_id in conn.subscriptions:
                    self._subs.pop(sub_id, None)
            writer.cancel()
        return ws

    async def _ws_writer(self, conn: _Connection) -> None:
        while True:
            text = await conn.outbox.get()
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _ws_payload(self, payload: Any, conn: _Connection) -> Any:
        if isinstance(payload, list) and payload:
            answers = [await self._ws_one(item, conn) for item in payload]
            return [a for a in answers if a is not None] or None
        return await self._ws_one(payload, conn)

    async def _ws_one(self, request: Any, conn: _Connection) -> Any:
        method = request.get("method") if isinstance(request, dict) else None
        if method not in ("eth_subscribe", "eth_unsubscribe"):
            return await self.run(self.dispatcher.handle, request)
        try:
            params = request.get("params", [])
            if not isinstance(params, list) or not params:
                raise InvalidParams(f"{method} needs params")
            if method == "eth_subscribe":
                result: Any = self._subscribe(params, conn)
            else:
                result = self._unsubscribe(params[0], conn)
        except NodeError as exc:
            return {"jsonrpc": "2.0", "id": request.get("id"), "error": exc.to_json()}
        return {"jsonrpc": "2.0", "id": request.get("id"), "result": result}

    def _subscribe(self, params: list[Any], conn: _Connection) -> str:
        kind = params[0]
        if kind == "newHeads":
            sub = _Subscription("newHeads", conn)
        elif kind == "logs":
            query = params[1] if len(params) > 1 and params[1] is not None else {}
            if not isinstance(query, dict):
                raise InvalidParams("logs filter must be an object")
            addresses, topics = parse_log_filter(query)
            sub = _Subscription("logs", conn, addresses, topics)
        else:
            raise InvalidRequest(f"unsupported subscription type {kind!r}", code=-32602)
        sub_id = fmt.hexq(next(self._sub_ids) * 0x9E3779B1 % 2**64)
        with self._subs_lock:
            self._subs[sub_id] = sub
        conn.subscriptions.add(sub_id)
        return sub_id

    def _unsubscribe(self, sub_id: Any, conn: _Connection) -> bool:
        if sub_id not in conn.subscriptions:
            return False
        conn.subscriptions.discard(sub_id)
        with self._subs_lock:
            self._subs.pop(sub_id, None)
        return True

    def _on_block(self, header: BlockHeaderAPI) -> None:
        """Build notifications on the chain thread, hand them to the loop."""
        with self._subs_lock:
            subs = list(self._subs.items())
        if not subs or self._loop is None:
            return
        head_json: dict[str, Any] | None = None
        messages: list[tuple[_Connection, str]] = []
        for sub_id, sub in subs:
            if sub.kind == "newHeads":
                head_json = head_json or fmt.header_json(header)
                results: list[Any] = [head_json]
            else:
                results = block_logs(self.ledger, header, sub.addresses, sub.topics)
            for result in results:
                messages.append(
                    (
                        sub.conn,
                        json.dumps(
                            {
                                "jsonrpc": "2.0",
                                "method": "eth_subscription",
                                "params": {"subscription": sub_id, "result": result},
                            }
                        ),
                    )
                )
        if messages:
            self._loop.call_soon_threadsafe(_deliver, messages)


def _deliver(messages: list[tuple[_Connection, str]]) -> None:
    for conn, text in messages:
        conn.outbox.put_nowait(text)


def _addr(value: str | None) -> bytes | None:
    return bytes.fromhex(value[2:]) if value else None


def write_endpoint_file(settings: NodeSettings, port: int) -> None:
    """Record where the node listens (`<data_dir>/rpc.json`) for scripts and tests."""
    info = {
        "http": f"http://{settings.host}:{port}",
        "ws": f"ws://{settings.host}:{port}",
        "pid": os.getpid(),
        "chain_id": settings.chain_id,
    }
    tmp = settings.data_dir / "rpc.json.tmp"
    tmp.write_text(json.dumps(info))
    tmp.replace(settings.data_dir / "rpc.json")


async def start(settings: NodeSettings) -> tuple[Node, web.AppRunner, int]:
    """Start a node on the running loop; return it, its runner and the bound port."""
    node = Node(settings)
    runner = web.AppRunner(node.app(), access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    write_endpoint_file(settings, port)
    logger.info(
        "node chain_id=%s listening on http://%s:%s (ws on the same port), block %s, dev=%s",
        settings.chain_id,
        settings.host,
        port,
        node.ledger.head.block_number,
        settings.dev,
    )
    return node, runner, port


def serve(settings: NodeSettings) -> None:
    """Run a node until SIGINT/SIGTERM (blocking)."""
    import signal

    async def main() -> None:
        _node, runner, _port = await start(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())
