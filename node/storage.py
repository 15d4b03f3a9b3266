"""Disk-backed key-value store for py-evm (py-evm 0.12 ships only in-memory backends).

Writes are buffered in memory and made durable together by `commit()`, which the chain
calls once per mined block: one LMDB write transaction (fsync'd) holds the header, body,
receipts and state-trie nodes of the block, so a crash leaves the last committed block as
the head and never half a block.
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path

import lmdb
from eth.db.backends.base import BaseDB

logger = logging.getLogger(__name__)

# A virtual reservation, not disk usage: LMDB files grow with the data.
_MAP_SIZE = 256 * 1024**3
_DELETED = None


class DataDirLocked(RuntimeError):
    """Another process holds the data directory."""


class LmdbStore(BaseDB):
    """py-evm `BaseDB` over LMDB with an in-memory write buffer flushed per block."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Two writers on one data dir would fork the chain: hold an exclusive lock.
        self._lock_file = (path / "node.lock").open("a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise DataDirLocked(f"data dir {path} is in use by another node") from None
        self._env = lmdb.open(
            str(path), map_size=_MAP_SIZE, sync=True, metasync=True, readahead=False, max_readers=16
        )
        self._pending: dict[bytes, bytes | None] = {}
        # One read snapshot, renewed after each commit; only the chain thread reads.
        self._reader = self._env.begin(buffers=False)

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._pending:
            value = self._pending[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        value = self._reader.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def _exists(self, key: bytes) -> bool:
        if key in self._pending:
            return self._pending[key] is not _DELETED
        return self._reader.get(key) is not None

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._pending[key] = _DELETED

    @property
    def pending_writes(self) -> int:
        """Return how many keys are buffered and not yet durable."""
        return len(self._pending)

    def commit(self) -> None:
        """Write all buffered changes in one durable transaction."""
        if not self._pending:
            return
        with self._env.begin(write=True) as txn:
            for key, value in self._pending.items():
                if value is _DELETED:
                    txn.delete(key)
                else:
                    txn.put(key, value)
        self._pending.clear()
        self._reader.abort()
        self._reader = self._env.begin(buffers=False)

    def rollback(self) -> None:
        """Drop buffered changes (a failed block build)."""
        self._pending.clear()

    def disk_bytes(self) -> int:
        """Return the size of the database file."""
        info = self._env.info()
        stat = self._env.stat()
        return int(info["last_pgno"] + 1) * int(stat["psize"])

    def close(self) -> None:
        """Release the environment; buffered writes are dropped."""
        self._reader.abort()
        self._env.close()
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()
