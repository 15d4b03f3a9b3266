"""JSON-RPC 2.0 dispatch: request validation, method table, error mapping, batches.

`Dispatcher.handle` runs on the chain thread and never raises: every failure becomes a
JSON-RPC error object, so one bad request cannot stop the node.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from typing import Any

from eth.abc import BlockHeaderAPI
from eth_bloom import BloomFilter
from eth_keys import keys
from eth_utils import to_checksum_address

from node import formatting as fmt
from node.chain import CallRequest, Ledger
from node.errors import (
    InvalidParams,
    InvalidRequest,
    LimitExceeded,
    MethodNotFound,
    NodeError,
    ResourceNotFound,
    TransactionRejected,
)
from node.settings import NodeSettings

logger = logging.getLogger(__name__)

CLIENT_VERSION = f"scfnet-node/0.1.0/py-evm/python{platform.python_version()}"
DEFAULT_TIP_WEI = 10**9
MAX_BATCH = 1000
MAX_LOGS = 10_000

Handler = Callable[..., Any]


class Dispatcher:
    """Maps method names to handlers over one ledger."""

    def __init__(self, ledger: Ledger, settings: NodeSettings) -> None:
        self.ledger = ledger
        self.settings = settings
        self._dev_keys = {k.public_key.to_canonical_address(): k for k in ledger.dev_keys}
        self.methods: dict[str, Handler] = {}
        for name in dir(self):
            if name.startswith(("eth_", "net_", "web3_")):
                self.methods[name] = getattr(self, name)
        dev_only = (
            "evm_snapshot",
            "evm_revert",
            "evm_mine",
            "evm_increaseTime",
            "evm_setNextBlockTimestamp",
            "anvil_setBalance",
        )
        self.dev_methods = {name: getattr(self, name) for name in dev_only}
        for name in ("eth_accounts", "eth_sendTransaction"):
            self.dev_methods[name] = self.methods.pop(name)

    # -- envelope ------------------------------------------------------------------

    def handle(self, payload: Any) -> Any:
        """Answer a parsed request or batch; None when nothing is to be sent back."""
        try:
            self.ledger.settle()  # show a block whose disk write has just finished
        except NodeError:
            pass  # logged by the ledger; the request is still answered
        if isinstance(payload, list):
            if not payload:
                return _error(None, InvalidRequest("empty batch"))
            if len(payload) > MAX_BATCH:
                return _error(None, InvalidRequest(f"batch larger than {MAX_BATCH}"))
            answers = [self.handle_one(item) for item in payload]
            return [a for a in answers if a is not None] or None
        return self.handle_one(payload)

    def handle_one(self, request: Any) -> dict[str, Any] | None:
        """Answer one request object; None for a notification."""
        if not isinstance(request, dict):
            return _error(None, InvalidRequest("request must be an object"))
        req_id = request.get("id")
        if (
            request.get("jsonrpc") != "2.0"
            or not isinstance(request.get("method"), str)
            or not isinstance(req_id, (str, int, type(None)))
            or isinstance(req_id, bool)
        ):
            return _error(
                req_id, InvalidRequest('invalid request: need jsonrpc "2.0", a string method and a scalar id')
            )
        try:
            result = self.call(request["method"], request.get("params", []))
        except NodeError as exc:
            return _error(req_id, exc) if "id" in request else None
        except Exception as exc:
            logger.exception("internal error in %s", request["method"])
            return _error(req_id, NodeError(f"internal error: {exc}", code=-32603))
        if "id" not in request:
            return None
        return {"jsonrpc": "2.0", "id": req_id, "result": result}

    def call(self, method: str, params: Any) -> Any:
        """Invoke a method with positional params."""
        if isinstance(params, dict) or params is None:
            raise InvalidParams("params must be an array")
        if not isinstance(params, list):
            raise InvalidRequest("params must be an array")
        handler = self.methods.get(method)
        if handler is None and self.settings.dev:
            handler = self.dev_methods.get(method)
        if handler is None:
            if method in self.dev_methods:
                raise MethodNotFound(f"the method {method} is only available in dev mode")
            raise MethodNotFound(f"the method {method} does not exist/is not available")
        code = handler.__code__
        required = code.co_argcount - 1 - len(handler.__defaults__ or ())
        if not required <= len(params) <= code.co_argcount - 1:
            raise InvalidParams(
                f"{method} takes {required}..{code.co_argcount - 1} params, got {len(params)}"
            )
        try:
            return handler(*params)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise InvalidParams(f"invalid params for {method}: {exc}") from exc

    # -- helpers -------------------------------------------------------------------

    def _header(self, block: Any) -> BlockHeaderAPI:
        header = self._find_header(fmt.block_id(block))
        if header is None:
            raise ResourceNotFound("header not found", code=-32000)
        return header

    def _find_header(self, ident: fmt.BlockId) -> BlockHeaderAPI | None:
        if isinstance(ident, bytes):
            return self.ledger.header_by_hash(ident)
        if isinstance(ident, int):
            return self.ledger.header_by_number(ident)
        if ident == "earliest":
            return self.ledger.header_by_number(0)
        return self.ledger.head

    # -- meta ----------------------------------------------------------------------

    def web3_clientVersion(self) -> str:
        return CLIENT_VERSION

    def net_version(self) -> str:
        return str(self.settings.chain_id)

    def net_listening(self) -> bool:
        return True

    def net_peerCount(self) -> str:
        return "0x0"

    def eth_chainId(self) -> str:
        return fmt.hexq(self.settings.chain_id)

    def eth_syncing(self) -> bool:
        return False

    def eth_blockNumber(self) -> str:
        return fmt.hexq(self.ledger.head.block_number)

    def eth_gasPrice(self) -> str:
        return fmt.hexq(self.ledger.next_base_fee() + DEFAULT_TIP_WEI)

    def eth_maxPriorityFeePerGas(self) -> str:
        return fmt.hexq(DEFAULT_TIP_WEI)

    def eth_feeHistory(self, count: Any, newest: Any, percentiles: Any = None) -> dict:
        block_count = min(fmt.quantity(count, "blockCount"), 1024)
        last = self._header(newest)
        first = max(0, last.block_number - block_count + 1)
        pcts = [float(p) for p in (percentiles or [])]
        if any(not 0 <= p <= 100 for p in pcts) or pcts != sorted(pcts):
            raise InvalidParams("rewardPercentiles must be increasing values in [0, 100]")
        base_fees, ratios, rewards = [], [], []
        for number in range(first, last.block_number + 1):
            header = self.ledger.header_by_number(number)
            assert header is not None
            base_fees.append(fmt.hexq(header.base_fee_per_gas))
            ratios.append(header.gas_used / header.gas_limit)
            if pcts:
                rewards.append([fmt.hexq(r) for r in self._rewards(header, pcts)])
        base_fees.append(fmt.hexq(self.ledger.chain.create_header_from_parent(last).base_fee_per_gas))
        out = {
            "oldestBlock": fmt.hexq(first),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
            "baseFeePerBlobGas": ["0x1"] * len(base_fees),
            "blobGasUsedRatio": [0.0] * len(ratios),
        }
        if pcts:
            out["reward"] = rewards
        return out

    def _rewards(self, header: BlockHeaderAPI, pcts: list[float]) -> list[int]:
        txs = self.ledger.transactions_of(header)
        if not txs:
            return [0] * len(pcts)
        receipts = self.ledger.receipts_of(header)
        used, tips, prev = [], [], 0
        for tx, receipt in zip(txs, receipts, strict=True):
            used.append(receipt.gas_used - prev)
            prev = receipt.gas_used
            tips.append(fmt.effective_gas_price(tx, header.base_fee_per_gas) - header.base_fee_per_gas)
        pairs = sorted(zip(tips, used, strict=True))
        out, acc, i = [], 0, 0
        for p in pcts:
            threshold = header.gas_used * p / 100
            while i < len(pairs) - 1 and acc + pairs[i][1] < threshold:
                acc += pairs[i][1]
                i += 1
            out.append(pairs[i][0])
        return out

    # -- state ---------------------------------------------------------------------

    def eth_getBalance(self, addr: Any, block: Any = None) -> str:
        state = self.ledger.state_at(self._header(block))
        return fmt.hexq(state.get_balance(fmt.address(addr)))

    def eth_getCode(self, addr: Any, block: Any = None) -> str:
        state = self.ledger.state_at(self._header(block))
        return fmt.hexd(state.get_code(fmt.address(addr)))

    def eth_getStorageAt(self, addr: Any, slot: Any, block: Any = None) -> str:
        if not isinstance(slot, str) or not slot.startswith("0x") or len(slot) > 66:
            raise InvalidParams(f"invalid storage slot: {slot!r}")
        state = self.ledger.state_at(self._header(block))
        value = state.get_storage(fmt.address(addr), fmt.quantity(slot, "slot"))
        return fmt.hexd(value.to_bytes(32, "big"))

    def eth_getTransactionCount(self, addr: Any, block: Any = None) -> str:
        account = fmt.address(addr)
        if block == "pending":
            return fmt.hexq(self.ledger.pending_nonce(account))
        return fmt.hexq(self.ledger.state_at(self._header(block)).get_nonce(account))

    def eth_call(self, tx: Any, block: Any = None, overrides: Any = None) -> str:
        if overrides:
            raise InvalidParams("state overrides are not supported")
        return fmt.hexd(self.ledger.call(fmt.call_request(tx), self._header(block)))

    def eth_estimateGas(self, tx: Any, block: Any = None) -> str:
        return fmt.hexq(self.ledger.estimate_gas(fmt.call_request(tx), self._header(block)))

    # -- transactions --------------------------------------------------------------

    def eth_sendRawTransaction(self, raw: Any) -> str:
        tx = self.ledger.decode_raw(fmt.data(raw, "raw transaction"))
        return fmt.hexd(self.ledger.admit(tx))

    def eth_getTransactionByHash(self, tx_hash: Any) -> dict | None:
        wanted = fmt.data(tx_hash, "transaction hash", 32)
        found = self.ledger.locate_transaction(wanted)
        if found is not None:
            header, index = found
            return fmt.tx_json(self.ledger.transactions_of(header)[index], header, index)
        pending = self.ledger.pending_transaction(wanted)
        return fmt.tx_json(pending[0], sender=pending[1]) if pending else None

    def eth_getTransactionReceipt(self, tx_hash: Any) -> dict | None:
        found = self.ledger.locate_transaction(fmt.data(tx_hash, "transaction hash", 32))
        if found is None:
            return None
        header, index = found
        return fmt.receipt_json(
            header, self.ledger.transactions_of(header), self.ledger.receipts_of(header), index
        )

    # -- blocks and logs -----------------------------------------------------------

    def eth_getBlockByNumber(self, block: Any, full: Any = False) -> dict | None:
        header = self._find_header(fmt.block_id(block))
        return self._block(header, full)

    def eth_getBlockByHash(self, block_hash: Any, full: Any = False) -> dict | None:
        header = self.ledger.header_by_hash(fmt.data(block_hash, "block hash", 32))
        return self._block(header, full)

    def _block(self, header: BlockHeaderAPI | None, full: Any) -> dict | None:
        if not isinstance(full, bool):
            raise InvalidParams("full transactions flag must be a boolean")
        if header is None:
            return None
        return fmt.block_json(header, self.ledger.transactions_of(header), full)

    def eth_getBlockTransactionCountByNumber(self, block: Any) -> str | None:
        header = self._find_header(fmt.block_id(block))
        return fmt.hexq(len(self.ledger.transactions_of(header))) if header else None

    def eth_getLogs(self, query: Any) -> list[dict]:
        if not isinstance(query, dict):
            raise InvalidParams("filter must be an object")
        return logs_matching(self.ledger, query, self.settings.max_logs_block_range)

    # -- dev mode ------------------------------------------------------------------

    def eth_accounts(self) -> list[str]:
        return [to_checksum_address(a) for a in self._dev_keys]

    def eth_sendTransaction(self, tx: Any) -> str:
        req = fmt.call_request(tx)
        key = self._dev_keys.get(req.sender)
        if key is None:
            raise TransactionRejected(f"unknown account {to_checksum_address(req.sender)}")
        return fmt.hexd(self.ledger.admit(self._sign(req, key)))

    def _sign(self, req: CallRequest, key: keys.PrivateKey) -> Any:
        ledger = self.ledger
        nonce = req.nonce if req.nonce is not None else ledger.pending_nonce(req.sender)
        gas = req.gas if req.gas is not None else ledger.estimate_gas(req, ledger.tip)
        if req.gas_price is not None:
            unsigned = ledger.vm_class.create_unsigned_transaction(
                nonce=nonce, gas_price=req.gas_price, gas=gas, to=req.to, value=req.value, data=req.data
            )
            return unsigned.as_signed_transaction(key, chain_id=self.settings.chain_id)
        tip = req.max_priority_fee_per_gas
        tip = DEFAULT_TIP_WEI if tip is None else tip
        max_fee = req.max_fee_per_gas
        max_fee = 2 * ledger.next_base_fee() + tip if max_fee is None else max_fee
        unsigned = ledger.tx_builder.new_unsigned_dynamic_fee_transaction(
            chain_id=self.settings.chain_id,
            nonce=nonce,
            max_priority_fee_per_gas=tip,
            max_fee_per_gas=max_fee,
            gas=gas,
            to=req.to,
            value=req.value,
            data=req.data,
            access_list=(),
        )
        return unsigned.as_signed_transaction(key)

    def evm_snapshot(self) -> str:
        return fmt.hexq(self.ledger.snapshot())

    def evm_revert(self, snapshot_id: Any) -> bool:
        return self.ledger.revert(fmt.quantity(snapshot_id, "snapshot id"))

    def evm_mine(self, options: Any = None) -> str:
        timestamp = None
        if isinstance(options, dict):
            timestamp = options.get("timestamp")
        elif options is not None:
            timestamp = options
        ts = None if timestamp is None else fmt.quantity(timestamp, "timestamp")
        ready = self.ledger.ready_to_mine()
        self.ledger.mine_block([p.tx for p in ready], timestamp=ts)
        return "0x0"

    def evm_increaseTime(self, seconds: Any) -> str:
        self.ledger.time_offset += fmt.quantity(seconds, "seconds")
        self.ledger.discard_draft()  # the next block is timed anew
        return fmt.hexq(self.ledger.time_offset)

    def evm_setNextBlockTimestamp(self, timestamp: Any) -> None:
        ts = fmt.quantity(timestamp, "timestamp")
        if ts <= self.ledger.tip.timestamp:
            raise InvalidParams(f"timestamp {ts} must be after the head's {self.ledger.tip.timestamp}")
        self.ledger.next_timestamp = ts
        self.ledger.discard_draft()  # the next block is timed anew

    def anvil_setBalance(self, addr: Any, balance: Any) -> None:
        self.ledger.set_balance(fmt.address(addr), fmt.quantity(balance, "balance"))


def _error(req_id: Any, exc: NodeError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": exc.to_json()}


# -- logs ------------------------------------------------------------------------------


def parse_log_filter(query: dict[str, Any]) -> tuple[list[bytes], list[list[bytes] | None]]:
    """Return (addresses, topic alternatives per position) of a filter object."""
    raw_addr = query.get("address")
    if raw_addr is None:
        addresses = []
    elif isinstance(raw_addr, list):
        addresses = [fmt.address(a) for a in raw_addr]
    else:
        addresses = [fmt.address(raw_addr)]
    raw_topics = query.get("topics") or []
    if not isinstance(raw_topics, list) or len(raw_topics) > 4:
        raise InvalidParams("topics must be an array of at most 4 entries")
    topics: list[list[bytes] | None] = []
    for entry in raw_topics:
        if entry is None:
            topics.append(None)
        elif isinstance(entry, list):
            topics.append([fmt.data(t, "topic", 32) for t in entry if t is not None] or None)
        else:
            topics.append([fmt.data(entry, "topic", 32)])
    return addresses, topics


def log_matches(
    address: bytes,
    topics: tuple[int, ...],
    want_addresses: list[bytes],
    want_topics: list[list[bytes] | None],
) -> bool:
    """Return True if a log passes an address/topics filter."""
    if want_addresses and address not in want_addresses:
        return False
    for position, wanted in enumerate(want_topics):
        if wanted is None:
            continue
        if position >= len(topics) or topics[position].to_bytes(32, "big") not in wanted:
            return False
    return True


def _bloom_may_match(bloom: int, addresses: list[bytes], topics: list[list[bytes] | None]) -> bool:
    filt = BloomFilter(bloom)
    if addresses and not any(a in filt for a in addresses):
        return False
    return all(alts is None or any(t in filt for t in alts) for alts in topics)


def block_logs(
    ledger: Ledger, header: BlockHeaderAPI, addresses: list[bytes], topics: list[list[bytes] | None]
) -> list[dict[str, Any]]:
    """Return the logs of one block that match the filter."""
    if not _bloom_may_match(header.bloom, addresses, topics):
        return []
    receipts = ledger.receipts_of(header)
    tx_hashes = ledger.chaindb.get_block_transaction_hashes(header)
    out, log_index = [], 0
    for tx_index, receipt in enumerate(receipts):
        for log in receipt.logs:
            if log_matches(log.address, log.topics, addresses, topics):
                out.append(fmt.log_json(log, header, tx_hashes[tx_index], tx_index, log_index))
            log_index += 1
    return out


def logs_matching(ledger: Ledger, query: dict[str, Any], max_range: int) -> list[dict]:
    """Answer eth_getLogs."""
    addresses, topics = parse_log_filter(query)
    if query.get("blockHash") is not None:
        if query.get("fromBlock") is not None or query.get("toBlock") is not None:
            raise InvalidParams("blockHash excludes fromBlock/toBlock")
        header = ledger.header_by_hash(fmt.data(query["blockHash"], "blockHash", 32))
        if header is None:
            raise ResourceNotFound("unknown block", code=-32000)
        return block_logs(ledger, header, addresses, topics)
    head = ledger.head.block_number

    def bound(key: str, default: int) -> int:
        value = query.get(key)
        if value is None or value in ("latest", "pending", "safe", "finalized"):
            return default if value is None else head
        if value == "earliest":
            return 0
        return fmt.quantity(value, key)

    start, end = bound("fromBlock", head), min(bound("toBlock", head), head)
    if start > end:
        return []
    if end - start + 1 > max_range:
        raise LimitExceeded(f"block range too large: {end - start + 1} > {max_range}")
    out: list[dict[str, Any]] = []
    for number in range(start, end + 1):
        header = ledger.header_by_number(number)
        if header is not None:
            out.extend(block_logs(ledger, header, addresses, topics))
            if len(out) > MAX_LOGS:
                raise LimitExceeded(f"query returned more than {MAX_LOGS} results")
    return out
