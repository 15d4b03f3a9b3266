"""The node's ledger: py-evm chain on disk, admission of transactions, block production.

All methods run on one thread (the server's chain executor): py-evm is not thread-safe
and a single writer keeps the block/commit order simple.

Two heads. `tip` is the last block built: the parent of the next one and the state that
transactions are admitted against. `head` is the last block on disk: everything clients
read ("latest", receipts, logs, subscriptions). They differ only while the tip's fsync runs
on the store's writer thread (interval mining): admission goes on meanwhile, and `settle()`
moves the head up once the write has finished. So a receipt returned is always on disk.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from eth.abc import BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI, StateAPI
from eth.constants import GENESIS_PARENT_HASH, SECPK1_N, ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.exceptions import CanonicalHeadNotFound, HeaderNotFound, TransactionNotFound
from eth.vm.spoof import SpoofTransaction
from eth_keys import keys
from eth_utils import ValidationError, to_checksum_address

from node import evm
from node.blocks import Draft
from node.errors import (
    ExecutionReverted,
    InvalidParams,
    NodeError,
    SenderNotPermitted,
    TransactionRejected,
)
from node.settings import NodeSettings
from node.storage import LmdbStore
from node.txpool import PooledTx, PoolError, TxPool, fee_caps

logger = logging.getLogger(__name__)

_META_CHAIN_ID = b"scfnet:meta:chain_id"
_BLOB_TX_TYPE = 3
# Decoded bodies kept for receipt and log queries: the blocks clients are waiting on.
_RECENT_BLOCKS = 16
# Execution per build step between requests (interval mining): a request waits at most this.
_STEP_BUDGET_S = 0.002

_T = TypeVar("_T")


class _Recent(Generic[_T]):
    """A small least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[bytes, _T] = OrderedDict()

    def get(self, key: bytes) -> _T | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: bytes, item: _T) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


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
        evm.use_native_keccak()
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
        self._recent: _Recent[tuple[tuple[SignedTransactionAPI, ...], tuple[ReceiptAPI, ...]]] = _Recent(
            _RECENT_BLOCKS
        )
        self._snapshot_ids = 0
        self._head_state: StateAPI | None = None
        self._tip_state: StateAPI | None = None
        self._next_base_fee: int | None = None
        self.chain = self._open_chain()
        self.chaindb: ChainDB = self.chain.chaindb
        self.head: BlockHeaderAPI = self.chaindb.get_canonical_head()
        self.tip: BlockHeaderAPI = self.head
        # The tip while it is being written, and its transactions (shown as pending meanwhile).
        self._unsettled: BlockHeaderAPI | None = None
        self._unsettled_txs: dict[bytes, SignedTransactionAPI] = {}
        self._draft: Draft | None = None
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

    def genesis_allocation(self) -> dict[bytes, int]:
        """Return the balances funded at genesis: dev accounts and the operator."""
        balances: dict[bytes, int] = {}
        for key in self.dev_keys:
            balances[key.public_key.to_canonical_address()] = self.settings.dev_balance_wei
        if self.settings.operator_address:
            operator = bytes.fromhex(self.settings.operator_address[2:])
            balances[operator] = balances.get(operator, 0) + self.settings.operator_balance_wei
        return balances

    def _create_genesis(self):  # type: ignore[no-untyped-def]
        chain = self.chain_class.from_genesis(
            self.db,
            evm.genesis_params(self.settings.block_gas_limit),
            evm.genesis_state(self.genesis_allocation().items()),
        )
        self.store[_META_CHAIN_ID] = self.settings.chain_id.to_bytes(32, "big")
        self.store.commit()
        logger.info("created genesis for chain id %s in %s", self.settings.chain_id, self.store.path)
        return chain

    # -- reads ---------------------------------------------------------------------

    def head_state(self) -> StateAPI:
        """Return a read-only view of the latest state on disk (reused until the head moves)."""
        if self._head_state is None:
            self._head_state = self.chain.get_vm(self.head).state
        return self._head_state

    def tip_state(self) -> StateAPI:
        """Return a read-only view of the state after the last block built (admission's view)."""
        if self.tip.hash == self.head.hash:
            return self.head_state()
        if self._tip_state is None:
            self._tip_state = self.chain.get_vm(self.tip).state
        return self._tip_state

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
        """Return the transactions of a block (decoded once, kept for recent blocks)."""
        return self._block_body(header)[0]

    def receipts_of(self, header: BlockHeaderAPI) -> tuple[ReceiptAPI, ...]:
        """Return the receipts of a block (decoded once, kept for recent blocks)."""
        return self._block_body(header)[1]

    def _block_body(
        self, header: BlockHeaderAPI
    ) -> tuple[tuple[SignedTransactionAPI, ...], tuple[ReceiptAPI, ...]]:
        # Receipt polling asks for the same recent blocks over and over; a decoded body also
        # keeps each transaction's recovered sender. Blocks are immutable: keyed by hash.
        body = self._recent.get(header.hash)
        if body is None:
            body = (
                tuple(self.chaindb.get_block_transactions(header, self.tx_builder)),
                tuple(self.chaindb.get_receipts(header, self.receipt_builder)),
            )
            self._recent.put(header.hash, body)
        return body

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

    def pending_transaction(self, tx_hash: bytes) -> tuple[SignedTransactionAPI, bytes] | None:
        """Return (transaction, sender) of a pooled transaction or one in a block not yet on disk."""
        pooled = self.pool.get(tx_hash)
        if pooled is not None:
            return pooled.tx, pooled.sender
        tx = self._unsettled_txs.get(tx_hash)
        return (tx, tx.sender) if tx is not None else None

    def next_base_fee(self) -> int:
        """Return the base fee the next block will charge."""
        if self._next_base_fee is None:
            self._next_base_fee = int(self.chain.create_header_from_parent(self.tip).base_fee_per_gas)
        return self._next_base_fee

    def contract_fingerprint(self, address: bytes) -> tuple[bytes, bytes]:
        """Return (code hash, storage root) of an account at the tip: all a self-contained view reads."""
        state = self.tip_state()
        # py-evm exposes no public getter for an account's storage root.
        return state.get_code_hash(address), state._account_db._get_storage_root(address)  # type: ignore[attr-defined]

    def state_nonce(self, sender: bytes) -> int:
        """Return the nonce of an account after the last block built."""
        return self.tip_state().get_nonce(sender)

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
        """Check a signed transaction against the tip state and pool it."""
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
        if tx.gas > self.tip.gas_limit:
            raise TransactionRejected(f"exceeds block gas limit: gas {tx.gas}, limit {self.tip.gas_limit}")
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
        state = self.tip_state()
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

    def mine_pending(self, one_tx_per_block: bool = False, durable: bool = True) -> list[BlockHeaderAPI]:
        """Mine the executable pool: one block per transaction, or all into one block.

        With `durable` false the last block's disk write is left running (see `settle`).
        """
        mined: list[BlockHeaderAPI] = []
        while True:
            ready = self.ready_to_mine()
            if not ready:
                return mined
            batch = ready[:1] if one_tx_per_block else ready
            try:
                header, included = self.mine_block([p.tx for p in batch], durable=durable)
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

        Admission checked the sender against the tip of its time; a suspension mined since then
        (ahead of it in the pool) must still keep the transaction out of the chain.
        """
        ready = self.pool.executable(self.state_nonce)
        permitted = {sender: self._may_send(sender) for sender in {pooled.sender for pooled in ready}}
        return [pooled for pooled in ready if permitted[pooled.sender]]

    def _may_send(self, sender: bytes) -> bool:
        """Check a pooled sender against the tip; drop all its transactions if refused."""
        if self.permission_check is None:
            return True
        try:
            self.permission_check(sender)
        except SenderNotPermitted as exc:
            for dropped in self.pool.remove_sender(sender):
                logger.warning(
                    "dropped pooled tx %s before block %s: %s",
                    dropped.tx.hash.hex(),
                    self.tip.block_number + 1,
                    exc.message,
                )
            return False
        return True

    def mine_block(
        self,
        txs: list[SignedTransactionAPI],
        timestamp: int | None = None,
        state_hook: Callable[[StateAPI], None] | None = None,
        durable: bool = True,
    ) -> tuple[BlockHeaderAPI, list[SignedTransactionAPI]]:
        """Build, seal and store one block from these transactions; return it and the included txs.

        The block becomes the tip at once and the head once on disk: before returning if
        `durable`, else when `settle` finds its write done.
        """
        self.discard_draft()
        self.settle(wait=True)
        draft = self._open_draft(timestamp, state_hook)
        for tx in txs:
            if draft.closed:
                break  # the rest waits for the next block and its permission re-check
            self._add(draft, tx)
        return self._seal(draft, durable)

    def build_step(self, budget_s: float = _STEP_BUDGET_S) -> bool:
        """Execute pooled transactions into the draft of the next block for about `budget_s`.

        Interval mining runs this between requests; return True if more could be added now.
        Senders take turns, each in nonce order from its state nonce at the tip, and each is
        checked against the registry when first met in the block.
        """
        draft = self._draft
        if draft is not None and not draft.is_current(self.tip, self.pool.version):
            draft = self._draft = None  # a transaction it holds was replaced or dropped: start over
        if draft is None:
            if not len(self.pool):
                return False
            self.pool.drop_stale(self.state_nonce)
            draft = self._draft = self._open_draft()
        deadline = time.perf_counter() + budget_s
        while not draft.closed:
            added = False
            for sender in self.pool.senders():
                if sender in draft.blocked:
                    continue
                nonce = draft.next_nonce.get(sender)
                if nonce is None:
                    if not self._may_send(sender):
                        draft.blocked.add(sender)
                        draft.pool_version = self.pool.version  # none of its txs was in the draft
                        continue
                    nonce = draft.next_nonce[sender] = self.state_nonce(sender)
                pooled = self.pool.at(sender, nonce)
                if pooled is None:
                    continue
                try:
                    self._add(draft, pooled.tx)
                except Exception:
                    # A transaction that breaks the block builder is never retried; the rest is.
                    logger.exception("block building failed at tx %s; dropped", pooled.tx.hash.hex())
                    self.pool.remove(pooled.tx.hash)
                    self._draft = None
                    return True
                added = True
                if draft.closed or time.perf_counter() >= deadline:
                    return not draft.closed
            if not added:
                return False
        return False

    def seal_draft(self, durable: bool = False) -> BlockHeaderAPI | None:
        """Seal and store the draft, if it holds transactions; return its header."""
        draft, self._draft = self._draft, None
        if draft is None or not draft.included:
            return None
        if not draft.is_current(self.tip, self.pool.version):
            return None  # outdated: its transactions are still pooled, for the next draft
        return self._seal(draft, durable)[0]

    def discard_draft(self) -> None:
        """Forget the draft (its transactions stay pooled)."""
        self._draft = None

    def _open_draft(
        self, timestamp: int | None = None, state_hook: Callable[[StateAPI], None] | None = None
    ) -> Draft:
        parent = self.tip
        uses_next = timestamp is None and self.next_timestamp is not None
        if uses_next:
            timestamp = self.next_timestamp
        if timestamp is not None and timestamp <= parent.timestamp:
            raise InvalidParams(f"timestamp {timestamp} must be after the parent's {parent.timestamp}")
        if timestamp is None:  # post-merge headers need strictly increasing timestamps
            timestamp = max(int(time.time()) + self.time_offset, parent.timestamp + 1)
        draft = Draft(self.chain, parent, timestamp, self.registry, self.pool.version, state_hook)
        draft.uses_next_timestamp = uses_next
        return draft

    def _add(self, draft: Draft, tx: SignedTransactionAPI) -> None:
        sender = tx.sender
        if sender in draft.blocked or not draft.fits(tx):
            draft.blocked.add(sender)  # its later nonces cannot go before this one: all wait
            return
        reason = draft.apply(tx)
        if reason is not None:
            logger.warning("dropped tx %s: %s", tx.hash.hex(), reason)
            self.pool.remove(tx.hash)
            draft.pool_version = self.pool.version  # its own drop leaves it valid
            draft.blocked.add(sender)
            return
        draft.next_nonce[sender] = tx.nonce + 1

    def _seal(self, draft: Draft, durable: bool) -> tuple[BlockHeaderAPI, list[SignedTransactionAPI]]:
        self.settle(wait=True)  # one block in flight at most, so a failed write loses only that one
        if draft.parent.hash != self.tip.hash:
            raise NodeError(f"block {draft.header.block_number} lost its parent (a failed disk write)")
        try:
            sealed = draft.seal(self.chaindb)
            self.store.begin_commit()
        except BaseException:
            self.store.rollback()
            raise
        if draft.uses_next_timestamp:
            self.next_timestamp = None
        self._set_tip(sealed.header)
        self._unsettled = sealed.header
        self._recent.put(sealed.hash, (tuple(draft.included), tuple(draft.receipts)))
        for tx in draft.included:
            self._unsettled_txs[tx.hash] = tx
            self.pool.remove(tx.hash, mined=True)
        logger.debug("mined block %s with %s txs", sealed.number, len(draft.included))
        if durable:
            self.settle(wait=True)
        return sealed.header, draft.included

    def settle(self, wait: bool = False) -> None:
        """Make the block being written the head once it is on disk (waiting for that, or not).

        A failed write (disk full, I/O error) drops that block: its transactions, never shown
        as mined, are gone as after a crash, and the tip returns to the head.
        """
        header = self._unsettled
        if header is None:
            return
        flush = self.store.flushing
        if not wait and flush is not None and not flush.done():
            return
        self._unsettled = None
        self._unsettled_txs = {}
        try:
            self.store.finish_commit()
        except Exception as exc:
            logger.exception("writing block %s to disk failed; it is dropped", header.block_number)
            self._set_tip(self.head)
            raise NodeError(f"writing block {header.block_number} to disk failed: {exc}") from exc
        self._set_head(header)
        for listener in self.listeners:
            try:
                listener(header)
            except Exception:
                logger.exception("block listener failed")

    def _set_head(self, header: BlockHeaderAPI) -> None:
        self.head = header
        self._head_state = None

    def _set_tip(self, header: BlockHeaderAPI) -> None:
        self.tip = header
        self._tip_state = None
        self._next_base_fee = None

    # -- dev-mode controls ----------------------------------------------------------

    def snapshot(self) -> int:
        """Remember the current head; return a snapshot id."""
        self.settle(wait=True)
        self._snapshot_ids += 1
        self._snapshots[self._snapshot_ids] = self.head.hash
        return self._snapshot_ids

    def revert(self, snapshot_id: int) -> bool:
        """Make a snapshot's head canonical again; later snapshots are invalidated."""
        head_hash = self._snapshots.get(snapshot_id)
        if head_hash is None:
            return False
        self.discard_draft()
        self.settle(wait=True)
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
        self._set_tip(header)
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
