"""EIP-712 messages the contracts accept: debtor confirmations and oracle reports.

Each is bound to the chain id and the verifying contract (the domain), so a signature is good on
one deployment of one chain only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_account.signers.local import LocalAccount

_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _domain(name: str, chain_id: int, contract: str) -> dict[str, Any]:
    return {"name": name, "version": "1", "chainId": chain_id, "verifyingContract": contract}


def confirmation_message(
    *,
    chain_id: int,
    receivables: str,
    receivable_id: int,
    amount_minor: int,
    due_at: int,
    nonce: int,
    deadline: int,
) -> dict[str, Any]:
    """The typed data a debtor signs to confirm receivable `receivable_id`."""
    return {
        "types": {
            "EIP712Domain": _DOMAIN_TYPE,
            "Confirmation": [
                {"name": "id", "type": "uint256"},
                {"name": "amountMinor", "type": "uint96"},
                {"name": "dueAt", "type": "uint40"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Confirmation",
        "domain": _domain("scfnet Receivables", chain_id, receivables),
        "message": {
            "id": receivable_id,
            "amountMinor": amount_minor,
            "dueAt": due_at,
            "nonce": nonce,
            "deadline": deadline,
        },
    }


@dataclass(frozen=True)
class OracleReport:
    """One round's verdict on one lot, as oracle nodes sign it."""

    lot_id: bytes
    round: int
    status: int
    readings_root: bytes
    reading_count: int
    observed_at: int

    def as_tuple(self) -> tuple[bytes, int, int, bytes, int, int]:
        """The ABI tuple `GoodsOracle.submitReport` takes."""
        return (
            self.lot_id,
            self.round,
            self.status,
            self.readings_root,
            self.reading_count,
            self.observed_at,
        )


def report_message(*, chain_id: int, oracle: str, report: OracleReport) -> dict[str, Any]:
    """The typed data an oracle signer signs for `report`."""
    return {
        "types": {
            "EIP712Domain": _DOMAIN_TYPE,
            "Report": [
                {"name": "lotId", "type": "bytes32"},
                {"name": "round", "type": "uint64"},
                {"name": "status", "type": "uint8"},
                {"name": "readingsRoot", "type": "bytes32"},
                {"name": "readingCount", "type": "uint32"},
                {"name": "observedAt", "type": "uint40"},
            ],
        },
        "primaryType": "Report",
        "domain": _domain("scfnet GoodsOracle", chain_id, oracle),
        "message": {
            "lotId": report.lot_id,
            "round": report.round,
            "status": report.status,
            "readingsRoot": report.readings_root,
            "readingCount": report.reading_count,
            "observedAt": report.observed_at,
        },
    }


def sign(account: LocalAccount, message: dict[str, Any]) -> bytes:
    """Sign EIP-712 `message` with `account`; 65-byte r||s||v."""
    return bytes(account.sign_message(encode_typed_data(full_message=message)).signature)


def digest(message: dict[str, Any]) -> bytes:
    """The EIP-712 digest of `message` (what the contract's `*Digest` view returns)."""
    return bytes(_hash_eip191_message(encode_typed_data(full_message=message)))


def sign_report(
    signers: list[LocalAccount], *, chain_id: int, oracle: str, report: OracleReport
) -> list[bytes]:
    """Signatures of `signers` on `report`, ordered by signer address as the contract requires."""
    message = report_message(chain_id=chain_id, oracle=oracle, report=report)
    ordered = sorted(signers, key=lambda a: int(a.address, 16))
    return [sign(a, message) for a in ordered]
