"""One block under construction on py-evm: transactions applied one by one, sealed once.

The ledger builds a block in two ways: all at once (instant mining, dev `evm_mine`), or as
a draft advanced a few transactions at a time between client requests (interval mining), so
the chain thread executes transactions while clients are busy preparing the next request
instead of making them wait for a whole block. Either way each transaction is executed
once, and the state root, the transaction and receipt tries and the block are computed once,
at `seal`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI, StateAPI
from eth.constants import ZERO_ADDRESS
from eth.db.chain import ChainDB
from eth_utils import ValidationError, keccak

from node.trie import encode_receipt, ordered_trie_root_and_nodes

logger = logging.getLogger(__name__)


class Draft:
    """The next block: its VM, the transactions applied so far and their receipts."""

    def __init__(
        self,
        chain,  # type: ignore[no-untyped-def]  # py-evm MiningChain
        parent: BlockHeaderAPI,
        timestamp: int,
        registry: bytes | None,
        pool_version: int,
        state_hook: Callable[[StateAPI], None] | None = None,
    ) -> None:
        self.parent = parent
        # The pool's version it was built against: a transaction it holds must still be pooled.
        self.pool_version = pool_version
        # Whether its timestamp is the one set by evm_setNextBlockTimestamp (used up at seal).
        self.uses_next_timestamp = False
        self.header = chain.create_header_from_parent(
            parent, timestamp=timestamp, coinbase=ZERO_ADDRESS, mix_hash=keccak(parent.hash)
        )
        self.vm = chain.get_vm(self.header)
        if state_hook is not None:
            state_hook(self.vm.state)
        self.registry = registry
        self.included: list[SignedTransactionAPI] = []
        self.receipts: list[ReceiptAPI] = []
        # Per sender: the nonce to take next, or no entry before the sender is checked.
        self.next_nonce: dict[bytes, int] = {}
        # Senders that cannot go on in this block: out of gas room, refused, or not permitted.
        self.blocked: set[bytes] = set()
        # Set after a transaction that may change who may send: the rest waits for the next
        # block, whose senders are checked again against the new membership.
        self.closed = False

    def is_current(self, tip: BlockHeaderAPI, pool_version: int) -> bool:
        """Return True if the draft still extends the tip and holds only pooled transactions."""
        return self.parent.hash == tip.hash and self.pool_version == pool_version

    def fits(self, tx: SignedTransactionAPI) -> bool:
        """Return True if the transaction's gas limit fits in what is left of the block."""
        return self.header.gas_used + tx.gas <= self.header.gas_limit

    def apply(self, tx: SignedTransactionAPI) -> str | None:
        """Execute one transaction into the block; return why it was refused, if it was."""
        snapshot = self.vm.state.snapshot()
        try:
            receipt, _computation = self.vm.apply_transaction(self.header, tx)
        except ValidationError as exc:
            self.vm.state.revert(snapshot)
            return str(exc)
        self.header = self.vm.increment_blob_gas_used(self.vm.add_receipt_to_header(self.header, receipt), tx)
        self.included.append(tx)
        self.receipts.append(receipt)
        if self._may_change_membership(tx, receipt):
            self.closed = True
        return None

    def _may_change_membership(self, tx: SignedTransactionAPI, receipt: ReceiptAPI) -> bool:
        # A direct call, or any event of the registry (every change of it emits one, whoever calls).
        # A failed transaction changed nothing; post-Byzantium its receipt "state root" is b"".
        if self.registry is None or receipt.state_root == b"":
            return False
        return tx.to == self.registry or any(log.address == self.registry for log in receipt.logs)

    def seal(self, chaindb: ChainDB) -> BlockAPI:
        """Compute the roots, write the block into the store's buffer and return it."""
        tx_root, tx_nodes = ordered_trie_root_and_nodes([t.encode() for t in self.included])
        receipt_root, receipt_nodes = ordered_trie_root_and_nodes([encode_receipt(r) for r in self.receipts])
        chaindb.persist_trie_data_dict(tx_nodes)
        chaindb.persist_trie_data_dict(receipt_nodes)
        # The state root, once per block. This is py-evm's `finalize_block` without its copy
        # of the block (a deep copy of every transaction): post-merge there are no rewards to
        # assign. We built this block from admitted transactions: py-evm's import-time
        # validation (which rebuilds the tx trie the slow way) adds nothing.
        state = self.vm.state
        state.persist()
        sealed = self.vm.get_block().copy(
            transactions=self.included,
            header=self.header.copy(
                transaction_root=tx_root, receipt_root=receipt_root, state_root=state.state_root
            ),
        )
        chaindb.persist_block(sealed)
        return sealed
