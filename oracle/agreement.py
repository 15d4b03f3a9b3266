"""How oracle nodes agree on a round: signed reports exchanged over MQTT, collected per digest.

Each node publishes its EIP-712 signature of the report it computed on `oracle/{lotIdHex}/{round}`.
Signatures count only towards the identical report (same digest), so a node that missed readings
simply does not help that digest. The round's leader (round % n) submits as soon as a digest has
f+1 signatures; node i takes over `takeover_s * ((i - round) % n)` after quorum was reached.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account

from chain.typed_data import OracleReport, digest, report_message

TOPIC_PREFIX = "oracle"
VERSION = 1


class BadSignatureMessage(ValueError):
    """A message on the oracle topics that is not a valid signature of a registered signer."""


def topic(lot: bytes, round_: int) -> str:
    return f"{TOPIC_PREFIX}/0x{lot.hex()}/{round_}"


def encode(report: OracleReport, signer: str, signature: bytes, node_index: int) -> bytes:
    """The wire form of one node's signature on `report`."""
    body = {
        "v": VERSION,
        "node": node_index,
        "signer": signer,
        "sig": "0x" + signature.hex(),
        "report": {
            "lot": "0x" + report.lot_id.hex(),
            "round": report.round,
            "status": report.status,
            "root": "0x" + report.readings_root.hex(),
            "count": report.reading_count,
            "observed_at": report.observed_at,
        },
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class SignedReport:
    report: OracleReport
    digest: bytes
    signer: str
    signature: bytes


def decode(payload: bytes, *, chain_id: int, oracle: str, signers: set[str]) -> SignedReport:
    """Parse and check a signature message: the signer recovers and is a registered signer."""
    try:
        body: Any = json.loads(payload)
        r = body["report"]
        report = OracleReport(
            lot_id=_bytes32(r["lot"]),
            round=_uint(r["round"], 64),
            status=_uint(r["status"], 8),
            readings_root=_bytes32(r["root"]),
            reading_count=_uint(r["count"], 32),
            observed_at=_uint(r["observed_at"], 40),
        )
        signature = bytes.fromhex(str(body["sig"]).removeprefix("0x"))
        claimed = str(body["signer"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadSignatureMessage(f"malformed signature message: {exc}") from exc
    report_digest = digest(report_message(chain_id=chain_id, oracle=oracle, report=report))
    try:
        signer = Account._recover_hash(report_digest, signature=signature)
    except Exception as exc:  # noqa: BLE001 - any malformed signature is a bad one
        raise BadSignatureMessage("signature does not recover") from exc
    if signer.lower() != claimed.lower() or signer.lower() not in signers:
        raise BadSignatureMessage(f"{signer} is not the claimed signer or not registered")
    return SignedReport(report, report_digest, signer, signature)


def _bytes32(value: Any) -> bytes:
    raw = bytes.fromhex(str(value).removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError("not 32 bytes")
    return raw


def _uint(value: Any, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**bits:
        raise ValueError(f"not a uint{bits}")
    return value


@dataclass
class Candidate:
    """Signatures gathered for one digest of one round."""

    report: OracleReport
    signatures: dict[str, bytes] = field(default_factory=dict)  # signer address -> signature
    quorum_at: float | None = None
    seen_at: float = 0.0  # when the first signature of this digest arrived


class SignatureBook:
    """Signatures per (lot, round) per digest, in memory (a restarted node re-collects them)."""

    def __init__(self) -> None:
        self._rounds: dict[tuple[bytes, int], dict[bytes, Candidate]] = {}

    def add(self, signed: SignedReport, *, quorum: int, now: float) -> Candidate:
        key = (signed.report.lot_id, signed.report.round)
        candidate = self._rounds.setdefault(key, {}).setdefault(
            signed.digest, Candidate(signed.report, seen_at=now)
        )
        candidate.signatures[signed.signer] = signed.signature
        if candidate.quorum_at is None and len(candidate.signatures) >= quorum:
            candidate.quorum_at = now
        return candidate

    def ready(self, lot: bytes, round_: int, quorum: int, prefer: bytes | None) -> Candidate | None:
        """A candidate with quorum, the node's own digest first."""
        candidates = self._rounds.get((lot, round_), {})
        if prefer is not None and prefer in candidates and len(candidates[prefer].signatures) >= quorum:
            return candidates[prefer]
        for candidate in candidates.values():
            if len(candidate.signatures) >= quorum:
                return candidate
        return None

    def keys(self) -> list[tuple[bytes, int]]:
        """Every (lot, round) with at least one signature."""
        return list(self._rounds)

    def rounds(self, lot: bytes) -> dict[int, list[Candidate]]:
        """The candidates of every round of `lot` in the book."""
        return {r: list(c.values()) for (lt, r), c in self._rounds.items() if lt == lot}

    def forget(self, lot: bytes, round_: int) -> None:
        self._rounds.pop((lot, round_), None)

    def forget_upto(self, lot: bytes, round_: int) -> None:
        for key in [k for k in self._rounds if k[0] == lot and k[1] <= round_]:
            del self._rounds[key]


def ordered_signatures(candidate: Candidate, quorum: int) -> list[bytes]:
    """`quorum` signatures in ascending signer order, as the contract requires."""
    signers = sorted(candidate.signatures, key=lambda a: int(a, 16))[:quorum]
    return [candidate.signatures[s] for s in signers]


def submit_delay(node_index: int, round_: int, nodes: int, takeover_s: float) -> float:
    """How long after quorum node `node_index` waits before submitting round `round_` itself."""
    return takeover_s * ((node_index - round_) % max(nodes, 1))
