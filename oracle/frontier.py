"""How far a node holds a lot's readings completely: per device, the unbroken run of sequence numbers.

A device numbers its readings 1, 2, 3, ... in time order. A node holding every reading of a device
up to sequence number s (no gap) holds every reading of that device up to s's timestamp, and so does
any other node holding the same run. When every device of a lot has such a run reaching time t (the
lot's watermark), the node knows all of the lot's readings before t: a round ending at or before t can
be sealed at once, with the same leaves on every node, however late the readings came in, instead
of a settle delay after the round's end (which under load seals whatever happened to have arrived).

A gap (a reading still in flight, or one the gateway dropped) holds a device's run, so the lot falls
back to the round timer; after a timer-sealed round the node moves the run past that round with
`skip_to`. A device this node has never stored a reading of starts expecting sequence number 1; one
with readings from before this process started is unknown until the next timer seal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

NONE = -1  # no timestamp covered yet


@dataclass
class Run:
    """One device: the next sequence number the run needs, the time it reaches, readings past a gap."""

    next_seq: int
    ts_ms: int = NONE
    ahead: dict[int, int] = field(default_factory=dict)  # seq -> ts_ms

    def advance(self) -> None:
        while self.next_seq in self.ahead:
            self.ts_ms = max(self.ts_ms, self.ahead.pop(self.next_seq))
            self.next_seq += 1


class Frontiers:
    """The runs of every device one node has stored readings of."""

    def __init__(self, devices_with_history: Iterable[bytes] = ()) -> None:
        self._runs: dict[bytes, Run] = {}
        self._unknown = set(devices_with_history)

    def observe(self, device: bytes, seq: int, ts_ms: int) -> None:
        """A reading of `device` was stored."""
        run = self._runs.get(device)
        if run is None:
            if device in self._unknown:
                return
            run = self._runs[device] = Run(next_seq=1)
        if seq == run.next_seq:
            run.ts_ms = max(run.ts_ms, ts_ms)
            run.next_seq += 1
            run.advance()
        elif seq > run.next_seq:
            run.ahead[seq] = ts_ms

    def skip_to(self, device: bytes, seq: int, ts_ms: int) -> None:
        """Every reading of `device` up to `seq` (at `ts_ms`) is settled: continue the run from there."""
        self._unknown.discard(device)
        run = self._runs.get(device)
        if run is None:
            run = self._runs[device] = Run(next_seq=seq + 1, ts_ms=ts_ms)
        elif run.next_seq <= seq:
            run.next_seq = seq + 1
            run.ts_ms = max(run.ts_ms, ts_ms)
            run.ahead = {s: t for s, t in run.ahead.items() if s > seq}
        run.advance()

    def watermark(self, devices: Iterable[bytes]) -> int:
        """The time up to which every one of `devices` has an unbroken run (NONE if one has none)."""
        lowest = None
        for device in devices:
            run = self._runs.get(device)
            if run is None or run.ts_ms == NONE:
                return NONE
            lowest = run.ts_ms if lowest is None else min(lowest, run.ts_ms)
        return NONE if lowest is None else lowest
