"""The node's SQLite database: accepted readings, sealed rounds, what it learnt from the chain.

Readings are committed before their MQTT delivery is acknowledged, so a crash or restart loses
none. A round is sealed once: readings arriving for a sealed round are refused, so the leaves
of every sealed round stay exactly those its report covered. A round with readings that the
chain passed over (a later round of the lot was anchored first) is recorded in `skipped`, with
its reading count and why: those readings can never be proved, and the node says so.
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
CREATE TABLE IF NOT EXISTS skipped (
    lot BLOB NOT NULL,
    round INTEGER NOT NULL,
    readings INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (lot, round)
);
CREATE TABLE IF NOT EXISTS cuts (
    lot BLOB NOT NULL,
    round INTEGER NOT NULL,
    cut_ms INTEGER NOT NULL,
    PRIMARY KEY (lot, round)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredReading:
    """A reading the node accepted and where it belongs; hash and leaf are derived if not given."""

    lot: bytes
    round: int
    reading: Reading
    payload: bytes
    device_id: bytes = b""
    payload_hash: bytes = b""
    leaf: bytes = b""

    def __post_init__(self) -> None:
        if not self.leaf:
            object.__setattr__(self, "device_id", self.reading.device_id)
            object.__setattr__(self, "payload_hash", self.reading.payload_hash)
            object.__setattr__(self, "leaf", self.reading.leaf)


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
        values = [
            (
                row.reading.device,
                row.reading.seq,
                row.device_id,
                row.lot,
                row.round,
                row.reading.ts_ms,
                row.payload,
                row.payload_hash,
                row.leaf,
            )
            for row in rows
        ]
        insert = "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        self._db.execute("BEGIN")
        try:
            if self._db.executemany(insert, values).rowcount == len(values):
                outcomes = ["added"] * len(values)  # the usual case: all new, one statement
            else:
                self._db.execute("ROLLBACK")
                self._db.execute("BEGIN")
                outcomes = [self._add_one(insert, v) for v in values]
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return outcomes

    def _add_one(self, insert: str, value: tuple[object, ...]) -> str:
        if self._db.execute(insert, value).rowcount:
            return "added"
        (existing,) = self._db.execute(
            "SELECT payload_hash FROM readings WHERE device = ? AND seq = ?", value[:2]
        ).fetchone()
        return "duplicate" if existing == value[7] else "conflict"

    def round_leaves(self, lot: bytes, round_: int) -> list[bytes]:
        """The Merkle leaves of the readings of round `round_` of `lot`."""
        rows = self._db.execute("SELECT leaf FROM readings WHERE lot = ? AND round = ?", (lot, round_))
        return [bytes(leaf) for (leaf,) in rows]

    def devices_with_readings(self) -> set[bytes]:
        """Every device this node holds a reading of."""
        return {bytes(d) for (d,) in self._db.execute("SELECT DISTINCT device_id FROM readings")}

    def last_reading_upto(self, lot: bytes, device: bytes, round_: int) -> tuple[int, int] | None:
        """(seq, ts_ms) of the latest reading of `device` in rounds of `lot` up to `round_`."""
        row = self._db.execute(
            "SELECT seq, ts_ms FROM readings WHERE lot = ? AND device_id = ? AND round <= ?"
            " ORDER BY ts_ms DESC, seq DESC LIMIT 1",
            (lot, device, round_),
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def cut(self, lot: bytes, round_: int, cut_ms: int) -> None:
        """End round `round_` of `lot` at `cut_ms`: its later readings move to the next round."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("INSERT OR REPLACE INTO cuts VALUES (?, ?, ?)", (lot, round_, cut_ms))
            self._db.execute(
                "UPDATE readings SET round = ? WHERE lot = ? AND round = ? AND ts_ms > ?",
                (round_ + 1, lot, round_, cut_ms),
            )

    def cuts(self) -> dict[tuple[bytes, int], int]:
        """Every round ended early, with the time it ended at."""
        return {(bytes(lot), r): c for lot, r, c in self._db.execute("SELECT lot, round, cut_ms FROM cuts")}

    def round_readings(
        self, lot: bytes, round_: int, parsed: dict[tuple[str, int], Reading] | None = None
    ) -> list[Reading]:
        """The readings of round `round_` of `lot` in time order; those in `parsed` (by (device, seq),
        taken out of it) are not parsed again."""
        rows = self._db.execute(
            "SELECT device, seq, payload FROM readings WHERE lot = ? AND round = ?"
            " ORDER BY ts_ms, device, seq",
            (lot, round_),
        ).fetchall()
        if parsed is None:
            return [parse(payload) for _, _, payload in rows]
        out = []
        for device, seq, payload in rows:
            reading = parsed.pop((device, seq), None)
            out.append(reading if reading is not None else parse(payload))
        return out

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

    def has_reading(self, device: str, seq: int, payload_hash: bytes) -> bool:
        """Whether this very reading (same device, seq and payload) is stored already."""
        row = self._db.execute(
            "SELECT payload_hash FROM readings WHERE device = ? AND seq = ?", (device, seq)
        ).fetchone()
        return row is not None and bytes(row[0]) == payload_hash

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

    def unanchored_before(self, lot: bytes, round_: int) -> list[tuple[int, int]]:
        """(round, readings) of rounds of `lot` with readings, between the anchor before `round_` and
        `round_`, that have no anchor and are not recorded as skipped: the chain passed them over."""
        (previous,) = self._db.execute(
            "SELECT MAX(round) FROM anchors WHERE lot = ? AND round < ?", (lot, round_)
        ).fetchone()
        rows = self._db.execute(
            "SELECT round, COUNT(*) FROM readings WHERE lot = ? AND round > ? AND round < ?"
            " AND round NOT IN (SELECT round FROM anchors WHERE lot = ?)"
            " AND round NOT IN (SELECT round FROM skipped WHERE lot = ?) GROUP BY round ORDER BY round",
            (lot, -1 if previous is None else previous, round_, lot, lot),
        ).fetchall()
        return [(r, n) for r, n in rows]

    def anchored(self, lot: bytes, round_: int) -> bool:
        """Whether a report of round `round_` of `lot` was accepted on chain."""
        row = self._db.execute("SELECT 1 FROM anchors WHERE lot = ? AND round = ?", (lot, round_)).fetchone()
        return row is not None

    def add_skipped(self, lot: bytes, round_: int, readings: int, reason: str) -> bool:
        """Record that round `round_` of `lot` will never be anchored; False if it was recorded already."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO skipped VALUES (?, ?, ?, ?)", (lot, round_, readings, reason)
        )
        return bool(cur.rowcount)

    def skipped(self, lot: bytes, round_: int) -> str | None:
        """Why round `round_` of `lot` was passed over on chain, or None if it was not."""
        row = self._db.execute(
            "SELECT reason FROM skipped WHERE lot = ? AND round = ?", (lot, round_)
        ).fetchone()
        return None if row is None else str(row[0])

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
