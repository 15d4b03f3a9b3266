"""The fast ordered-trie builder matches py-evm's HexaryTrie byte for byte."""

from __future__ import annotations

import rlp
from eth.db.trie import _make_trie_root_and_nodes
from eth.rlp.accounts import Account
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.vm.forks.prague import PragueVM
from hypothesis import given
from hypothesis import strategies as st

from node.trie import encode_account, encode_receipt, ordered_trie_root_and_nodes


@given(st.lists(st.binary(min_size=1, max_size=120), max_size=300))
def test_ordered_trie_matches_py_evm(items: list[bytes]) -> None:
    root, nodes = ordered_trie_root_and_nodes(items)
    expected_root, expected_nodes = _make_trie_root_and_nodes(tuple(items))
    assert root == expected_root
    if items:
        assert nodes == expected_nodes


def test_ordered_trie_handles_index_boundaries() -> None:
    for size in (1, 2, 16, 17, 127, 128, 129, 256, 257):
        items = [bytes([i % 251 + 1]) * (i % 40 + 1) for i in range(size)]
        assert ordered_trie_root_and_nodes(items)[0] == _make_trie_root_and_nodes(tuple(items))[0]


_logs = st.lists(
    st.builds(
        Log,
        st.binary(min_size=20, max_size=20),
        st.lists(st.integers(0, 2**256 - 1), max_size=4).map(tuple),
        st.binary(max_size=300),
    ),
    max_size=5,
)


@given(
    st.sampled_from([b"", b"\x01"]),
    st.integers(0, 2**64),
    _logs,
    st.sampled_from([None, 1, 2, 3, 4]),
)
def test_encode_receipt_matches_py_evm(status: bytes, gas: int, logs: list[Log], type_id: int | None) -> None:
    receipt = Receipt(status, gas, logs)
    if type_id is not None:
        receipt = PragueVM.get_receipt_builder().typed_receipt_class(type_id, receipt)
    assert encode_receipt(receipt) == receipt.encode()


@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**256 - 1),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
)
def test_encode_account_matches_rlp(nonce: int, balance: int, storage_root: bytes, code_hash: bytes) -> None:
    account = Account(nonce, balance, storage_root, code_hash)
    assert encode_account(account) == rlp.encode(account, sedes=Account)
