"""Typed errors for everything that talks to the ledger.

Custom Solidity errors are decoded by selector, across the ABIs of the whole suite (a revert can
bubble up from a called contract), into subclasses of `ContractRevert` named after the error,
grouped by contract family: `except ReceivableError` catches every `Receivable*` revert.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector

from contracts.artifacts import all_abis


class ScfError(Exception):
    """Root of every scfnet error."""

    code = "scf_error"


class ChainError(ScfError):
    """The ledger refused or failed a call."""

    code = "chain_error"


class ChainUnavailable(ChainError):
    """The node could not be reached (after retries)."""

    code = "chain_unavailable"


class NotPermitted(ChainError):
    """The node refused the transaction: its sender is not an active member of the network.

    Raised for the permissioning error of our embedded node (JSON-RPC -32003, `data.sender`) and of
    Besu (-32007); `sender` is None when the node does not say who was refused.
    """

    code = "not_permitted"

    def __init__(self, message: str, sender: str | None = None) -> None:
        super().__init__(message)
        self.sender = sender


class TransactionFailed(ChainError):
    """A transaction was mined but reverted without a decodable reason."""

    code = "transaction_failed"

    def __init__(self, message: str, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class ContractRevert(ChainError):
    """A contract reverted with a custom error; `name` and `args` say which and why."""

    code = "contract_revert"
    error_name = "ContractRevert"

    def __init__(self, args: dict[str, Any], data: str) -> None:
        self.args_by_name = args
        self.data = data
        rendered = ", ".join(f"{k}={v!r}" for k, v in args.items())
        super().__init__(f"{self.error_name}({rendered})")

    @property
    def name(self) -> str:
        return self.error_name


class MemberRegistryError(ContractRevert):
    """A revert of the member registry."""


class ReceivableError(ContractRevert):
    """A revert of the receivables contract."""


class SettlementError(ContractRevert):
    """A revert of the settlement token (ours or OpenZeppelin's ERC-20 errors)."""


class GoodsOracleError(ContractRevert):
    """A revert of the goods oracle."""


class WarehouseError(ContractRevert):
    """A revert of the warehouse receipts."""


class OpenZeppelinError(ContractRevert):
    """A revert raised by an OpenZeppelin building block (ECDSA, SafeERC20, reentrancy guard)."""


_FAMILIES: tuple[tuple[str, type[ContractRevert]], ...] = (
    ("MemberRegistry", MemberRegistryError),
    ("Receivable", ReceivableError),
    ("Settlement", SettlementError),
    ("ERC20", SettlementError),
    ("GoodsOracle", GoodsOracleError),
    ("Warehouse", WarehouseError),
)


def _family(name: str) -> type[ContractRevert]:
    for prefix, family in _FAMILIES:
        if name.startswith(prefix):
            return family
    return OpenZeppelinError


def _canonical_type(param: dict[str, Any]) -> str:
    kind = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


@cache
def _registry() -> dict[bytes, tuple[type[ContractRevert], list[dict[str, Any]]]]:
    by_selector: dict[bytes, tuple[type[ContractRevert], list[dict[str, Any]]]] = {}
    for abi in all_abis().values():
        for item in abi:
            if item.get("type") != "error":
                continue
            types = ",".join(_canonical_type(p) for p in item["inputs"])
            selector = function_signature_to_4byte_selector(f"{item['name']}({types})")
            if selector in by_selector:
                continue
            cls = type(item["name"], (_family(item["name"]),), {"error_name": item["name"]})
            by_selector[selector] = (cls, item["inputs"])
    return by_selector


def error_class(name: str) -> type[ContractRevert]:
    """Return the exception class for custom error `name` (KeyError if the suite has none)."""
    for cls, _ in _registry().values():
        if cls.error_name == name:
            return cls
    raise KeyError(name)


def decode_revert(data: str | bytes | None) -> ContractRevert | None:
    """Decode revert `data` into a typed exception, or None if it is not a known custom error."""
    if data is None:
        return None
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else data
    if len(raw) < 4:
        return None
    entry = _registry().get(raw[:4])
    if entry is None:
        return None
    cls, inputs = entry
    try:
        values = abi_decode([_canonical_type(p) for p in inputs], raw[4:])
    except Exception:  # noqa: BLE001 - malformed data is simply not this error
        return None
    args = {p["name"] or f"arg{i}": v for i, (p, v) in enumerate(zip(inputs, values, strict=True))}
    return cls(args, "0x" + raw.hex())
