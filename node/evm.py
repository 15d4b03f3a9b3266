"""py-evm chain and VM classes of the node, genesis construction and dev accounts."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from eth.abc import BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.constants import BLANK_ROOT_HASH, ZERO_ADDRESS, ZERO_HASH32
from eth.db.account import AccountDB
from eth.rlp.accounts import Account as AccountRecord
from eth.validation import validate_canonical_address, validate_uint64, validate_uint256
from eth.vm.base import VM
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.state import CancunState, CancunTransactionExecutor
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState, PragueTransactionExecutor
from eth_account import Account
from eth_typing import Address
from eth_utils.logging import get_extended_debug_logger

from chain.keccak import use_native_keccak  # noqa: F401 - node.chain switches eth-hash through here
from node.interpreter import node_computation
from node.trie import encode_account

logger = logging.getLogger(__name__)

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


class NodeAccountDB(AccountDB):
    """py-evm's account store, writing accounts without pyrlp's generic copy and serializer.

    Every transaction sets its sender's nonce and balance, refunds it and pays the coinbase:
    `Account.copy` plus `rlp.encode` cost ~20 us each time, a constructor call and
    `encode_account` ~4 us (same values, same bytes: tested).
    """

    def set_balance(self, address: Address, balance: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint256(balance, title="Account Balance")
        old = self._get_account(address)
        self._set_account(address, AccountRecord(old.nonce, balance, old.storage_root, old.code_hash))

    def set_nonce(self, address: Address, nonce: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint64(nonce, title="Nonce")
        old = self._get_account(address)
        self._set_account(address, AccountRecord(nonce, old.balance, old.storage_root, old.code_hash))

    def _set_account(self, address: Address, account: AccountRecord) -> None:
        self._account_cache[address] = account
        self._journaltrie[address] = encode_account(account)


class NodeCancunState(CancunState):
    account_db_class = NodeAccountDB
    computation_class = node_computation(CancunComputation)
    transaction_executor_class = NodeCancunExecutor
    # py-evm's `logger` property looks the logger up by name on every access (~4 per tx).
    logger = get_extended_debug_logger("eth.vm.state.NodeCancunState")


class NodePragueState(PragueState):
    account_db_class = NodeAccountDB
    computation_class = node_computation(PragueComputation)
    transaction_executor_class = NodePragueExecutor
    logger = get_extended_debug_logger("eth.vm.state.NodePragueState")


class _SelfMadeReceiptsMixin:
    @classmethod
    def validate_receipt(cls, receipt: ReceiptAPI) -> None:
        # The node only ever applies transactions to build its own blocks (it imports none),
        # so each receipt checked here was made from its computation one line earlier:
        # re-deriving its bloom (a keccak per log address and topic) proves nothing.
        return None


class NodeCancunVM(_SelfMadeReceiptsMixin, CancunVM):
    _state_class = NodeCancunState


class NodePragueVM(_SelfMadeReceiptsMixin, PragueVM):
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
