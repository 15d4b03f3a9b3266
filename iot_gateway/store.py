"""The gateway's disk state (SQLite, WAL): per-device sequence windows and the republication queue.

A reading is accepted in the same transaction that records its sequence number in its device's
window (`iot_gateway.replay`) and queues it, so after a crash a reading is either queued (and
will be republished) or not accepted (the broker redelivers it: the gateway acknowledges a
telemetry message only after the commit). Rows leave the queue only when the broker has
acknowledged their republication.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from iot_gateway.replay import SeqWindow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seq_window (
    device TEXT PRIMARY KEY,
    high INTEGER NOT NULL,
    mask BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    device TEXT NOT NULL,
    seq INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Queued:
    """A verified reading waiting for the broker: its queue id, topic and original payload bytes."""

    id: int
    topic: str
    payload: bytes


class GatewayStore:
    """SQLite state of one gateway; use from one thread (the gateway's worker)."""

    def __init__(self, path: Path, *, window: int = 4096) -> None:
        self.window = window
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a process crash; only an OS crash can lose the last ones.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._windows: dict[str, SeqWindow] = {
            device: SeqWindow.from_row(high, mask)
            for device, high, mask in self._db.execute("SELECT device, high, mask FROM seq_window")
        }

    def seq_window(self, device: str) -> SeqWindow | None:
        """The sequence numbers accepted from `device` so far, or None if none was."""
        return self._windows.get(device)

    def accept(self, batch: list[tuple[str, bytes, str, int]], windows: dict[str, SeqWindow]) -> None:
        """Queue `(topic, payload, device, seq)` readings and store their devices' new windows, atomically."""
        if not batch:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO outbox (topic, payload, device, seq) VALUES (?, ?, ?, ?)", batch
            )
            self._db.executemany(
                "INSERT INTO seq_window (device, high, mask) VALUES (?, ?, ?) "
                "ON CONFLICT(device) DO UPDATE SET high = excluded.high, mask = excluded.mask",
                [(device, w.high, w.to_bytes(self.window)) for device, w in windows.items()],
            )
        self._windows.update(windows)

    def pending(self, *, after_id: int, limit: int) -> list[Queued]:
        """Queued readings with id > `after_id`, oldest first."""
        rows = self._db.execute(
            "SELECT id, topic, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        )
        return [Queued(row[0], row[1], bytes(row[2])) for row in rows]

    def done(self, ids: list[int]) -> int:
        """Remove readings whose republication the broker acknowledged; how many were still queued."""
        if not ids:
            return 0
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            return self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids]).rowcount

    def depth(self) -> int:
        """How many readings wait for the broker."""
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        self._db.close()
