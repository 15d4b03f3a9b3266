"""Disk-backed key-value store for py-evm (py-evm 0.12 ships only in-memory backends).

Writes are buffered in memory and made durable together, once per mined block: one LMDB
write transaction (fsync'd) holds the header, body, receipts and state-trie nodes of the
block, so a crash leaves the last committed block as the head and never half a block.

`commit()` writes and waits. `begin_commit()` hands the buffer to a writer thread and
returns at once (the fsync, ~5-20 ms a block here and up to ~250 ms when the disk is busy,
releases the GIL): reads still see those writes, from memory, while they go to disk, and
`finish_commit()` waits for the write and re-reads from disk after it. At most one write is
in flight, in order. The chain uses this to admit transactions during the fsync while it
shows the block to clients only once `finish_commit()` has returned.
"""

from __future__ import annotations

import fcntl
import logging
from concurrent.futures import Future, ThreadPoolExecutor
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
        # Handed to the writer thread, read-only from then on; served from memory until on disk.
        self._flushing: dict[bytes, bytes | None] = {}
        self._flush: Future[None] | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="scf-lmdb-writer")
        # One read snapshot, renewed after each commit; only the chain thread reads.
        self._reader = self._env.begin(buffers=False)

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._pending:
            value = self._pending[key]
        elif key in self._flushing:
            value = self._flushing[key]
        else:
            value = self._reader.get(key)
        if value is None:  # absent, or deleted in a buffer
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def _exists(self, key: bytes) -> bool:
        if key in self._pending:
            return self._pending[key] is not _DELETED
        if key in self._flushing:
            return self._flushing[key] is not _DELETED
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
        """Write all buffered changes in one durable transaction, and wait for it."""
        self.begin_commit()
        self.finish_commit()

    def begin_commit(self) -> None:
        """Start writing the buffered changes durably on the writer thread (after any earlier write)."""
        self.finish_commit()
        if not self._pending:
            return
        self._flushing, self._pending = self._pending, {}
        self._flush = self._writer.submit(self._write, self._flushing)

    @property
    def flushing(self) -> Future[None] | None:
        """Return the write in flight, if any (done once it is on disk)."""
        return self._flush

    def finish_commit(self) -> None:
        """Wait for the write in flight; raise its error, if any, after dropping its changes."""
        flush, self._flush = self._flush, None
        if flush is None:
            return
        try:
            flush.result()
        finally:
            self._flushing = {}
            self._reader.abort()
            self._reader = self._env.begin(buffers=False)

    def _write(self, changes: dict[bytes, bytes | None]) -> None:
        with self._env.begin(write=True) as txn:
            for key, value in changes.items():
                if value is _DELETED:
                    txn.delete(key)
                else:
                    txn.put(key, value)

    def rollback(self) -> None:
        """Drop buffered changes not yet handed to the writer (a failed block build)."""
        self._pending.clear()

    def disk_bytes(self) -> int:
        """Return the size of the database file."""
        info = self._env.info()
        stat = self._env.stat()
        return int(info["last_pgno"] + 1) * int(stat["psize"])

    def close(self) -> None:
        """Release the environment after the write in flight; buffered writes are dropped."""
        try:
            self.finish_commit()
        except Exception:
            logger.exception("the last block write failed at close")
        self._writer.shutdown(wait=True)
        self._reader.abort()
        self._env.close()
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()
