"""py-evm chain and VM classes of the node, genesis construction and dev accounts."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from eth.abc import BlockHeaderAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.constants import BLANK_ROOT_HASH, ZERO_ADDRESS, ZERO_HASH32
from eth.vm.base import VM
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.state import CancunState, CancunTransactionExecutor
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.state import PragueState, PragueTransactionExecutor
from eth_account import Account

# Set on a transaction object once the pool has recovered its sender and checked its
# fields; block building then skips py-evm's second recovery + verify of the signature.
PRECHECKED = "_scf_prechecked"


class _PrecheckedExecutorMixin:
    vm_state: Any

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        if getattr(transaction, PRECHECKED, False):
            self.vm_state.validate_transaction(transaction)
        else:
            super().validate_transaction(transaction)  # type: ignore[misc]


class NodeCancunExecutor(_PrecheckedExecutorMixin, CancunTransactionExecutor):
    pass


class NodePragueExecutor(_PrecheckedExecutorMixin, PragueTransactionExecutor):
    pass


class NodeCancunState(CancunState):
    transaction_executor_class = NodeCancunExecutor


class NodePragueState(PragueState):
    transaction_executor_class = NodePragueExecutor


class NodeCancunVM(CancunVM):
    _state_class = NodeCancunState


class NodePragueVM(PragueVM):
    _state_class = NodePragueState


_VMS: dict[str, type[VM]] = {"cancun": NodeCancunVM, "prague": NodePragueVM}


class _NodeChainBase(MiningChain):
    def create_header_from_parent(
        self, parent_header: BlockHeaderAPI, **header_params: Any
    ) -> BlockHeaderAPI:
        # A permissioned network keeps its configured gas limit instead of voting on it.
        header_params.setdefault("gas_limit", parent_header.gas_limit)
        return super().create_header_from_parent(parent_header, **header_params)


def make_chain_class(chain_id: int, hardfork: str) -> type[MiningChain]:
    """Return a chain class running one fork from genesis with the given chain id."""
    vm_class = _VMS[hardfork]
    return type(
        "ScfNodeChain",
        (_NodeChainBase,),
        {"chain_id": chain_id, "vm_configuration": ((0, vm_class),)},
    )


def genesis_params(gas_limit: int, timestamp: int | None = None) -> dict[str, Any]:
    """Return post-merge genesis header fields."""
    return {
        "coinbase": ZERO_ADDRESS,
        "difficulty": 0,
        "extra_data": b"scfnet",
        "gas_limit": gas_limit,
        "mix_hash": ZERO_HASH32,
        "nonce": b"\x00" * 8,
        "receipt_root": BLANK_ROOT_HASH,
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "transaction_root": BLANK_ROOT_HASH,
    }


def genesis_state(balances: Iterable[tuple[bytes, int]]) -> dict[bytes, dict[str, Any]]:
    """Return a genesis allocation funding the given addresses."""
    return {
        address: {"balance": balance, "nonce": 0, "code": b"", "storage": {}} for address, balance in balances
    }


def dev_private_keys(mnemonic: str, count: int) -> list[bytes]:
    """Derive the dev accounts of a mnemonic (BIP-44 m/44'/60'/0'/0/i, as anvil does)."""
    Account.enable_unaudited_hdwallet_features()
    return [
        bytes(Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}").key) for i in range(count)
    ]
