"""The node's SQLite database: accepted readings, sealed rounds, what it learnt from the chain.

Readings are committed before their MQTT delivery is acknowledged, so a crash or restart loses
none. A round is sealed once: readings arriving for a sealed round are refused, so the leaves
of every sealed round stay exactly those its report covered.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chain.readings import Reading, parse

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    device TEXT NOT NULL,
    seq INTEGER NOT NULL,
    device_id BLOB NOT NULL,
    lot BLOB NOT NULL,
    round INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    payload BLOB NOT NULL,
    payload_hash BLOB NOT NULL,
    leaf BLOB NOT NULL,
    PRIMARY KEY (device, seq)
);
CREATE INDEX IF NOT EXISTS readings_lot_round ON readings (lot, round);
CREATE INDEX IF NOT EXISTS readings_lot_device_ts ON readings (lot, device_id, ts_ms);
CREATE TABLE IF NOT EXISTS rounds (
    lot BLOB NOT NULL,
    round INTEGER NOT NULL,
    status INTEGER NOT NULL,
    root BLOB NOT NULL,
    count INTEGER NOT NULL,
    observed_at INTEGER NOT NULL,
    digest BLOB NOT NULL,
    reasons TEXT NOT NULL,
    PRIMARY KEY (lot, round)
);
CREATE TABLE IF NOT EXISTS anchors (
    lot BLOB NOT NULL,
    round INTEGER NOT NULL,
    status INTEGER NOT NULL,
    root BLOB NOT NULL,
    count INTEGER NOT NULL,
    observed_at INTEGER NOT NULL,
    block INTEGER NOT NULL,
    PRIMARY KEY (lot, round)
);
CREATE TABLE IF NOT EXISTS lots (
    lot BLOB PRIMARY KEY,
    goods TEXT NOT NULL,
    unit TEXT NOT NULL,
    quantity_milli INTEGER NOT NULL,
    location TEXT NOT NULL,
    registered_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    device_id BLOB PRIMARY KEY,
    lot BLOB NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredReading:
    """A reading the node accepted, with where it belongs."""

    lot: bytes
    round: int
    reading: Reading
    payload: bytes


@dataclass(frozen=True)
class SealedRound:
    """The report this node computed and signed for one round of one lot."""

    lot: bytes
    round: int
    status: int
    root: bytes
    count: int
    observed_at: int
    digest: bytes
    reasons: list[str]


@dataclass(frozen=True)
class Anchor:
    """A report accepted on chain."""

    lot: bytes
    round: int
    status: int
    root: bytes
    count: int
    observed_at: int
    block: int


@dataclass(frozen=True)
class LotRecord:
    lot: bytes
    goods: str
    unit: str
    quantity_milli: int
    location: str
    registered_at_ms: int


class OracleStore:
    """One node's database. Use from one thread; `ProofStore` opens its own connection to read."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------ readings

    def add_readings(self, rows: Sequence[StoredReading]) -> list[str]:
        """Insert `rows` in one transaction; per row `added`, `duplicate` (same payload) or `conflict`."""
        outcomes = []
        self._db.execute("BEGIN")
        try:
            for row in rows:
                r = row.reading
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r.device,
                        r.seq,
                        r.device_id,
                        row.lot,
                        row.round,
                        r.ts_ms,
                        row.payload,
                        r.payload_hash,
                        r.leaf,
                    ),
                )
                if cur.rowcount:
                    outcomes.append("added")
                    continue
                (existing,) = self._db.execute(
                    "SELECT payload_hash FROM readings WHERE device = ? AND seq = ?", (r.device, r.seq)
                ).fetchone()
                outcomes.append("duplicate" if existing == r.payload_hash else "conflict")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return outcomes

    def round_readings(self, lot: bytes, round_: int) -> list[Reading]:
        rows = self._db.execute(
            "SELECT payload FROM readings WHERE lot = ? AND round = ? ORDER BY ts_ms, device, seq",
            (lot, round_),
        ).fetchall()
        return [parse(payload) for (payload,) in rows]

    def rounds_with_readings(self, lot: bytes, after: int, upto: int) -> list[int]:
        rows = self._db.execute(
            "SELECT DISTINCT round FROM readings WHERE lot = ? AND round > ? AND round <= ? ORDER BY round",
            (lot, after, upto),
        ).fetchall()
        return [r for (r,) in rows]

    def last_seen_ms(self, lot: bytes, devices: Iterable[bytes], before_ms: int) -> dict[bytes, int]:
        """Per device of `lot` heard from, its latest reading time before `before_ms` (index probes)."""
        seen = {}
        for device in devices:
            (ts,) = self._db.execute(
                "SELECT MAX(ts_ms) FROM readings WHERE lot = ? AND device_id = ? AND ts_ms < ?",
                (lot, device, before_ms),
            ).fetchone()
            if ts is not None:
                seen[device] = ts
        return seen

    def reading_count(self, lot: bytes | None = None) -> int:
        if lot is None:
            return self._db.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM readings WHERE lot = ?", (lot,)).fetchone()[0]

    # ------------------------------------------------------------ rounds

    def seal(self, sealed: SealedRound) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sealed.lot,
                sealed.round,
                sealed.status,
                sealed.root,
                sealed.count,
                sealed.observed_at,
                sealed.digest,
                json.dumps(sealed.reasons),
            ),
        )

    def last_sealed(self, lot: bytes) -> int:
        """The latest round sealed for `lot` (-1: none)."""
        (value,) = self._db.execute("SELECT MAX(round) FROM rounds WHERE lot = ?", (lot,)).fetchone()
        return -1 if value is None else value

    def sealed(self, lot: bytes, round_: int) -> SealedRound | None:
        row = self._db.execute("SELECT * FROM rounds WHERE lot = ? AND round = ?", (lot, round_)).fetchone()
        if row is None:
            return None
        return SealedRound(
            bytes(row[0]), row[1], row[2], bytes(row[3]), row[4], row[5], bytes(row[6]), json.loads(row[7])
        )

    # ------------------------------------------------------------ chain facts

    def add_anchors(self, anchors: Iterable[Anchor]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO anchors VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(a.lot, a.round, a.status, a.root, a.count, a.observed_at, a.block) for a in anchors],
        )

    def latest_anchors(self) -> dict[bytes, Anchor]:
        """Per lot, its latest report accepted on chain."""
        rows = self._db.execute(
            "SELECT a.* FROM anchors a JOIN (SELECT lot, MAX(round) AS r FROM anchors GROUP BY lot) m"
            " ON a.lot = m.lot AND a.round = m.r"
        ).fetchall()
        return {bytes(r[0]): Anchor(bytes(r[0]), r[1], r[2], bytes(r[3]), r[4], r[5], r[6]) for r in rows}

    def add_lot(self, lot: LotRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO lots VALUES (?, ?, ?, ?, ?, ?)",
            (lot.lot, lot.goods, lot.unit, lot.quantity_milli, lot.location, lot.registered_at_ms),
        )

    def lots(self) -> dict[bytes, LotRecord]:
        rows = self._db.execute("SELECT * FROM lots").fetchall()
        return {bytes(r[0]): LotRecord(bytes(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows}

    def add_device(self, device_id: bytes, lot: bytes, key: str) -> None:
        self._db.execute(
            "INSERT INTO devices (device_id, lot, key) VALUES (?, ?, ?) ON CONFLICT (device_id) DO NOTHING",
            (device_id, lot, key),
        )

    def name_device(self, device_id: bytes, name: str) -> None:
        self._db.execute("UPDATE devices SET name = ? WHERE device_id = ? AND name = ''", (name, device_id))

    def devices(self) -> dict[bytes, tuple[bytes, str, str]]:
        """device id -> (lot, key address, name)."""
        rows = self._db.execute("SELECT device_id, lot, key, name FROM devices").fetchall()
        return {bytes(d): (bytes(lot), key, name) for d, lot, key, name in rows}

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
