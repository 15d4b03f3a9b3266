"""Proofs of single sensor readings: asked of the oracle nodes, believed only once the chain agrees.

An oracle node serves `GET {base}/proofs/{device}/{seq}` (oracle/http.py): the reading as published,
its round, the round's root and the Merkle path. Nothing in that answer is taken on trust: the
chain's GoodsOracle checks the path against the root it anchored for the round (`verifyReading`),
and the reading itself must hash to the proven payload hash and carry the signature of the key the
chain binds to the device. Nodes are asked in order; the first proof that verifies is the answer.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from api.services.audit import ChainAuditor
from api.services.errors import Conflict, NotFound, Unavailable
from chain.merkle import reading_leaf
from chain.readings import InvalidReading, parse
from chain.readings import device_id as device_id_of

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
MAX_PROOF_LENGTH = 64  # a tree of 2^64 readings: more siblings than any round can need
_WORD = re.compile(r"0x[0-9a-fA-F]{64}")
ZERO_WORD = "0x" + "00" * 32


@dataclass(frozen=True)
class Claim:
    """What one oracle node says proves the reading."""

    source: str
    lot_id: str
    round: int
    root: str
    proof: list[str]
    device_id: str
    seq: int
    payload_hash: str
    reading: str


@dataclass(frozen=True)
class Verdict:
    """A claim checked against the chain; `code` says why it is not verified."""

    claim: Claim
    anchored_root: str
    leaf: str
    reading: dict[str, Any] | None
    verified: bool
    code: str | None = None
    message: str | None = None


@dataclass
class Asked:
    """What the nodes answered: proofs, and why the others gave none."""

    claims: list[Claim] = field(default_factory=list)
    refusals: list[dict[str, str]] = field(default_factory=list)


def _claim(source: str, body: Any) -> Claim:
    """A node's JSON answer as a claim (ValueError if it is not a well-formed proof)."""
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    words = {k: body.get(k) for k in ("lot_id", "root", "device_id", "payload_hash")}
    for name, value in words.items():
        if not isinstance(value, str) or not _WORD.fullmatch(value):
            raise ValueError(f"{name} is not 32 bytes of hex")
    proof, round_, seq, reading = body.get("proof"), body.get("round"), body.get("seq"), body.get("reading")
    if not isinstance(proof, list) or len(proof) > MAX_PROOF_LENGTH:
        raise ValueError("proof is not a list of at most 64 hashes")
    if not all(isinstance(p, str) and _WORD.fullmatch(p) for p in proof):
        raise ValueError("proof holds something other than 32-byte hashes")
    for name, value in (("round", round_), ("seq", seq)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
            raise ValueError(f"{name} is not a uint64")
    if not isinstance(reading, str):
        raise ValueError("reading is not the published payload")
    return Claim(
        source=source,
        lot_id=str(words["lot_id"]).lower(),
        round=round_,  # type: ignore[arg-type]
        root=str(words["root"]).lower(),
        proof=[p.lower() for p in proof],
        device_id=str(words["device_id"]).lower(),
        seq=seq,  # type: ignore[arg-type]
        payload_hash=str(words["payload_hash"]).lower(),
        reading=reading,
    )


def ask(urls: Sequence[str], device: str, seq: int, *, timeout_s: float) -> Asked:
    """Ask every configured node for the proof of (`device`, `seq`)."""
    asked = Asked()
    http = requests.Session()
    http.trust_env = False  # oracle nodes are the network's own services: no proxy in between
    try:
        for base in urls:
            url = f"{base.rstrip('/')}/proofs/{quote(device, safe='')}/{seq}"
            try:
                with http.get(url, timeout=timeout_s, allow_redirects=False, stream=True) as response:
                    raw = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
                    status = response.status_code
            except requests.RequestException as exc:
                logger.info("proof source %s unreachable: %s", base, type(exc).__name__)
                asked.refusals.append({"source": base, "reason": "unreachable"})
                continue
            try:
                if len(raw) > MAX_RESPONSE_BYTES:
                    raise ValueError("answer too large")
                body = json.loads(raw)
            except ValueError:
                asked.refusals.append({"source": base, "reason": "malformed_answer"})
                continue
            if status != 200:
                reason = body.get("code") if isinstance(body, dict) else None
                asked.refusals.append({"source": base, "reason": str(reason or f"http_{status}")[:64]})
                continue
            try:
                asked.claims.append(_claim(base, body))
            except ValueError as exc:
                asked.refusals.append({"source": base, "reason": "malformed_proof", "problem": str(exc)})
    finally:
        http.close()
    return asked


def check(auditor: ChainAuditor, claim: Claim, *, lot_id: str, device: str, seq: int, key: str) -> Verdict:
    """Check `claim` for reading (`device`, `seq`) of `lot_id` against the chain and the device's key."""
    device_id = "0x" + device_id_of(device).hex()
    leaf = "0x" + reading_leaf(bytes.fromhex(device_id[2:]), seq, bytes.fromhex(claim.payload_hash[2:])).hex()
    anchored = auditor.readings_root(lot_id, claim.round)
    # The chain recomputes the leaf from what was asked (not from what the node says it proves).
    on_chain = auditor.verify_reading(
        lot_id=lot_id,
        round_=claim.round,
        device_id=device_id,
        seq=seq,
        payload_hash=claim.payload_hash,
        proof=claim.proof,
    )
    try:
        shown = json.loads(claim.reading)
    except ValueError:
        shown = None
    reading: dict[str, Any] | None = shown if isinstance(shown, dict) else None
    problem: tuple[str, str] | None = None
    try:
        published = parse(claim.reading.encode())
        if published.device != device or published.seq != seq:
            problem = ("reading_mismatch", "the published reading is another device's or sequence number's")
        elif "0x" + published.payload_hash.hex() != claim.payload_hash:
            problem = ("reading_mismatch", "the published reading does not hash to the proven payload hash")
        elif published.signer().lower() != key.lower():
            problem = (
                "reading_signature_invalid",
                "the reading is not signed by the key bound to the device",
            )
    except InvalidReading as exc:
        problem = ("reading_malformed", f"the published reading is not a valid signed reading: {exc}")
    if (claim.lot_id, claim.device_id, claim.seq) != (lot_id, device_id, seq):
        problem = ("proof_for_other_reading", "the node answered with the proof of another reading")
    elif anchored == ZERO_WORD:
        problem = ("root_not_anchored", f"the chain has no readings root for round {claim.round} of the lot")
    elif not on_chain:
        problem = ("proof_rejected", "the chain rejects the proof against the root it anchored")
    code, message = problem if problem else (None, None)
    return Verdict(claim, anchored, leaf, reading, verified=problem is None, code=code, message=message)


def prove(
    auditor: ChainAuditor,
    urls: Sequence[str],
    *,
    lot_id: str,
    device: str,
    seq: int,
    timeout_s: float,
) -> Verdict:
    """The first proof from the nodes that the chain verifies, else the first one it does not."""
    if not urls:
        raise Unavailable("proof_sources_unconfigured", "no oracle proof endpoints are configured")
    bound_lot, key = auditor.device_key("0x" + device_id_of(device).hex())
    if bound_lot != lot_id:
        raise NotFound("device_not_on_lot", f"the chain binds no device {device} to lot {lot_id}")
    asked = ask(urls, device, seq, timeout_s=timeout_s)
    verdicts = []
    for claim in asked.claims:
        verdict = check(auditor, claim, lot_id=lot_id, device=device, seq=seq, key=key)
        if verdict.verified:
            return verdict
        verdicts.append(verdict)
    if verdicts:
        return verdicts[0]
    reasons = {r["reason"] for r in asked.refusals}
    if "skipped" in reasons:
        raise Conflict(
            "reading_round_skipped",
            "the chain passed the reading's round over (a later round was anchored first): "
            "it can never be proved",
            sources=asked.refusals,
        )
    if "not_anchored" in reasons:
        raise Conflict(
            "reading_not_anchored",
            "the reading's round has no root on chain yet; try again after the next report",
            sources=asked.refusals,
        )
    if reasons & {"unreachable", "malformed_answer", "malformed_proof"} or any(
        r.startswith("http_5") for r in reasons
    ):
        raise Unavailable(
            "proof_sources_unavailable", "no oracle node could answer for the reading", sources=asked.refusals
        )
    raise NotFound(
        "reading_proof_not_found", f"no oracle node holds a proof of {device}#{seq}", sources=asked.refusals
    )
