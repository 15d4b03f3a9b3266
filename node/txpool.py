"""Pending transactions: per-sender nonce queues, replacement and gap rules."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from eth.abc import SignedTransactionAPI

logger = logging.getLogger(__name__)

# A replacement must raise both fee caps by at least this much (geth's default).
PRICE_BUMP_PERCENT = 10


class PoolError(Exception):
    """A transaction the pool will not take."""


@dataclass(order=True)
class PooledTx:
    seq: int
    tx: SignedTransactionAPI = field(compare=False)
    sender: bytes = field(compare=False)


def fee_caps(tx: SignedTransactionAPI) -> tuple[int, int]:
    """Return (max fee per gas, max priority fee per gas) of any transaction type."""
    if tx.type_id in (None, 1):
        return tx.gas_price, tx.gas_price
    return tx.max_fee_per_gas, tx.max_priority_fee_per_gas


class TxPool:
    """Transactions admitted but not yet mined, keyed by sender and nonce."""

    def __init__(self) -> None:
        self._by_sender: dict[bytes, dict[int, PooledTx]] = {}
        self._by_hash: dict[bytes, PooledTx] = {}
        self._seq = itertools.count()
        # Bumped whenever a transaction leaves other than by being mined: a block being built
        # from the pool must then start over.
        self.version = 0

    def __len__(self) -> int:
        return len(self._by_hash)

    def get(self, tx_hash: bytes) -> PooledTx | None:
        """Return the pooled transaction with this hash, if any."""
        return self._by_hash.get(tx_hash)

    def add(self, tx: SignedTransactionAPI, sender: bytes) -> None:
        """Add a transaction, replacing a same-nonce one only for a fee bump."""
        if tx.hash in self._by_hash:
            raise PoolError(f"already known: {tx.hash.hex()}")
        queue = self._by_sender.setdefault(sender, {})
        old = queue.get(tx.nonce)
        if old is not None:
            old_fee, old_tip = fee_caps(old.tx)
            new_fee, new_tip = fee_caps(tx)
            bump = 100 + PRICE_BUMP_PERCENT
            if new_fee * 100 < old_fee * bump or new_tip * 100 < old_tip * bump:
                raise PoolError("replacement transaction underpriced")
            del self._by_hash[old.tx.hash]
            self.version += 1
            logger.debug("replaced %s by %s", old.tx.hash.hex(), tx.hash.hex())
        pooled = PooledTx(next(self._seq), tx, sender)
        queue[tx.nonce] = pooled
        self._by_hash[tx.hash] = pooled

    def senders(self) -> list[bytes]:
        """Return the senders with pooled transactions, in the order they first sent one."""
        return list(self._by_sender)

    def at(self, sender: bytes, nonce: int) -> PooledTx | None:
        """Return the sender's pooled transaction with this nonce, if any."""
        queue = self._by_sender.get(sender)
        return None if queue is None else queue.get(nonce)

    def drop_stale(self, state_nonce: Callable[[bytes], int]) -> None:
        """Drop transactions whose nonce the chain has already used."""
        for sender in list(self._by_sender):
            queue = self._by_sender[sender]
            nonce = state_nonce(sender)
            for stale in [n for n in queue if n < nonce]:
                self._drop(queue.pop(stale))
            if not queue:
                del self._by_sender[sender]

    def pending_nonce(self, sender: bytes, state_nonce: int) -> int:
        """Return the next nonce after the sender's contiguous pooled transactions."""
        queue = self._by_sender.get(sender, {})
        nonce = state_nonce
        while nonce in queue:
            nonce += 1
        return nonce

    def executable(self, state_nonce: Callable[[bytes], int]) -> list[PooledTx]:
        """Return transactions that can run now: senders by arrival, each in nonce order."""
        runs: list[list[PooledTx]] = []
        for sender in list(self._by_sender):
            queue = self._by_sender[sender]
            nonce = state_nonce(sender)
            for stale in [n for n in queue if n < nonce]:
                self._drop(queue.pop(stale))
            run: list[PooledTx] = []
            while nonce in queue:
                run.append(queue[nonce])
                nonce += 1
            if run:
                runs.append(run)
            if not queue:
                del self._by_sender[sender]
        runs.sort(key=lambda r: r[0].seq)
        return [pooled for run in runs for pooled in run]

    def remove(self, tx_hash: bytes, mined: bool = False) -> None:
        """Forget a transaction (mined or dropped)."""
        pooled = self._by_hash.get(tx_hash)
        if pooled is None:
            return
        if not mined:
            self.version += 1
        queue = self._by_sender.get(pooled.sender, {})
        if queue.get(pooled.tx.nonce) is pooled:
            del queue[pooled.tx.nonce]
            if not queue:
                del self._by_sender[pooled.sender]
        del self._by_hash[tx_hash]

    def remove_sender(self, sender: bytes) -> list[PooledTx]:
        """Forget every transaction of a sender; return them."""
        queue = self._by_sender.pop(sender, {})
        self.version += 1
        for pooled in queue.values():
            self._by_hash.pop(pooled.tx.hash, None)
        return sorted(queue.values())

    def clear(self) -> None:
        """Drop everything (after a dev-mode revert)."""
        self.version += 1
        self._by_sender.clear()
        self._by_hash.clear()

    def _drop(self, pooled: PooledTx) -> None:
        self.version += 1
        self._by_hash.pop(pooled.tx.hash, None)
