"""WebSocket JSON-RPC: web3's WebSocketProvider, eth_subscribe newHeads and logs."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from web3 import AsyncWeb3, WebSocketProvider

from node.testing import RunningNode
from tests.node import bytecode


async def next_message(w3: AsyncWeb3) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for message in w3.socket.process_subscriptions():
            return message
        raise AssertionError("subscription stream ended")

    return await asyncio.wait_for(first(), timeout=10)


def test_websocket_serves_requests_and_new_heads(node: RunningNode) -> None:
    async def scenario() -> None:
        async with AsyncWeb3(WebSocketProvider(node.ws_url)) as w3:
            assert await w3.eth.chain_id == 1337
            accounts = await w3.eth.accounts
            sub_id = await w3.eth.subscribe("newHeads")
            tx_hash = await w3.eth.send_transaction({"from": accounts[0], "to": accounts[1], "value": 1})
            receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
            message = await next_message(w3)
            assert message["subscription"] == sub_id
            assert message["result"]["number"] == receipt.blockNumber
            assert message["result"]["hash"] == receipt.blockHash
            assert await w3.eth.unsubscribe(sub_id) is True
            again = await w3.provider.make_request("eth_unsubscribe", [sub_id])
            assert again["result"] is False

    asyncio.run(scenario())


def test_websocket_logs_subscription_filters_by_address(node: RunningNode) -> None:
    async def scenario() -> None:
        async with AsyncWeb3(WebSocketProvider(node.ws_url)) as w3:
            sender = (await w3.eth.accounts)[0]
            deployed = []
            for _ in range(2):
                tx_hash = await w3.eth.send_transaction(
                    {"from": sender, "data": bytecode.deployer(bytecode.emitter_runtime())}
                )
                receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
                deployed.append(receipt.contractAddress)
            watched, ignored = deployed
            sub_id = await w3.eth.subscribe("logs", {"address": watched, "topics": [bytecode.PING_TOPIC]})
            await w3.eth.send_transaction({"from": sender, "to": ignored, "data": (1).to_bytes(32, "big")})
            tx_hash = await w3.eth.send_transaction(
                {"from": sender, "to": watched, "data": (2).to_bytes(32, "big")}
            )
            message = await next_message(w3)
            assert message["subscription"] == sub_id
            log = message["result"]
            assert log["address"] == watched
            assert log["transactionHash"] == tx_hash
            assert int.from_bytes(log["data"], "big") == 2

    asyncio.run(scenario())


def test_websocket_rejects_unknown_subscription_and_bad_json(node: RunningNode) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(node.ws_url) as ws:
            await ws.send_json({"jsonrpc": "2.0", "id": 7, "method": "eth_subscribe", "params": ["syncing"]})
            answer = await ws.receive_json(timeout=10)
            assert answer["id"] == 7 and answer["error"]["code"] == -32602
            await ws.send_str("{oops")
            assert (await ws.receive_json(timeout=10))["error"]["code"] == -32700
            await ws.send_json(
                [
                    {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
                    {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber"},
                ]
            )
            batch = await ws.receive_json(timeout=10)
            assert [a["result"] for a in batch] == ["0x539", "0x0"]

    asyncio.run(scenario())
