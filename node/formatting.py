"""Conversion between JSON-RPC values and py-evm objects (both directions)."""

from __future__ import annotations

from typing import Any

import rlp
from eth.abc import BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth_utils import keccak, to_checksum_address

from node.chain import CallRequest
from node.errors import InvalidParams

JSON = dict[str, Any]
BlockId = str | int | bytes  # tag, number, or block hash (EIP-1898)
BLOCK_TAGS = ("latest", "pending", "earliest", "safe", "finalized")


# -- input -------------------------------------------------------------------------


def quantity(value: Any, name: str) -> int:
    """Parse a hex QUANTITY ("0x1a"); plain ints are accepted for lenient clients."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.startswith(("0x", "0X")) and len(value) > 2:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise InvalidParams(f"invalid {name}: expected a hex quantity, got {value!r}")


def data(value: Any, name: str, size: int | None = None) -> bytes:
    """Parse hex DATA, optionally of an exact byte length."""
    if isinstance(value, str) and value.startswith(("0x", "0X")) and len(value) % 2 == 0:
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            raw = None
        if raw is not None and (size is None or len(raw) == size):
            return raw
    want = f"{size}-byte hex data" if size else "hex data"
    raise InvalidParams(f"invalid {name}: expected {want}, got {_short(value)}")


def address(value: Any, name: str = "address") -> bytes:
    """Parse a 20-byte address."""
    return data(value, name, 20)


def block_id(value: Any) -> BlockId:
    """Parse a block tag, number or EIP-1898 object."""
    if value is None:
        return "latest"
    if isinstance(value, str) and value in BLOCK_TAGS:
        return value
    if isinstance(value, dict):
        if "blockHash" in value:
            return data(value["blockHash"], "blockHash", 32)
        if "blockNumber" in value:
            return block_id(value["blockNumber"])
        raise InvalidParams("invalid block parameter: expected blockHash or blockNumber")
    return quantity(value, "block number")


def call_request(value: Any) -> CallRequest:
    """Parse a transaction call object."""
    if not isinstance(value, dict):
        raise InvalidParams("invalid transaction object: expected an object")
    raw_data = value.get("input", value.get("data"))

    def opt(key: str) -> int | None:
        return None if value.get(key) is None else quantity(value[key], key)

    return CallRequest(
        sender=address(value["from"], "from") if value.get("from") else b"\x00" * 20,
        to=address(value["to"], "to") if value.get("to") else b"",
        gas=opt("gas"),
        value=opt("value") or 0,
        data=data(raw_data, "input") if raw_data is not None else b"",
        nonce=opt("nonce"),
        gas_price=opt("gasPrice"),
        max_fee_per_gas=opt("maxFeePerGas"),
        max_priority_fee_per_gas=opt("maxPriorityFeePerGas"),
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- output ------------------------------------------------------------------------


def hexq(value: int) -> str:
    """Format a QUANTITY."""
    return hex(value)


def hexd(value: bytes) -> str:
    """Format DATA."""
    return "0x" + bytes(value).hex()


def _addr(value: bytes) -> str:
    return to_checksum_address(value)


def header_json(header: BlockHeaderAPI, size: int | None = None) -> JSON:
    """Format a header as the fields of an RPC block (also the newHeads payload)."""
    out: JSON = {
        "number": hexq(header.block_number),
        "hash": hexd(header.hash),
        "parentHash": hexd(header.parent_hash),
        "nonce": hexd(header.nonce),
        "mixHash": hexd(header.mix_hash),
        "sha3Uncles": hexd(header.uncles_hash),
        "logsBloom": hexd(header.bloom.to_bytes(256, "big")),
        "transactionsRoot": hexd(header.transaction_root),
        "stateRoot": hexd(header.state_root),
        "receiptsRoot": hexd(header.receipt_root),
        "miner": _addr(header.coinbase),
        "difficulty": hexq(header.difficulty),
        "totalDifficulty": hexq(0),
        "extraData": hexd(header.extra_data),
        "size": hexq(size if size is not None else len(rlp.encode(header))),
        "gasLimit": hexq(header.gas_limit),
        "gasUsed": hexq(header.gas_used),
        "timestamp": hexq(header.timestamp),
    }
    for attr, key in (
        ("base_fee_per_gas", "baseFeePerGas"),
        ("withdrawals_root", "withdrawalsRoot"),
        ("blob_gas_used", "blobGasUsed"),
        ("excess_blob_gas", "excessBlobGas"),
        ("parent_beacon_block_root", "parentBeaconBlockRoot"),
        ("requests_hash", "requestsHash"),
    ):
        value = getattr(header, attr, None)
        if value is not None:
            out[key] = hexq(value) if isinstance(value, int) else hexd(value)
    return out


def block_json(header: BlockHeaderAPI, txs: tuple[SignedTransactionAPI, ...], full: bool) -> JSON:
    """Format a block with transaction hashes or full transaction objects."""
    size = len(rlp.encode(header)) + sum(len(tx.encode()) for tx in txs) + 4
    out = header_json(header, size)
    if full:
        out["transactions"] = [tx_json(tx, header, i) for i, tx in enumerate(txs)]
    else:
        out["transactions"] = [hexd(tx.hash) for tx in txs]
    out["uncles"] = []
    if getattr(header, "withdrawals_root", None) is not None:
        out["withdrawals"] = []
    return out


def effective_gas_price(tx: SignedTransactionAPI, base_fee: int) -> int:
    """Return what the sender paid per gas in a block with this base fee."""
    if tx.type_id in (None, 1):
        return tx.gas_price
    return min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)


def tx_json(
    tx: SignedTransactionAPI,
    header: BlockHeaderAPI | None = None,
    index: int | None = None,
    sender: bytes | None = None,
) -> JSON:
    """Format a transaction; block fields are null while it is pending."""
    type_id = tx.type_id or 0
    out: JSON = {
        "hash": hexd(tx.hash),
        "type": hexq(type_id),
        "nonce": hexq(tx.nonce),
        "blockHash": hexd(header.hash) if header else None,
        "blockNumber": hexq(header.block_number) if header else None,
        "transactionIndex": hexq(index) if index is not None else None,
        "from": _addr(sender if sender is not None else tx.sender),
        "to": _addr(tx.to) if tx.to else None,
        "value": hexq(tx.value),
        "gas": hexq(tx.gas),
        "input": hexd(tx.data),
        "r": hexq(tx.r),
        "s": hexq(tx.s),
    }
    if type_id == 0:
        out["gasPrice"] = hexq(tx.gas_price)
        out["v"] = hexq(tx.v)
        if tx.chain_id is not None:
            out["chainId"] = hexq(tx.chain_id)
    else:
        out["chainId"] = hexq(tx.chain_id)
        out["v"] = hexq(tx.y_parity)
        out["yParity"] = hexq(tx.y_parity)
        out["accessList"] = [
            {"address": _addr(a), "storageKeys": [hexd(k.to_bytes(32, "big")) for k in keys]}
            for a, keys in tx.access_list
        ]
        if type_id == 1:
            out["gasPrice"] = hexq(tx.gas_price)
        else:
            out["maxFeePerGas"] = hexq(tx.max_fee_per_gas)
            out["maxPriorityFeePerGas"] = hexq(tx.max_priority_fee_per_gas)
            base_fee = getattr(header, "base_fee_per_gas", None) if header else None
            out["gasPrice"] = hexq(
                effective_gas_price(tx, base_fee) if base_fee is not None else tx.max_fee_per_gas
            )
        if type_id == 4:
            out["authorizationList"] = [
                {
                    "chainId": hexq(a.chain_id),
                    "address": _addr(a.address),
                    "nonce": hexq(a.nonce),
                    "yParity": hexq(a.y_parity),
                    "r": hexq(a.r),
                    "s": hexq(a.s),
                }
                for a in tx.authorization_list
            ]
    return out


def log_json(log: Any, header: BlockHeaderAPI, tx_hash: bytes, tx_index: int, log_index: int) -> JSON:
    """Format one log entry."""
    return {
        "address": _addr(log.address),
        "topics": [hexd(t.to_bytes(32, "big")) for t in log.topics],
        "data": hexd(log.data),
        "blockNumber": hexq(header.block_number),
        "blockHash": hexd(header.hash),
        "blockTimestamp": hexq(header.timestamp),
        "transactionHash": hexd(tx_hash),
        "transactionIndex": hexq(tx_index),
        "logIndex": hexq(log_index),
        "removed": False,
    }


def receipt_json(
    header: BlockHeaderAPI,
    txs: tuple[SignedTransactionAPI, ...],
    receipts: tuple[ReceiptAPI, ...],
    index: int,
) -> JSON:
    """Format the receipt of the index-th transaction of a block."""
    tx, receipt = txs[index], receipts[index]
    previous_gas = receipts[index - 1].gas_used if index else 0
    first_log = sum(len(r.logs) for r in receipts[:index])
    sender = tx.sender
    contract = _addr(keccak(rlp.encode([sender, tx.nonce]))[12:]) if not tx.to else None
    base_fee = getattr(header, "base_fee_per_gas", 0) or 0
    return {
        "transactionHash": hexd(tx.hash),
        "transactionIndex": hexq(index),
        "blockHash": hexd(header.hash),
        "blockNumber": hexq(header.block_number),
        "from": _addr(sender),
        "to": _addr(tx.to) if tx.to else None,
        "cumulativeGasUsed": hexq(receipt.gas_used),
        "gasUsed": hexq(receipt.gas_used - previous_gas),
        "effectiveGasPrice": hexq(effective_gas_price(tx, base_fee)),
        "contractAddress": contract,
        "logs": [log_json(log, header, tx.hash, index, first_log + i) for i, log in enumerate(receipt.logs)],
        "logsBloom": hexd(receipt.bloom.to_bytes(256, "big")),
        "type": hexq(tx.type_id or 0),
        "status": hexq(1 if receipt.state_root == b"\x01" else 0),
        "blobGasUsed": hexq(0),
    }
