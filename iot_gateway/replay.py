"""Which sequence numbers a device may still send: a high-water mark and an anti-replay window.

A plain "seq must exceed the last accepted" rule loses readings whenever MQTT delivery reorders
them, and it does: after a reconnect, paho sends new publications before it resends the ones
queued while offline. So, as IPsec does (RFC 4303, section 3.4.3), the gateway remembers which of
the last `size` sequence numbers below the mark it accepted: a late reading inside the window is
accepted once, anything seen before or older than the window is a replay.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeqWindow:
    """The highest accepted sequence number and a bitmap: bit i set = `high - i` was accepted."""

    high: int
    mask: int = 1

    @classmethod
    def first(cls, seq: int) -> SeqWindow:
        return cls(seq, 1)

    def admit(self, seq: int, size: int) -> SeqWindow | None:
        """The window after accepting `seq`, or None if `seq` is a replay (seen, or too old)."""
        if seq > self.high:
            shift = seq - self.high
            mask = ((self.mask << shift) | 1) & ((1 << size) - 1) if shift < size else 1
            return SeqWindow(seq, mask)
        bit = self.high - seq
        if bit >= size or (self.mask >> bit) & 1:
            return None
        return SeqWindow(self.high, self.mask | (1 << bit))

    def to_bytes(self, size: int) -> bytes:
        return self.mask.to_bytes((size + 7) // 8, "big")

    @classmethod
    def from_row(cls, high: int, mask: bytes) -> SeqWindow:
        return cls(high, int.from_bytes(mask, "big"))
