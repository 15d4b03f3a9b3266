"""The node's small read-only HTTP endpoint: reading proofs and status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from oracle.errors import ProofUnavailable
from oracle.proofs import ProofStore

if TYPE_CHECKING:
    from oracle.node import OracleNode

_PROOFS = web.AppKey("proofs", ProofStore)
_NODE = web.AppKey("node", object)


async def _proof(request: web.Request) -> web.Response:
    device = request.match_info["device"]
    try:
        seq = int(request.match_info["seq"])
    except ValueError:
        return web.json_response({"code": "invalid_seq", "detail": "seq must be an integer"}, status=400)
    try:
        proof = request.app[_PROOFS].proof(device, seq)
    except ProofUnavailable as exc:
        status = 404 if exc.reason == "unknown_reading" else 409
        return web.json_response({"code": exc.reason, "detail": str(exc)}, status=status)
    return web.json_response(proof.as_json())


async def _status(request: web.Request) -> web.Response:
    node: OracleNode = request.app[_NODE]  # type: ignore[assignment]
    return web.json_response(node.status())


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _ready(request: web.Request) -> web.Response:
    """200 once the node has started and while it is connected to the broker; 503 otherwise."""
    node: OracleNode = request.app[_NODE]  # type: ignore[assignment]
    link = node._mqtt
    connected = link is not None and link.connected.is_set()
    ready = node.ready.is_set() and connected
    body = {
        "status": "ready" if ready else "not_ready",
        "node": node.settings.node_index,
        "broker": connected,
    }
    return web.json_response(body, status=200 if ready else 503)


def make_app(node: OracleNode) -> web.Application:
    app = web.Application()
    app[_PROOFS] = ProofStore(node.store.path)
    app[_NODE] = node
    app.router.add_get("/proofs/{device}/{seq}", _proof)
    app.router.add_get("/status", _status)
    app.router.add_get("/health", _health)
    app.router.add_get("/ready", _ready)

    async def close(app: web.Application) -> None:
        app[_PROOFS].close()

    app.on_cleanup.append(close)
    return app


async def start_http(node: OracleNode, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve the node's endpoint; return the runner and the bound port."""
    runner = web.AppRunner(make_app(node), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    return runner, sockets[0].getsockname()[1] if sockets else port
