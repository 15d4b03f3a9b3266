"""Per-member request rate limit: a token bucket refilled continuously.

`RateLimiter` keeps the buckets in the process. When several request processes serve one API
(`scf api --processes N`), each would grant the whole rate: `SharedRateLimiter` keeps the buckets
in one memory-mapped file that every process on the machine updates under a file lock, so a
member gets the configured rate in total, whichever process its requests land on.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
import time
from pathlib import Path


class RateLimiter:
    """Allows `per_minute` requests a minute per key, with bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: int) -> float:
        """0 if the request may go ahead, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self._capacity, now))
            tokens, wait_s = _take(tokens, stamp, now, self._rate, self._capacity)
            self._buckets[key] = (tokens, now)
            return wait_s


def _take(tokens: float, stamp: float, now: float, rate: float, capacity: float) -> tuple[float, float]:
    """Refill the bucket to `now` and take one token: (tokens left, 0), or (tokens, seconds to wait)."""
    tokens = min(capacity, tokens + max(0.0, now - stamp) * rate)
    if tokens < 1:
        return tokens, (1 - tokens) / rate
    return tokens - 1, 0.0


# One slot: member key (int64, 0 = free), tokens (float64), stamp (float64, CLOCK_MONOTONIC, which
# is one clock for every process of the machine).
_SLOT = struct.Struct("<qdd")
_PROBE = 32


class SharedRateLimiter:
    """`RateLimiter` over a file shared by the processes of one machine (open-addressed slots)."""

    def __init__(self, per_minute: int, path: Path, *, slots: int = 65_536) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._slots = slots
        size = slots * _SLOT.size
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size != size:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    if os.fstat(fd).st_size != size:
                        os.ftruncate(fd, size)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            self._map = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._lock = threading.Lock()  # flock is per open file: threads of this process queue here

    @staticmethod
    def reset(path: Path) -> None:
        """Empty the buckets (at the start of the processes that share them)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb"):
            pass
        os.chmod(path, 0o600)

    def allow(self, key: int) -> float:
        """0 if the request may go ahead, else the seconds to wait."""
        member = key + 1  # 0 marks a free slot
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                now = time.monotonic()
                offset = self._slot(member, now)
                owner, tokens, stamp = _SLOT.unpack_from(self._map, offset)
                if owner != member or stamp > now:  # a new bucket (or one from before a reboot)
                    tokens, stamp = self._capacity, now
                tokens, wait_s = _take(tokens, stamp, now, self._rate, self._capacity)
                _SLOT.pack_into(self._map, offset, member, tokens, now)
                return wait_s
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _slot(self, member: int, now: float) -> int:
        """The slot of `member`: its own, else a free one, else the one idle longest (whose bucket,
        idle a minute or more, is full anyway) in its probe window."""
        start = (member * 0x9E3779B97F4A7C15) % self._slots
        oldest, oldest_stamp = 0, float("inf")
        for i in range(_PROBE):
            offset = ((start + i) % self._slots) * _SLOT.size
            owner, _, stamp = _SLOT.unpack_from(self._map, offset)
            if owner in (member, 0):
                return offset
            if stamp < oldest_stamp:
                oldest, oldest_stamp = offset, stamp
        return oldest

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)
