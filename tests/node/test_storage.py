"""LmdbStore: buffered writes become durable only on commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.storage import LmdbStore


def test_uncommitted_writes_are_visible_but_not_durable(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path)
    store[b"a"] = b"1"
    assert store[b"a"] == b"1" and store.exists(b"a")
    store.close()
    reopened = LmdbStore(tmp_path)
    assert not reopened.exists(b"a")
    reopened.close()


def test_commit_persists_sets_and_deletes(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path)
    store[b"a"] = b"1"
    store[b"b"] = b"2"
    store.commit()
    del store[b"a"]
    with pytest.raises(KeyError):
        store[b"a"]
    store.commit()
    store.close()
    reopened = LmdbStore(tmp_path)
    assert not reopened.exists(b"a") and reopened[b"b"] == b"2"
    with pytest.raises(KeyError):
        del reopened[b"missing"]
    reopened.close()


def test_rollback_drops_buffer(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path)
    store[b"a"] = b"1"
    store.commit()
    store[b"a"] = b"2"
    store.rollback()
    assert store[b"a"] == b"1" and store.pending_writes == 0
    store.close()
