"""The one client scfnet services use to talk to the ledger over standard JSON-RPC.

It loads ABIs from the build artifacts, signs locally (keys never go to the node), owns the
nonce of each sending account, estimates gas (which surfaces reverts before anything is sent),
retries transport failures with backoff, waits for receipts and turns every revert into a typed
`ContractRevert`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import TxParams, TxReceipt

from chain.errors import ChainError, ChainUnavailable, NotPermitted, TransactionFailed, decode_revert
from contracts.artifacts import load_artifact

logger = logging.getLogger(__name__)

T = TypeVar("T")

_TRANSIENT = (requests.ConnectionError, requests.Timeout, ProviderConnectionError, ConnectionError)


# JSON-RPC codes of a permissioned node refusing the sender: ours (EIP-1474 "transaction
# rejected") and Besu's "sender account not authorized".
_NOT_PERMITTED_CODES = (-32003, -32007)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def revert_from(exc: Exception) -> ChainError:
    """The typed error behind a node's refusal or revert, or a plain ChainError when it is not decodable."""
    rpc_response = getattr(exc, "rpc_response", None)
    error = rpc_response.get("error") if isinstance(rpc_response, dict) else None
    if isinstance(error, dict) and error.get("code") in _NOT_PERMITTED_CODES:
        message = str(error.get("message", exc))
        details = error.get("data")
        sender = details.get("sender") if isinstance(details, dict) else None
        if sender is None and (found := _ADDRESS.search(message)):
            sender = found.group(0)
        return NotPermitted(message, sender=Web3.to_checksum_address(sender) if sender else None)
    data = getattr(exc, "data", None)
    if isinstance(data, dict):  # some nodes nest the revert data
        data = data.get("data")
    decoded = decode_revert(data if isinstance(data, str | bytes) else None)
    if decoded is not None:
        return decoded
    return ChainError(str(exc))


class ChainClient:
    """Sign, send and read contract calls on one chain."""

    def __init__(
        self,
        w3: Web3,
        *,
        retries: int = 4,
        backoff_s: float = 0.2,
        receipt_timeout_s: float = 120.0,
        poll_interval_s: float = 0.05,
    ) -> None:
        self.w3 = w3
        self._retries = retries
        self._backoff_s = backoff_s
        self._receipt_timeout_s = receipt_timeout_s
        self._poll_interval_s = poll_interval_s
        self._nonces: dict[str, int] = {}
        self._nonce_lock = threading.Lock()
        self._chain_id: int | None = None
        self._contracts: dict[tuple[str, str], Contract] = {}

    @classmethod
    def connect(cls, rpc_url: str, **kwargs: Any) -> ChainClient:
        """Connect to the node at `rpc_url` (http(s)://)."""
        w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        return cls(w3, **kwargs)

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self._with_retry(lambda: self.w3.eth.chain_id)
        return self._chain_id

    def contract(self, name: str, address: str) -> Contract:
        """Return a binding of contract `name` (its ABI from the build) at `address`.

        Bindings are kept per (name, address): building one costs ~1.3 ms, and request handlers ask
        for theirs on every call. A binding holds no call state, so threads can share it.
        """
        key = (name, address.lower())
        binding = self._contracts.get(key)
        if binding is None:
            abi = load_artifact(name)["abi"]
            binding = self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
            self._contracts[key] = binding
        return binding

    def deploy(self, name: str, sender: LocalAccount, *args: Any) -> tuple[Contract, TxReceipt]:
        """Deploy contract `name` with constructor `args`; return its binding and receipt."""
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = self.send(sender, {"data": factory.constructor(*args).data_in_transaction})
        address = receipt["contractAddress"]
        if address is None:
            raise TransactionFailed(f"deploying {name} created no contract")
        return self.contract(name, address), receipt

    def call(self, fn: ContractFunction, *, sender: str | None = None) -> Any:
        """Run a read-only call; reverts become typed errors."""
        params: TxParams = {"from": sender} if sender else {}
        try:
            return self._with_retry(lambda: fn.call(params))
        except (ContractLogicError, Web3RPCError) as exc:
            raise revert_from(exc) from exc

    def transact(self, fn: ContractFunction, sender: LocalAccount, *, gas: int | None = None) -> TxReceipt:
        """Send `fn` from `sender`, wait for its receipt and return it; reverts become typed errors."""
        return self.send(sender, {"to": fn.address, "data": fn._encode_transaction_data()}, gas=gas)

    def send(self, sender: LocalAccount, tx: TxParams, *, gas: int | None = None) -> TxReceipt:
        """Sign and send a raw transaction from `sender`, then wait for its receipt."""
        tx_hash = self.submit(sender, tx, gas=gas)
        return self.wait(tx_hash, tx=tx, sender=sender.address)

    def submit(self, sender: LocalAccount, tx: TxParams, *, gas: int | None = None) -> HexBytes:
        """Sign and send without waiting; return the transaction hash."""
        full: TxParams = {**tx, "from": sender.address, "chainId": self.chain_id}
        full["gas"] = gas if gas is not None else self.estimate(full)
        full.update(self.fees())
        with self._nonce_lock:
            full["nonce"] = self._next_nonce(sender.address)
            signed = sender.sign_transaction(full)
            try:
                tx_hash = self.broadcast(signed.raw_transaction)
            except ChainError:
                self._nonces.pop(sender.address, None)  # resync from the node next time
                raise
            self._nonces[sender.address] = full["nonce"] + 1
        return tx_hash

    def estimate(self, tx: TxParams) -> int:
        """Gas for `tx` with headroom; a revert raises its decoded error and nothing is sent."""
        try:
            gas = self._with_retry(lambda: self.w3.eth.estimate_gas(tx))
        except (ContractLogicError, Web3RPCError) as exc:
            raise revert_from(exc) from exc
        return gas * 6 // 5  # headroom: state may move between estimate and inclusion

    def broadcast(self, raw_tx: bytes) -> HexBytes:
        """Send a signed transaction. Sending the same bytes again is harmless: same hash, same nonce."""
        try:
            return self._with_retry(lambda: self.w3.eth.send_raw_transaction(raw_tx))
        except Web3RPCError as exc:
            if "already known" in str(exc).lower():
                return HexBytes(Web3.keccak(raw_tx))
            raise revert_from(exc) from exc

    def receipt(self, tx_hash: str | bytes) -> TxReceipt | None:
        """The receipt of `tx_hash`, or None while it is not mined."""
        try:
            return self._with_retry(lambda: self.w3.eth.get_transaction_receipt(tx_hash))
        except TransactionNotFound:
            return None

    def wait(self, tx_hash: HexBytes, *, tx: TxParams | None = None, sender: str | None = None) -> TxReceipt:
        """Wait for the receipt of `tx_hash`; a reverted transaction raises its decoded error."""
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self._receipt_timeout_s, poll_latency=self._poll_interval_s
            )
        except TimeExhausted as exc:
            raise ChainUnavailable(
                f"no receipt for {tx_hash.hex()} within {self._receipt_timeout_s}s"
            ) from exc
        if receipt["status"] != 1:
            raise self._explain_failure(receipt, tx, sender)
        return receipt

    def wait_all(self, tx_hashes: Sequence[HexBytes]) -> list[TxReceipt]:
        """Wait for every receipt, in order."""
        return [self.wait(h) for h in tx_hashes]

    def _explain_failure(self, receipt: TxReceipt, tx: TxParams | None, sender: str | None) -> ChainError:
        tx_hash = receipt["transactionHash"].hex()
        if tx is not None:
            replay: TxParams = {**tx, "from": sender} if sender else dict(tx)
            try:
                self.w3.eth.call(replay, receipt["blockNumber"] - 1)
            except (ContractLogicError, Web3RPCError) as exc:
                error = revert_from(exc)
                error.tx_hash = tx_hash  # type: ignore[attr-defined]
                return error
        return TransactionFailed(f"transaction {tx_hash} reverted", tx_hash=tx_hash)

    def fees(self) -> TxParams:
        """Fee fields for a new transaction: EIP-1559 where the chain has a base fee, else legacy."""
        block = self._with_retry(lambda: self.w3.eth.get_block("latest"))
        base_fee = block.get("baseFeePerGas")
        if base_fee is None:  # pre-London or free-gas consortium chain
            return {"gasPrice": self._with_retry(lambda: self.w3.eth.gas_price)}
        tip = self._with_retry(lambda: self.w3.eth.max_priority_fee)
        return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}

    def _next_nonce(self, address: str) -> int:
        if address not in self._nonces:
            self._nonces[address] = self._with_retry(
                lambda: self.w3.eth.get_transaction_count(address, "pending")
            )
        return self._nonces[address]

    def _with_retry(self, op: Callable[[], T]) -> T:
        delay = self._backoff_s
        for attempt in range(self._retries + 1):
            try:
                return op()
            except _TRANSIENT as exc:
                if attempt == self._retries:
                    raise ChainUnavailable(f"node unreachable: {exc}") from exc
                logger.warning("node call failed (%s), retrying in %.2fs", exc, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")
