"""TxPool ordering, gaps and replacement rules."""

from __future__ import annotations

import pytest
from eth.vm.forks.prague import PragueVM
from eth_account import Account

from node.txpool import PoolError, TxPool
from tests.node.conftest import signed

A = Account.from_key("0x" + "0a" * 32)
B = Account.from_key("0x" + "0b" * 32)


def tx(account, nonce: int, max_fee: int = 10 * 10**9, tip: int = 10**9):
    raw = bytes.fromhex(signed(account, nonce, to=B.address, max_fee=max_fee, tip=tip)[2:])
    return PragueVM.get_transaction_builder().decode(raw)


def addr(account) -> bytes:
    return bytes.fromhex(account.address[2:])


def test_executable_follows_nonces_and_stops_at_gap() -> None:
    pool = TxPool()
    for nonce in (2, 0, 1, 4):
        pool.add(tx(A, nonce), addr(A))
    pool.add(tx(B, 0), addr(B))
    ready = pool.executable(lambda sender: 0)
    assert [(p.sender, p.tx.nonce) for p in ready] == [(addr(A), 0), (addr(A), 1), (addr(A), 2), (addr(B), 0)]
    assert pool.pending_nonce(addr(A), 0) == 3


def test_executable_drops_stale_nonces() -> None:
    pool = TxPool()
    pool.add(tx(A, 0), addr(A))
    pool.add(tx(A, 1), addr(A))
    assert [p.tx.nonce for p in pool.executable(lambda sender: 1)] == [1]
    assert len(pool) == 1


def test_replacement_needs_ten_percent_bump() -> None:
    pool = TxPool()
    pool.add(tx(A, 0, max_fee=10 * 10**9), addr(A))
    with pytest.raises(PoolError, match="underpriced"):
        pool.add(tx(A, 0, max_fee=10 * 10**9 + 1), addr(A))
    # The tip is fixed at 1 gwei by `signed`, so only the fee cap moves: still underpriced.
    with pytest.raises(PoolError, match="underpriced"):
        pool.add(tx(A, 0, max_fee=20 * 10**9), addr(A))
    with pytest.raises(PoolError, match="already known"):
        pool.add(tx(A, 0, max_fee=10 * 10**9), addr(A))
    assert len(pool) == 1
    replacement = tx(A, 0, max_fee=11 * 10**9, tip=11 * 10**8)
    pool.add(replacement, addr(A))
    assert len(pool) == 1
    assert pool.executable(lambda sender: 0)[0].tx.hash == replacement.hash


def test_remove_sender_drops_queued_and_gapped_transactions() -> None:
    pool = TxPool()
    for nonce in (0, 1, 5):
        pool.add(tx(A, nonce), addr(A))
    kept = tx(B, 0)
    pool.add(kept, addr(B))
    dropped = pool.remove_sender(addr(A))
    assert [p.tx.nonce for p in dropped] == [0, 1, 5]
    assert len(pool) == 1 and pool.get(kept.hash) is not None
    assert pool.pending_nonce(addr(A), 0) == 0
