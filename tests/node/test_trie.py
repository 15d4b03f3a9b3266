"""The fast ordered-trie builder matches py-evm's HexaryTrie byte for byte."""

from __future__ import annotations

from eth.db.trie import _make_trie_root_and_nodes
from hypothesis import given
from hypothesis import strategies as st

from node.trie import ordered_trie_root_and_nodes


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
