"""The workers' fast paths give what the slow ones gave.

The indexer decodes raw JSON-RPC logs itself and applies a whole chunk of blocks with a few bulk
statements; the relay encodes calls with eth_abi directly. Each must agree with web3.py's
decoding and encoding, byte for byte and field for field. The shared rate limiter gives one budget
to every process that opens its file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from sqlmodel import Session, select
from web3._utils.events import get_event_data

from api.indexer import event_args
from api.models import ChainEvent, Notification, OutboxEntry
from api.ratelimit import SharedRateLimiter
from api.relay import _coerce
from chain.jsonrpc import JsonRpc
from tests.api.conftest import Network
from tests.api.support import admit, invoice_form, pdf


def _batch(network: Network, count: int) -> list[str]:
    huaxin = admit(network, "perf-buyer", ["CORE_FIRM"])
    delta = admit(network, "perf-seller", ["SUPPLIER"])
    forms = [invoice_form(f"PERF-{i}", huaxin, f"{1000 + i}.00") for i in range(count)]
    r = network.client.post(
        "/invoices/batch?wait=true",
        data={"invoices": json.dumps(forms)},
        files=[("documents", (f"{i}.pdf", pdf(f"perf {i}"), "application/pdf")) for i in range(count)],
        headers=delta.headers,
    )
    assert r.status_code == 201, r.text
    ids = [row["id"] for row in r.json()["result"]]
    r = network.client.post(
        "/invoices/confirm-batch?wait=true", json={"invoice_ids": ids}, headers=huaxin.headers
    )
    assert r.status_code == 200, r.text
    return ids


def test_raw_log_decoding_matches_web3_and_a_batch_is_indexed_once(network: Network) -> None:
    ids = _batch(network, 40)
    runtime = network.client.app.state.runtime
    indexer = runtime.indexer
    w3 = runtime.client.w3
    start = runtime.deployment.block_number
    raw = JsonRpc(network.settings.rpc_url).call(
        "eth_getLogs",
        [{"fromBlock": hex(start), "toBlock": "latest", "address": indexer._addresses}],  # noqa: SLF001
    )
    formatted = w3.eth.get_logs({"fromBlock": start, "toBlock": "latest", "address": indexer._addresses})  # noqa: SLF001
    assert len(raw) == len(formatted) > 80
    for plain, log in zip(raw, formatted, strict=True):
        ours = indexer._decode(plain)  # noqa: SLF001
        abi = indexer._events.get(bytes(log["topics"][0]))  # noqa: SLF001
        if abi is None:
            assert ours is None
            continue
        theirs = get_event_data(w3.codec, abi, log)
        assert ours is not None and ours.name == theirs["event"]
        assert ours.args == event_args(abi, theirs["args"])
        assert (ours.block_number, ours.log_index) == (log["blockNumber"], log["logIndex"])
        assert (ours.tx_hash, ours.block_hash) == (
            log["transactionHash"].to_0x_hex(),
            log["blockHash"].to_0x_hex(),
        )
    with Session(runtime.engine) as session:
        events = session.exec(select(ChainEvent)).all()
        assert len(events) == len({(e.tx_hash, e.log_index) for e in events})
        confirmed = [e for e in events if e.name == "ReceivableConfirmed"]
        assert sorted(e.subject for e in confirmed) == sorted(ids)
        # One notification per confirmation, to the seller, pointing at its event.
        notes = session.exec(select(Notification).where(Notification.type == "invoice.confirmed")).all()
        assert sorted(n.subject for n in notes) == sorted(ids)
        by_id = {e.id: e for e in confirmed}
        assert all(by_id[n.chain_event_id].log_index == n.log_index for n in notes)  # type: ignore[index]


def test_relay_encoding_matches_web3(network: Network) -> None:
    _batch(network, 3)
    runtime = network.client.app.state.runtime
    relay = runtime.relay
    with Session(runtime.engine) as session:
        entries = session.exec(select(OutboxEntry).where(OutboxEntry.contract != "native")).all()
    assert {e.function for e in entries} >= {"registerBatch", "confirmBatch"}
    for entry in entries:
        contract = relay._contracts[entry.contract]  # noqa: SLF001
        abi: dict[str, Any] = next(
            i for i in contract.abi if i.get("type") == "function" and i["name"] == entry.function
        )
        args = [_coerce(t, v) for t, v in zip(abi["inputs"], entry.args, strict=True)]
        expected = getattr(contract.functions, entry.function)(*args)._encode_transaction_data()
        assert HexBytes(relay._call(entry)["data"]) == HexBytes(expected), entry.function  # noqa: SLF001


def test_shared_rate_limiter_gives_one_budget_to_every_process(tmp_path: Path) -> None:
    path = tmp_path / "buckets"
    SharedRateLimiter.reset(path)
    processes = [SharedRateLimiter(30, path) for _ in range(3)]  # each opens the file: as processes do
    granted = [processes[i % 3].allow(7) == 0 for i in range(40)]
    assert granted.count(True) == 30 and not any(granted[31:])
    assert processes[0].allow(8) == 0  # another member has a bucket of its own
    wait_s = processes[1].allow(7)
    assert 0 < wait_s <= 2.0  # one token comes back every 2 s at 30 a minute
    for limiter in processes:
        limiter.close()
