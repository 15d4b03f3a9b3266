"""The node's ledger: py-evm chain on disk, admission of transactions, block production.

All methods run on one thread (the server's chain executor): py-evm is not thread-safe
and a single writer keeps the block/commit order simple.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from eth.abc import BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI, StateAPI
from eth.constants import GENESIS_PARENT_HASH, SECPK1_N, ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.exceptions import CanonicalHeadNotFound, HeaderNotFound, TransactionNotFound
from eth.vm.spoof import SpoofTransaction
from eth_keys import keys
from eth_utils import ValidationError, keccak, to_checksum_address

from node import evm
from node.errors import (
    ExecutionReverted,
    InvalidParams,
    NodeError,
    SenderNotPermitted,
    TransactionRejected,
)
from node.settings import NodeSettings
from node.storage import LmdbStore
from node.trie import ordered_trie_root_and_nodes
from node.txpool import PooledTx, PoolError, TxPool, fee_caps

logger = logging.getLogger(__name__)

_META_CHAIN_ID = b"scfnet:meta:chain_id"
_BLOB_TX_TYPE = 3


@dataclass(frozen=True)
class CallRequest:
    """An eth_call / eth_estimateGas / eth_sendTransaction request, decoded."""

    sender: bytes = ZERO_ADDRESS
    to: bytes = b""
    gas: int | None = None
    value: int = 0
    data: bytes = b""
    nonce: int | None = None
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None


BlockListener = Callable[[BlockHeaderAPI], None]
PermissionCheck = Callable[[bytes], None]


class Ledger:
    """Chain state, pool and mining of one node."""

    def __init__(self, settings: NodeSettings, store: LmdbStore) -> None:
        self.settings = settings
        self.store = store
        self.db = AtomicDB(store)
        self.chain_class = evm.make_chain_class(settings.chain_id, settings.hardfork)
        self.dev_keys = (
            [keys.PrivateKey(k) for k in evm.dev_private_keys(settings.mnemonic, settings.dev_accounts)]
            if settings.dev
            else []
        )
        self.pool = TxPool()
        self.permission_check: PermissionCheck | None = None
        # Events of this contract change who may send: a block ends after a transaction emitting
        # one, so the transactions behind it are re-checked against the new membership.
        self.registry: bytes | None = None
        self.listeners: list[BlockListener] = []
        self.time_offset = 0
        self.next_timestamp: int | None = None
        self._snapshots: dict[int, bytes] = {}
        self._snapshot_ids = 0
        self._head_state: StateAPI | None = None
        self._next_base_fee: int | None = None
        self.chain = self._open_chain()
        self.chaindb: ChainDB = self.chain.chaindb
        self.head: BlockHeaderAPI = self.chaindb.get_canonical_head()
        self.vm_class = self.chain.get_vm_class_for_block_number(self.head.block_number + 1)
        self.tx_builder = self.vm_class.get_transaction_builder()
        self.receipt_builder = self.vm_class.get_receipt_builder()

    # -- setup ---------------------------------------------------------------------

    def _open_chain(self):  # type: ignore[no-untyped-def]
        try:
            ChainDB(self.db).get_canonical_head()
        except CanonicalHeadNotFound:
            return self._create_genesis()
        stored = self.store[_META_CHAIN_ID] if self.store.exists(_META_CHAIN_ID) else b""
        if int.from_bytes(stored, "big") != self.settings.chain_id:
            raise NodeError(
                f"data dir {self.store.path} holds chain id {int.from_bytes(stored, 'big')}, "
                f"settings say {self.settings.chain_id}"
            )
        return self.chain_class(self.db)

    def _create_genesis(self):  # type: ignore[no-untyped-def]
        balances: dict[bytes, int] = {}
        for key in self.dev_keys:
            balances[key.public_key.to_canonical_address()] = self.settings.dev_balance_wei
        if self.settings.operator_address:
            operator = bytes.fromhex(self.settings.operator_address[2:])
            balances[operator] = balances.get(operator, 0) + self.settings.operator_balance_wei
        chain = self.chain_class.from_genesis(
            self.db,
            evm.genesis_params(self.settings.block_gas_limit),
            evm.genesis_state(balances.items()),
        )
        self.store[_META_CHAIN_ID] = self.settings.chain_id.to_bytes(32, "big")
        self.store.commit()
        logger.info("created genesis for chain id %s in %s", self.settings.chain_id, self.store.path)
        return chain

    # -- reads ---------------------------------------------------------------------

    def head_state(self) -> StateAPI:
        """Return a read-only view of the latest state (reused until the head moves)."""
        if self._head_state is None:
            self._head_state = self.chain.get_vm(self.head).state
        return self._head_state

    def state_at(self, header: BlockHeaderAPI) -> StateAPI:
        """Return the state after the block with this header."""
        if header.hash == self.head.hash:
            return self.head_state()
        return self.chain.get_vm(header).state

    def header_by_number(self, number: int) -> BlockHeaderAPI | None:
        """Return the canonical header at this height, or None."""
        if number < 0 or number > self.head.block_number:
            return None
        try:
            return self.chaindb.get_canonical_block_header_by_number(number)
        except HeaderNotFound:
            return None

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI | None:
        """Return the canonical header with this hash, or None."""
        try:
            header = self.chaindb.get_block_header_by_hash(block_hash)
        except HeaderNotFound:
            return None
        canonical = self.header_by_number(header.block_number)
        return header if canonical is not None and canonical.hash == header.hash else None

    def transactions_of(self, header: BlockHeaderAPI) -> tuple[SignedTransactionAPI, ...]:
        """Return the transactions of a block."""
        return self.chaindb.get_block_transactions(header, self.tx_builder)

    def receipts_of(self, header: BlockHeaderAPI) -> tuple[ReceiptAPI, ...]:
        """Return the receipts of a block."""
        return self.chaindb.get_receipts(header, self.receipt_builder)

    def locate_transaction(self, tx_hash: bytes) -> tuple[BlockHeaderAPI, int] | None:
        """Return (header, index) of a mined canonical transaction, or None."""
        try:
            number, index = self.chaindb.get_transaction_index(tx_hash)
        except TransactionNotFound:
            return None
        header = self.header_by_number(number)
        if header is None:
            return None
        txs = self.transactions_of(header)
        # The lookup key can outlive a dev-mode revert: confirm the hash is really there.
        if index >= len(txs) or txs[index].hash != tx_hash:
            return None
        return header, index

    def next_base_fee(self) -> int:
        """Return the base fee the next block will charge."""
        if self._next_base_fee is None:
            self._next_base_fee = int(self.chain.create_header_from_parent(self.head).base_fee_per_gas)
        return self._next_base_fee

    def state_nonce(self, sender: bytes) -> int:
        """Return the nonce of an account in the latest state."""
        return self.head_state().get_nonce(sender)

    def pending_nonce(self, sender: bytes) -> int:
        """Return the next nonce to use, counting pooled transactions."""
        return self.pool.pending_nonce(sender, self.state_nonce(sender))

    # -- execution without a block ---------------------------------------------------

    def _spoof(self, req: CallRequest, state: StateAPI, gas: int) -> SpoofTransaction:
        unsigned = self.vm_class.create_unsigned_transaction(
            nonce=state.get_nonce(req.sender),
            gas_price=0,
            gas=gas,
            to=req.to,
            value=req.value,
            data=req.data,
        )
        return SpoofTransaction(unsigned, from_=req.sender)

    def _execute(self, req: CallRequest, header: BlockHeaderAPI, gas: int):  # type: ignore[no-untyped-def]
        with self.chain.get_vm(header).in_costless_state() as state:
            try:
                return state.costless_execute_transaction(self._spoof(req, state, gas))
            except ValidationError as exc:
                raise NodeError(str(exc)) from exc

    def call(self, req: CallRequest, header: BlockHeaderAPI) -> bytes:
        """Execute a message on top of a block's state and return its output."""
        gas = min(req.gas or header.gas_limit, header.gas_limit)
        computation = self._execute(req, header, gas)
        raise_if_failed(computation)
        return computation.output

    def estimate_gas(self, req: CallRequest, header: BlockHeaderAPI) -> int:
        """Return the least gas with which the message succeeds (a few runs, not ~20)."""
        cap = min(req.gas or header.gas_limit, header.gas_limit)
        computation = self._execute(req, header, cap)
        raise_if_failed(computation)
        intrinsic = self._spoof(req, self.state_at(header), cap).intrinsic_gas
        used = intrinsic + computation.get_gas_used()
        # Refunds and the 63/64 rule make `used` a guess: confirm, then bisect upward.
        low, high = used - 1, cap
        for guess in (used, used + used // 63 + 2300):
            if guess < high and not self._execute(req, header, guess).is_error:
                high = guess
                break
            low = max(low, guess)
        while high - low > 1 + high // 1000:
            mid = (low + high) // 2
            if self._execute(req, header, mid).is_error:
                low = mid
            else:
                high = mid
        return high

    # -- admission -----------------------------------------------------------------

    def decode_raw(self, raw: bytes) -> SignedTransactionAPI:
        """Decode a signed transaction envelope."""
        if raw[:1] == bytes([_BLOB_TX_TYPE]):
            raise TransactionRejected("blob transactions (type 3) are not supported")
        try:
            return self.tx_builder.decode(raw)
        except Exception as exc:  # rlp raises a zoo of types for bad input
            raise InvalidParams(f"invalid raw transaction: {exc}") from exc

    def admit(self, tx: SignedTransactionAPI) -> bytes:
        """Check a signed transaction against the latest state and pool it."""
        if tx.chain_id is None:
            raise TransactionRejected("only replay-protected (EIP-155) transactions allowed over RPC")
        if tx.chain_id != self.settings.chain_id:
            raise TransactionRejected(f"invalid chain id: have {tx.chain_id}, want {self.settings.chain_id}")
        if tx.s > SECPK1_N // 2 or tx.s == 0 or tx.r == 0:
            raise TransactionRejected("invalid sender: signature s value out of range")
        try:
            sender = tx.sender
        except Exception as exc:  # eth-keys: BadSignature, ValidationError, ValueError
            raise TransactionRejected(f"invalid sender: {exc}") from exc
        sender_hex = to_checksum_address(sender)
        intrinsic = tx.get_intrinsic_gas()
        if tx.gas < intrinsic:
            raise TransactionRejected(f"intrinsic gas too low: have {tx.gas}, want {intrinsic}")
        if tx.gas > self.head.gas_limit:
            raise TransactionRejected(f"exceeds block gas limit: gas {tx.gas}, limit {self.head.gas_limit}")
        # The signature is proven by the recovery above; only fields remain to check.
        inner = getattr(tx, "_inner", tx)
        inner.check_signature_validity = _signature_already_checked
        try:
            tx.validate()
        except ValidationError as exc:
            raise TransactionRejected(f"invalid transaction: {exc}") from exc
        setattr(tx, evm.PRECHECKED, True)

        if self.permission_check is not None:
            self.permission_check(sender)

        max_fee, _tip = fee_caps(tx)
        base_fee = self.next_base_fee()
        if max_fee < base_fee:
            raise TransactionRejected(
                f"max fee per gas less than block base fee: address {sender_hex}, "
                f"maxFeePerGas: {max_fee}, baseFee: {base_fee}"
            )
        state = self.head_state()
        nonce = state.get_nonce(sender)
        if tx.nonce < nonce:
            raise TransactionRejected(f"nonce too low: address {sender_hex}, tx: {tx.nonce} state: {nonce}")
        if tx.nonce - nonce > self.settings.max_nonce_gap:
            raise TransactionRejected(
                f"nonce too high: address {sender_hex}, tx: {tx.nonce} state: {nonce}, "
                f"max gap {self.settings.max_nonce_gap}"
            )
        balance = state.get_balance(sender)
        cost = tx.gas * max_fee + tx.value
        if balance < cost:
            raise TransactionRejected(
                f"insufficient funds for gas * price + value: address {sender_hex} have {balance} want {cost}"
            )
        try:
            self.pool.add(tx, sender)
        except PoolError as exc:
            raise TransactionRejected(str(exc)) from exc
        if self.settings.mining_interval_s == 0:
            self.mine_pending(one_tx_per_block=True)
        return tx.hash

    # -- block production ----------------------------------------------------------

    def mine_pending(self, one_tx_per_block: bool = False) -> list[BlockHeaderAPI]:
        """Mine the executable pool: one block per transaction, or all into one block."""
        mined: list[BlockHeaderAPI] = []
        while True:
            ready = self.ready_to_mine()
            if not ready:
                return mined
            batch = ready[:1] if one_tx_per_block else ready
            try:
                header, included = self.mine_block([p.tx for p in batch])
            except NodeError:
                raise
            except Exception:
                # Never retry a batch that broke the block builder forever.
                logger.exception("block building failed; dropping %s txs", len(batch))
                for pooled in batch:
                    self.pool.remove(pooled.tx.hash)
                raise
            mined.append(header)
            if not included or not one_tx_per_block and len(included) == len(ready):
                return mined

    def ready_to_mine(self) -> list[PooledTx]:
        """Return the executable pool, dropping every transaction of senders no longer permitted.

        Admission checked the sender against the head of its time; a suspension mined since then
        (ahead of it in the pool) must still keep the transaction out of the chain.
        """
        ready = self.pool.executable(self.state_nonce)
        if self.permission_check is None:
            return ready
        verdicts: dict[bytes, str | None] = {}
        for sender in {pooled.sender for pooled in ready}:
            try:
                self.permission_check(sender)
                verdicts[sender] = None
            except SenderNotPermitted as exc:
                verdicts[sender] = exc.message
                for dropped in self.pool.remove_sender(sender):
                    logger.warning(
                        "dropped pooled tx %s before block %s: %s",
                        dropped.tx.hash.hex(),
                        self.head.block_number + 1,
                        exc.message,
                    )
        return [pooled for pooled in ready if verdicts[pooled.sender] is None]

    def mine_block(
        self,
        txs: list[SignedTransactionAPI],
        timestamp: int | None = None,
        state_hook: Callable[[StateAPI], None] | None = None,
    ) -> tuple[BlockHeaderAPI, list[SignedTransactionAPI]]:
        """Build, seal and durably store one block; return it and the included txs."""
        parent = self.head
        header = self.chain.create_header_from_parent(
            parent,
            timestamp=self._timestamp_for_next(parent, timestamp),
            coinbase=ZERO_ADDRESS,
            mix_hash=keccak(parent.hash),
        )
        vm = self.chain.get_vm(header)
        try:
            if state_hook is not None:
                state_hook(vm.state)
            included, receipts, current = [], [], header
            for tx in txs:
                if current.gas_used + tx.gas > current.gas_limit:
                    continue  # stays pooled for the next block
                snapshot = vm.state.snapshot()
                try:
                    receipt, _computation = vm.apply_transaction(current, tx)
                except ValidationError as exc:
                    vm.state.revert(snapshot)
                    logger.warning("dropped tx %s: %s", tx.hash.hex(), exc)
                    self.pool.remove(tx.hash)
                    continue
                current = vm.increment_blob_gas_used(vm.add_receipt_to_header(current, receipt), tx)
                included.append(tx)
                receipts.append(receipt)
                if self._may_change_membership(tx, receipt):
                    break  # the rest waits for the next block and its permission re-check
            tx_root, tx_nodes = ordered_trie_root_and_nodes([t.encode() for t in included])
            receipt_root, receipt_nodes = ordered_trie_root_and_nodes([r.encode() for r in receipts])
            self.chaindb.persist_trie_data_dict(tx_nodes)
            self.chaindb.persist_trie_data_dict(receipt_nodes)
            block = vm.get_block().copy(
                transactions=included,
                header=current.copy(transaction_root=tx_root, receipt_root=receipt_root),
            )
            # We built this block from admitted transactions: py-evm's import-time
            # validation (which rebuilds the tx trie the slow way) adds nothing here.
            sealed = vm.finalize_block(block).block
            self.chaindb.persist_block(sealed)
            self.store.commit()
        except BaseException:
            self.store.rollback()
            raise
        self._set_head(sealed.header)
        for tx in included:
            self.pool.remove(tx.hash)
        logger.debug("mined block %s with %s txs", sealed.number, len(included))
        for listener in self.listeners:
            try:
                listener(sealed.header)
            except Exception:
                logger.exception("block listener failed")
        return sealed.header, included

    def _may_change_membership(self, tx: SignedTransactionAPI, receipt: ReceiptAPI) -> bool:
        # A direct call, or any event of the registry (every change of it emits one, whoever calls).
        # A failed transaction changed nothing; post-Byzantium its receipt "state root" is b"".
        if self.registry is None or receipt.state_root == b"":
            return False
        return tx.to == self.registry or any(log.address == self.registry for log in receipt.logs)

    def _timestamp_for_next(self, parent: BlockHeaderAPI, explicit: int | None) -> int:
        if explicit is None and self.next_timestamp is not None:
            explicit, self.next_timestamp = self.next_timestamp, None
        if explicit is not None:
            if explicit <= parent.timestamp:
                raise InvalidParams(f"timestamp {explicit} must be after the parent's {parent.timestamp}")
            return explicit
        # Post-merge headers need strictly increasing timestamps.
        return max(int(time.time()) + self.time_offset, parent.timestamp + 1)

    def _set_head(self, header: BlockHeaderAPI) -> None:
        self.head = header
        self._head_state = None
        self._next_base_fee = None

    # -- dev-mode controls ----------------------------------------------------------

    def snapshot(self) -> int:
        """Remember the current head; return a snapshot id."""
        self._snapshot_ids += 1
        self._snapshots[self._snapshot_ids] = self.head.hash
        return self._snapshot_ids

    def revert(self, snapshot_id: int) -> bool:
        """Make a snapshot's head canonical again; later snapshots are invalidated."""
        head_hash = self._snapshots.get(snapshot_id)
        if head_hash is None:
            return False
        for sid in [s for s in self._snapshots if s >= snapshot_id]:
            del self._snapshots[sid]
        header = self.chaindb.get_block_header_by_hash(head_hash)
        try:
            self.chaindb._set_as_canonical_chain_head(self.db, header, GENESIS_PARENT_HASH)
            self.store.commit()
        except BaseException:
            self.store.rollback()
            raise
        self.pool.clear()
        self._set_head(header)
        return True

    def set_balance(self, address: bytes, balance: int) -> BlockHeaderAPI:
        """Set an account balance, sealed in a new empty block."""
        header, _ = self.mine_block([], state_hook=lambda s: s.set_balance(address, balance))
        return header


def raise_if_failed(computation) -> None:  # type: ignore[no-untyped-def]
    """Turn a failed computation into a JSON-RPC error (code 3 with data for reverts)."""
    if not computation.is_error:
        return
    from eth.exceptions import Revert

    error = computation.error
    if isinstance(error, Revert):
        data = error.args[0] if error.args else b""
        raise ExecutionReverted(_revert_message(data), data="0x" + bytes(data).hex())
    raise NodeError(f"execution failed: {type(error).__name__} {error}".strip())


def _revert_message(data: bytes) -> str:
    # Error(string) selector: decode the reason like geth does.
    if data[:4] == bytes.fromhex("08c379a0") and len(data) >= 68:
        try:
            length = int.from_bytes(data[36:68], "big")
            return "execution reverted: " + data[68 : 68 + length].decode("utf-8", "replace")
        except ValueError:
            pass
    return "execution reverted"


def _signature_already_checked() -> None:
    return None
